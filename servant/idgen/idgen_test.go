package idgen

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faed/faed/scripts/testserver"
)

// fakeClock is the generator's ms clock over a testserver.Clock: it only
// moves when a test sets it or when the generator sleeps (each sleep
// advances it by 1 ms).
type fakeClock struct {
	*testserver.Clock
	sleeps atomic.Int64
}

func (c *fakeClock) now() int64 { return c.Now().UnixMilli() }

func (c *fakeClock) sleep(time.Duration) {
	c.sleeps.Add(1)
	c.Advance(time.Millisecond)
}

// setMs sets the clock to ms, in Unix ms.
func (c *fakeClock) setMs(ms int64) { c.Set(time.UnixMilli(ms)) }

func newFake(t *testing.T, cfg Config, startMs int64) (*Generator, *fakeClock) {
	t.Helper()
	c := &fakeClock{Clock: testserver.NewClock()}
	c.setMs(startMs)
	g, err := newWithClock(cfg, c.now, c.sleep)
	if err != nil {
		t.Fatal(err)
	}
	return g, c
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"defaults", func(*Config) {}, ""},
		{"worker 31", func(c *Config) { c.WorkerID = 31 }, ""},
		{"worker negative", func(c *Config) { c.WorkerID = -1 }, "worker_id: must be between 0 and 31, got -1"},
		{"worker 32", func(c *Config) { c.WorkerID = 32 }, "worker_id: must be between 0 and 31, got 32"},
		{"no backwards wait", func(c *Config) { c.MaxClockBackwards = 0 }, ""},
		{"negative backwards", func(c *Config) { c.MaxClockBackwards = -time.Millisecond },
			"max_clock_backwards: must be between 0 and 1s, got -1ms"},
		{"backwards too long", func(c *Config) { c.MaxClockBackwards = 2 * time.Second },
			"max_clock_backwards: must be between 0 and 1s, got 2s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.mutate(&cfg)
			err := cfg.Validate()
			if got := errString(err); got != tt.wantErr {
				t.Fatalf("Validate() = %q, want %q", got, tt.wantErr)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestNewRejectsBadConfig(t *testing.T) {
	if _, err := New(Config{WorkerID: 99}); err == nil {
		t.Fatal("New accepted worker_id 99")
	}
}

func TestLayout(t *testing.T) {
	tests := []struct {
		name   string
		ms     int64
		worker int
		tag    int16
		want   int64
	}{
		{"all zero", Epoch, 0, 0, 0},
		{"one of each", Epoch + 1, 1, 1, 1<<22 | 1<<17 | 1<<12},
		{"max tag and worker", Epoch + 5, 31, 31, 5<<22 | 31<<17 | 31<<12},
		{"tag only", Epoch, 0, 7, 7 << 17},
		{"2024-01-01", 1704067200000, 3, 2, (1704067200000-Epoch)<<22 | 2<<17 | 3<<12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.WorkerID = tt.worker
			g, _ := newFake(t, cfg, tt.ms)
			id, err := g.Next(tt.tag)
			if err != nil || id != tt.want {
				t.Fatalf("Next = %d, %v; want %d", id, err, tt.want)
			}
			want := Parts{UnixMs: tt.ms, Tag: int64(tt.tag), WorkerID: int64(tt.worker)}
			if got := Decode(id); got != want {
				t.Fatalf("Decode = %+v, want %+v", got, want)
			}
		})
	}
}

func TestRoundTripRealClock(t *testing.T) {
	g, err := New(Config{WorkerID: 17, MaxClockBackwards: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().UnixMilli()
	id, err := g.Next(9)
	if err != nil {
		t.Fatal(err)
	}
	p := Decode(id)
	after := time.Now().UnixMilli()
	if p.UnixMs < before || p.UnixMs > after || p.Tag != 9 || p.WorkerID != 17 || p.Seq != 0 {
		t.Fatalf("Decode = %+v, want ms in [%d,%d], tag 9, worker 17, seq 0", p, before, after)
	}
	if id < 0 {
		t.Fatalf("id %d is negative: the top bit must stay clear", id)
	}
}

func TestBadTag(t *testing.T) {
	tests := []struct {
		name string
		tag  int16
		ok   bool
	}{
		{"negative", -1, false},
		{"min int16", -32768, false},
		{"32", 32, false},
		{"max int16", 32767, false},
		{"zero", 0, true},
		{"31", 31, true},
	}
	g, _ := newFake(t, DefaultConfig(), Epoch+1000)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := g.Next(tt.tag)
			if tt.ok != (err == nil) {
				t.Fatalf("Next(%d) error = %v, want ok=%v", tt.tag, err, tt.ok)
			}
			if !tt.ok && !errors.Is(err, ErrBadTag) {
				t.Fatalf("Next(%d) error = %v, want ErrBadTag", tt.tag, err)
			}
		})
	}
}

