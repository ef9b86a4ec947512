package lock

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faed/faed/scripts/testserver"
)

func newFake(t *testing.T, cfg Config) (*Table, *testserver.Clock) {
	t.Helper()
	c := testserver.NewClock()
	tb, err := newWithClock(cfg, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	return tb, c
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"defaults", func(*Config) {}, ""},
		{"zero expiry", func(c *Config) { c.Expiry = 0 }, "expiry: must be at least 1ms, got 0s: a lock whose holder died would be held forever"},
		{"sub-ms expiry", func(c *Config) { c.Expiry = time.Microsecond }, "expiry: must be at least 1ms, got 1µs"},
		{"zero locks", func(c *Config) { c.MaxLocks = 0 }, "max_locks: must be at least 1, got 0: no lock could be taken"},
		{"zero key bytes", func(c *Config) { c.MaxKeyBytes = 0 }, "max_key_bytes: must be at least 1, got 0: no key would fit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.mutate(&cfg)
			got := ""
			if err := cfg.Validate(); err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Fatalf("Validate() = %q, want %q", got, tt.wantErr)
			}
		})
	}
}

func TestKeyValidation(t *testing.T) {
	tb, _ := newFake(t, DefaultConfig())
	tests := []struct {
		name string
		key  string
		want error
	}{
		{"empty", "", ErrEmptyKey},
		{"too long", strings.Repeat("k", 251), ErrKeyTooLong},
		{"longest", strings.Repeat("k", 250), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tb.TryLock(tt.key); !errors.Is(err, tt.want) {
				t.Fatalf("TryLock error = %v, want %v", err, tt.want)
			}
			if err := tb.Unlock(tt.key); !errors.Is(err, tt.want) {
				t.Fatalf("Unlock error = %v, want %v", err, tt.want)
			}
		})
	}
}

// step is one action in a scripted lock test.
type step struct {
	advance time.Duration // move the clock first
	op      string        // "lock" or "unlock"
	key     string
	want    bool // TryLock's answer
}

func TestLockScript(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{"free then held", []step{{0, "lock", "a", true}, {0, "lock", "a", false}}},
		{"keys are independent", []step{{0, "lock", "a", true}, {0, "lock", "b", true}}},
		{"unlock frees", []step{{0, "lock", "a", true}, {0, "unlock", "a", false}, {0, "lock", "a", true}}},
		{"unlock free key", []step{{0, "unlock", "a", false}, {0, "lock", "a", true}}},
		{"held just before expiry", []step{{0, "lock", "a", true}, {10*time.Second - 1, "lock", "a", false}}},
		{"free at expiry", []step{{0, "lock", "a", true}, {10 * time.Second, "lock", "a", true}}},
		{"retaken lock gets a new lease", []step{
			{0, "lock", "a", true}, {10 * time.Second, "lock", "a", true}, {9 * time.Second, "lock", "a", false},
		}},
		{"refusal does not extend", []step{
			{0, "lock", "a", true}, {5 * time.Second, "lock", "a", false}, {5 * time.Second, "lock", "a", true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb, clock := newFake(t, DefaultConfig())
			for i, s := range tt.steps {
				clock.Advance(s.advance)
				runStep(t, tb, i, s)
			}
		})
	}
}

func runStep(t *testing.T, tb *Table, i int, s step) {
	t.Helper()
	if s.op == "unlock" {
		if err := tb.Unlock(s.key); err != nil {
			t.Fatalf("step %d: Unlock(%q): %v", i, s.key, err)
		}
		return
	}
	got, err := tb.TryLock(s.key)
	if err != nil || got != s.want {
		t.Fatalf("step %d: TryLock(%q) = %v, %v; want %v", i, s.key, got, err, s.want)
	}
}