func TestSequenceExhaustionWaitsForNextMs(t *testing.T) {
	const start = Epoch + 1_000
	g, c := newFake(t, DefaultConfig(), start)
	var last int64 = -1
	for i := 0; i <= maxSeq; i++ {
		id := mustNext(t, g, 1)
		if p := Decode(id); p.UnixMs != start || p.Seq != int64(i) {
			t.Fatalf("id %d decodes to %+v, want ms %d seq %d", i, p, start, i)
		}
		last = checkIncreasing(t, last, id)
	}
	if c.sleeps.Load() != 0 {
		t.Fatalf("slept %d times before the sequence ran out", c.sleeps.Load())
	}
	id := mustNext(t, g, 1)
	if p := Decode(id); p.UnixMs != start+1 || p.Seq != 0 {
		t.Fatalf("after exhaustion got %+v, want ms %d seq 0", p, start+1)
	}
	checkIncreasing(t, last, id)
	if c.sleeps.Load() != 1 {
		t.Fatalf("slept %d times, want 1", c.sleeps.Load())
	}
}

func TestClockBackwards(t *testing.T) {
	tests := []struct {
		name       string
		step       int64 // ms the clock goes back after the first id
		maxBack    time.Duration
		wantErr    bool
		wantSleeps int64
	}{
		{"same ms", 0, 5 * time.Millisecond, false, 0},
		{"1ms waited out", 1, 5 * time.Millisecond, false, 1},
		{"at the bound", 5, 5 * time.Millisecond, false, 5},
		{"just past the bound", 6, 5 * time.Millisecond, true, 0},
		{"large step", 60_000, 5 * time.Millisecond, true, 0},
		{"no waiting allowed", 1, 0, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const start = Epoch + 10_000_000
			g, c := newFake(t, Config{MaxClockBackwards: tt.maxBack}, start)
			first := mustNext(t, g, 3)
			c.setMs(start - tt.step)
			id, err := g.Next(3)
			if tt.wantErr != (err != nil) || (err != nil && !errors.Is(err, ErrClockBackwards)) {
				t.Fatalf("Next error = %v, want ErrClockBackwards=%v", err, tt.wantErr)
			}
			if err == nil && id <= first {
				t.Fatalf("id %d not above earlier id %d", id, first)
			}
			if got := c.sleeps.Load(); got != tt.wantSleeps {
				t.Fatalf("slept %d times, want %d", got, tt.wantSleeps)
			}
			c.setMs(start)
			checkIncreasing(t, max(first, id), mustNext(t, g, 3))
		})
	}
}

func TestClockOutsideRange(t *testing.T) {
	tests := []struct {
		name string
		ms   int64
	}{
		{"before epoch", Epoch - 1},
		{"unix zero", 0},
		{"past 41 bits", Epoch + maxTime + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _ := newFake(t, DefaultConfig(), tt.ms)
			if _, err := g.Next(0); !errors.Is(err, ErrClockRange) {
				t.Fatalf("Next error = %v, want ErrClockRange", err)
			}
		})
	}
}

func TestConcurrentUniqueAndMonotonic(t *testing.T) {
	const workers, perWorker = 8, 25_000
	g, err := New(Config{WorkerID: 5, MaxClockBackwards: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	results := make([][]int64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { results[w] = issue(t, g, perWorker) })
	}
	wg.Wait()
	all := slices.Concat(results...)
	if len(all) != workers*perWorker {
		t.Fatalf("got %d ids, want %d", len(all), workers*perWorker)
	}
	slices.Sort(all)
	for i := 1; i < len(all); i++ {
		if all[i] == all[i-1] {
			t.Fatalf("duplicate id %d", all[i])
		}
	}
}

// issue takes n ids and checks that each is above the one before it.
func issue(t *testing.T, g *Generator, n int) []int64 {
	ids := make([]int64, 0, n)
	var last int64 = -1
	for range n {
		id, err := g.Next(4)
		if err != nil {
			t.Error(err)
			return ids
		}
		if id <= last {
			t.Errorf("id %d not above previous %d", id, last)
			return ids
		}
		last = id
		ids = append(ids, id)
	}
	return ids
}

func mustNext(t *testing.T, g *Generator, tag int16) int64 {
	t.Helper()
	id, err := g.Next(tag)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func checkIncreasing(t *testing.T, last, id int64) int64 {
	t.Helper()
	if id <= last {
		t.Fatalf("id %d not above previous %d", id, last)
	}
	return id
}

func BenchmarkNext(b *testing.B) {
	g, _ := New(DefaultConfig())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Next(1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNextParallel(b *testing.B) {
	g, _ := New(DefaultConfig())
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := g.Next(1); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	id := int64(1<<22 | 1<<17 | 1<<12 | 7)
	var sink Parts
	b.ReportAllocs()
	for b.Loop() {
		sink = Decode(id)
	}
	_ = sink
}