func TestFullNeverEvictsHeldLocks(t *testing.T) {
	tb, clock := newFake(t, Config{Expiry: 10 * time.Second, MaxLocks: 3, MaxKeyBytes: 250})
	mustLock(t, tb, "a", true)
	clock.Advance(5 * time.Second)
	mustLock(t, tb, "b", true)
	mustLock(t, tb, "c", true)
	if _, err := tb.TryLock("d"); !errors.Is(err, ErrFull) {
		t.Fatalf("TryLock(d) on a full table: %v, want ErrFull", err)
	}
	for _, k := range []string{"a", "b", "c"} {
		mustLock(t, tb, k, false) // still held by the first taker
	}
	clock.Advance(5 * time.Second) // only a has expired
	mustLock(t, tb, "d", true)
	if _, err := tb.TryLock("a"); !errors.Is(err, ErrFull) {
		t.Fatalf("TryLock(a) with b, c, d live: %v, want ErrFull", err)
	}
	if err := tb.Unlock("b"); err != nil {
		t.Fatal(err)
	}
	mustLock(t, tb, "a", true)
	st := tb.Stats()
	want := Stats{Held: 3, Acquired: 5, Refused: 3, Expired: 1, Full: 2}
	if st != want {
		t.Fatalf("Stats = %+v, want %+v", st, want)
	}
}

func TestExpiredEntriesAreSwept(t *testing.T) {
	tb, clock := newFake(t, DefaultConfig())
	for i := range 100 {
		mustLock(t, tb, fmt.Sprintf("k%d", i), true)
	}
	clock.Advance(10 * time.Second)
	for i := range 100 / sweepBatch {
		mustLock(t, tb, fmt.Sprintf("new%d", i), true)
	}
	// 12 calls swept 96 of the 100 expired entries and added 12 new ones.
	if st := tb.Stats(); st.Held != 16 || st.Expired != 96 {
		t.Fatalf("Stats = %+v, want 16 held, 96 expired", st)
	}
}

func TestRange(t *testing.T) {
	tb, clock := newFake(t, DefaultConfig())
	start := clock.Now()
	mustLock(t, tb, "old", true)
	clock.Advance(4 * time.Second)
	mustLock(t, tb, "mid", true)
	clock.Advance(4 * time.Second)
	mustLock(t, tb, "new", true)
	clock.Advance(3 * time.Second) // "old" has expired but is not swept yet
	var got []string
	tb.Range(func(k string, exp time.Time) bool {
		got = append(got, fmt.Sprintf("%s@%s", k, exp.Sub(start)))
		return true
	})
	if want := "mid@14s new@18s"; strings.Join(got, " ") != want {
		t.Fatalf("Range = %v, want %s", got, want)
	}
	calls := 0
	tb.Range(func(string, time.Time) bool { calls++; return false })
	if calls != 1 {
		t.Fatalf("Range went on after false: %d calls", calls)
	}
}

func TestConcurrentTryLockOneWinner(t *testing.T) {
	const goroutines, rounds = 64, 20
	tb, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for r := range rounds {
		if wins := race(tb, goroutines); wins != 1 {
			t.Fatalf("round %d: %d goroutines won the lock, want 1", r, wins)
		}
		if err := tb.Unlock("contended"); err != nil {
			t.Fatal(err)
		}
	}
	st := tb.Stats()
	if st.Acquired != rounds || st.Refused != rounds*(goroutines-1) {
		t.Fatalf("Stats = %+v", st)
	}
}

// race starts n goroutines at once on TryLock of one key and counts winners.
func race(tb *Table, n int) int64 {
	var wins atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			if ok, err := tb.TryLock("contended"); err == nil && ok {
				wins.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	return wins.Load()
}

func mustLock(t *testing.T, tb *Table, key string, want bool) {
	t.Helper()
	got, err := tb.TryLock(key)
	if err != nil || got != want {
		t.Fatalf("TryLock(%q) = %v, %v; want %v", key, got, err, want)
	}
}

func BenchmarkLockUnlock(b *testing.B) {
	tb, _ := New(DefaultConfig())
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprintf("order:%d", i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := keys[i&1023]
		if ok, err := tb.TryLock(k); !ok || err != nil {
			b.Fatal(ok, err)
		}
		tb.Unlock(k)
		i++
	}
}

func BenchmarkTryLockHeldParallel(b *testing.B) {
	tb, _ := New(DefaultConfig())
	tb.TryLock("busy")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tb.TryLock("busy")
		}
	})
}
