package pool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/faed/faed/scripts/testserver"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantKey string // "" means valid
	}{
		{name: "defaults", cfg: DefaultConfig()},
		{name: "zero max_open", cfg: Config{}, wantKey: "max_open"},
		{name: "zero is off but for max_open", cfg: Config{MaxOpen: 1}},
		{name: "negative max_idle", cfg: Config{MaxIdle: -1}, wantKey: "max_idle"},
		{name: "negative max_open", cfg: Config{MaxOpen: -1}, wantKey: "max_open"},
		{name: "negative dial_timeout", cfg: Config{DialTimeout: -1}, wantKey: "dial_timeout"},
		{name: "negative idle_timeout", cfg: Config{IdleTimeout: -1}, wantKey: "idle_timeout"},
		{name: "negative heartbeat_interval", cfg: Config{HeartbeatInterval: -1}, wantKey: "heartbeat_interval"},
		{name: "negative wait_timeout", cfg: Config{WaitTimeout: -1}, wantKey: "wait_timeout"},
		{name: "max_idle above max_open", cfg: Config{MaxIdle: 10, MaxOpen: 5}, wantKey: "max_idle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantKey == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantKey) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tt.wantKey)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	f := &fakeBackend{}
	br, _ := NewBreaker("fake:1", BreakerConfig{})
	noDial, noClose := f.funcs(), f.funcs()
	noDial.Dial, noClose.Close = nil, nil
	tests := []struct {
		name string
		cfg  Config
		br   *Breaker
		fn   Funcs[*fakeConn]
		want string
	}{
		{"bad config", Config{MaxOpen: -1}, br, f.funcs(), "max_open"},
		{"nil breaker", DefaultConfig(), nil, f.funcs(), "nil Breaker"},
		{"nil Dial", DefaultConfig(), br, noDial, "Dial"},
		{"nil Close", DefaultConfig(), br, noClose, "Close"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New("fake:1", tt.cfg, tt.br, tt.fn)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// hammer runs n concurrent Get/Put cycles and checks that no more than MaxOpen
// connections were ever open, as counted by open (the backend's own count).
func hammer[C any](t *testing.T, p *Pool[C], n int, use func(C) error, maxOpen func() int64) {
	t.Helper()
	var wg sync.WaitGroup
	var failed atomic.Int32
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			c, err := p.Get(context.Background())
			if err != nil {
				t.Errorf("Get: %v", err)
				failed.Add(1)
				return
			}
			if s := p.Stats(); s.Open > p.cfg.MaxOpen || s.InUse > p.cfg.MaxOpen {
				t.Errorf("stats %+v exceed max_open %d", s, p.cfg.MaxOpen)
			}
			p.Put(c, use(c))
		})
	}
	close(start)
	wg.Wait()
	if got := maxOpen(); got > int64(p.cfg.MaxOpen) || got == 0 {
		t.Fatalf("%d connections open at once, want 1..%d", got, p.cfg.MaxOpen)
	}
	if s := p.Stats(); failed.Load() != 0 || s.Waits == 0 || s.InUse != 0 || s.Open > p.cfg.MaxOpen {
		t.Fatalf("after %d Gets: %d failed, stats %+v; want none failed, some waits, 0 in use", n, failed.Load(), s)
	}
}

func TestMaxOpenIsARealBound(t *testing.T) {
	cfg := Config{MaxOpen: 8, MaxIdle: 2, WaitTimeout: 10 * time.Second}
	t.Run("fake", func(t *testing.T) {
		p, f := newFakePool(t, cfg, BreakerConfig{})
		use := func(*fakeConn) error { time.Sleep(time.Millisecond); return nil }
		hammer(t, p, 200, use, f.maxOpen.Load)
	})
	t.Run("tcp", func(t *testing.T) {
		srv := startServer(t)
		fn, open := countingTCPFuncs(srv.addr)
		p := newPool(t, cfg, BreakerConfig{}, fn)
		hammer(t, p, 200, func(c netConn) error { return call(c, time.Second) }, open.max.Load)
	})
}

func TestWaitTimesOut(t *testing.T) {
	p, _ := newFakePool(t, Config{MaxOpen: 2, MaxIdle: 2, WaitTimeout: 50 * time.Millisecond}, BreakerConfig{})
	a, b := mustGet(t, p), mustGet(t, p)
	start := time.Now()
	_, err := p.Get(context.Background())
	waited := time.Since(start)
	if !errors.Is(err, ErrPoolExhausted) || !strings.Contains(err.Error(), "fake:1") {
		t.Fatalf("Get at max_open = %v, want ErrPoolExhausted naming the server", err)
	}
	s := p.Stats()
	if waited < 50*time.Millisecond || s.Waits != 1 || s.Exhausted != 1 || s.WaitTime < 50*time.Millisecond {
		t.Fatalf("waited %v, stats %+v; want one counted wait of >= 50ms", waited, s)
	}
	if s.Breaker.ConsecutiveFailures != 0 || s.Open != 2 {
		t.Fatalf("stats %+v: an exhausted pool must not charge the breaker or leak a slot", s)
	}
	p.Put(a, nil)
	if c := mustGet(t, p); c != a {
		t.Fatalf("Get after Put returned conn %d, want the idle conn %d", c.id, a.id)
	}
	p.Put(b, nil)
}

func TestWaiterIsHandedBack(t *testing.T) {
	tests := []struct {
		name      string
		putErr    error
		wantSame  bool // the waiter gets the very connection put back
		wantDials uint64
	}{
		{name: "kept connection goes to the waiter", putErr: nil, wantSame: true, wantDials: 1},
		{name: "broken connection's slot goes to the waiter", putErr: io.EOF, wantSame: false, wantDials: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := newFakePool(t, Config{MaxOpen: 1, MaxIdle: 1, WaitTimeout: 5 * time.Second}, BreakerConfig{})
			held := mustGet(t, p)
			got := make(chan *fakeConn)
			go func() { got <- mustGet(t, p) }()
			testserver.Eventually(t, "the second Get to queue", waitLimit, func() bool { return p.queued() == 1 })
			p.Put(held, tt.putErr)
			c := <-got
			if (c == held) != tt.wantSame || p.Stats().Dials != tt.wantDials {
				t.Fatalf("waiter got conn %d (held %d), %d dials; want same=%v, %d dials",
					c.id, held.id, p.Stats().Dials, tt.wantSame, tt.wantDials)
			}
			p.Put(c, nil)
		})
	}
}

func TestWaitEndsWithCtx(t *testing.T) {
	p, _ := newFakePool(t, Config{MaxOpen: 1, WaitTimeout: 5 * time.Second}, BreakerConfig{})
	held := mustGet(t, p)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { _, err := p.Get(ctx); done <- err }()
	testserver.Eventually(t, "the second Get to queue", waitLimit, func() bool { return p.queued() == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a cancelled ctx = %v, want context.Canceled", err)
	}
	p.Put(held, nil)
	if s := p.Stats(); s.Open != 1 || s.Idle != 1 || s.Breaker.ConsecutiveFailures != 0 {
		t.Fatalf("stats %+v; want 1 open and idle, breaker untouched", s)
	}
}

var errMiss = errors.New("cache miss")

func TestPutDecidesByErrorClass(t *testing.T) {
	keepMiss := func(err error) bool { return !errors.Is(err, errMiss) }
	tests := []struct {
		name         string
		isBroken     func(error) bool
		err          error
		wantReused   bool
		wantFailures int
	}{
		{name: "nil keeps", err: nil, wantReused: true},
		{name: "user-level error keeps", err: errMiss, wantReused: true},
		{name: "EOF breaks", err: io.EOF, wantFailures: 1},
		{name: "unexpected EOF breaks", err: fmt.Errorf("reading reply: %w", io.ErrUnexpectedEOF), wantFailures: 1},
		{name: "broken pipe breaks", err: fmt.Errorf("write: %w", syscall.EPIPE), wantFailures: 1},
		{name: "reset breaks", err: fmt.Errorf("read: %w", syscall.ECONNRESET), wantFailures: 1},
		{name: "deadline breaks", err: context.DeadlineExceeded, wantFailures: 1},
		{name: "hook keeps a miss", isBroken: keepMiss, err: errMiss, wantReused: true},
		{name: "hook breaks a protocol error", isBroken: keepMiss, err: errors.New("bad reply"), wantFailures: 1},
		{name: "cancel breaks but spares the breaker", isBroken: keepMiss, err: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeBackend{}
			fn := f.funcs()
			fn.IsBroken = tt.isBroken
			p := newPool(t, Config{}, BreakerConfig{}, fn)
			first := mustGet(t, p)
			p.Put(first, tt.err)
			second := mustGet(t, p)
			defer p.Put(second, nil)
			s := p.Stats()
			if reused := second == first; reused != tt.wantReused || first.closed.Load() == reused {
				t.Fatalf("reused = %v, first closed = %v; want reused = %v", reused, first.closed.Load(), tt.wantReused)
			}
			if s.Breaker.ConsecutiveFailures != tt.wantFailures || s.BrokenCloses != uint64(1-b2i(tt.wantReused)) {
				t.Fatalf("stats %+v; want %d breaker failures", s, tt.wantFailures)
			}
		})
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestMaxIdle(t *testing.T) {
	p, f := newFakePool(t, Config{MaxIdle: 2, MaxOpen: 8}, BreakerConfig{})
	var cs []*fakeConn
	for range 5 {
		cs = append(cs, mustGet(t, p))
	}
	for _, c := range cs {
		p.Put(c, nil)
	}
	if s := p.Stats(); s.Idle != 2 || s.Open != 2 || s.IdleCloses != 3 || f.open.Load() != 2 {
		t.Fatalf("stats %+v, %d open at the backend; want 2 idle and open, 3 closed", s, f.open.Load())
	}
}

func TestSuccessBetweenFailuresResetsTheCount(t *testing.T) {
	// An idle timeout of 1ns makes every Get dial.
	p, f := newFakePool(t, Config{IdleTimeout: time.Nanosecond}, BreakerConfig{FailureThreshold: 5})
	failDials := func(n int) {
		f.failing.Store(true)
		for range n {
			if _, err := p.Get(context.Background()); !errors.Is(err, errRefused) {
				t.Fatalf("Get with a failing dial = %v, want the dial error", err)
			}
		}
		f.failing.Store(false)
	}
	failDials(4)
	p.Put(mustGet(t, p), nil)
	failDials(4)
	if s := p.Breaker().Snapshot(); s.State != StateClosed || s.ConsecutiveFailures != 4 {
		t.Fatalf("breaker %+v; want closed with 4 consecutive failures", s)
	}
	f.failing.Store(true)
	p.Get(context.Background())
	if st := p.Breaker().State(); st != StateOpen {
		t.Fatalf("state = %v after 5 consecutive failures, want open", st)
	}
}

// TestHalfOpenLetsOnlyTrialsThrough opens the breaker, lets the retry interval
// pass, and fires many Gets whose dials hang: only HalfOpenTrials may dial.
func TestHalfOpenLetsOnlyTrialsThrough(t *testing.T) {
	const trials = 2
	p, f := newFakePool(t, Config{}, BreakerConfig{FailureThreshold: 1, HalfOpenTrials: trials})
	clk := testserver.NewClock()
	p.br.now = clk.Now
	f.failing.Store(true)
	p.Get(context.Background())
	f.failing.Store(false)
	f.gate = make(chan struct{})
	clk.Advance(p.br.cfg.RetryInterval)

	results := make(chan error, 20)
	for range 20 {
		go func() {
			c, err := p.Get(context.Background())
			if err == nil {
				p.Put(c, nil)
			}
			results <- err
		}()
	}
	refused := 0
	for range 20 - trials {
		if err := <-results; errors.Is(err, ErrCircuitOpen) {
			refused++
		}
	}
	if refused != 20-trials {
		t.Fatalf("%d Gets refused, want %d", refused, 20-trials)
	}
	testserver.Eventually(t, "the trials to dial", waitLimit, func() bool { return f.dialing.Load() == trials })
	close(f.gate)
	for range trials {
		if err := <-results; err != nil {
			t.Fatalf("trial Get = %v", err)
		}
	}
	if st := p.Breaker().State(); st != StateClosed {
		t.Fatalf("state = %v after successful trials, want closed", st)
	}
}

func TestDialTimeoutAndCancel(t *testing.T) {
	tests := []struct {
		name         string
		ctxTimeout   time.Duration
		wantErr      error
		wantFailures int
	}{
		{name: "dial timeout charges the breaker", ctxTimeout: time.Minute, wantErr: context.DeadlineExceeded, wantFailures: 1},
		{name: "caller's ctx does not", ctxTimeout: 20 * time.Millisecond, wantErr: context.DeadlineExceeded, wantFailures: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, f := newFakePool(t, Config{DialTimeout: 50 * time.Millisecond}, BreakerConfig{})
			f.gate = make(chan struct{}) // never opened: every dial hangs
			ctx, cancel := context.WithTimeout(context.Background(), tt.ctxTimeout)
			defer cancel()
			start := time.Now()
			_, err := p.Get(ctx)
			if !errors.Is(err, tt.wantErr) || time.Since(start) > time.Second {
				t.Fatalf("Get = %v after %v, want %v within the dial timeout", err, time.Since(start), tt.wantErr)
			}
			if s := p.Stats(); s.Breaker.ConsecutiveFailures != tt.wantFailures || s.DialErrors != 1 || s.Open != 0 {
				t.Fatalf("stats %+v; want %d breaker failures, 1 dial error, 0 open", s, tt.wantFailures)
			}
		})
	}
}

func TestIdleTimeout(t *testing.T) {
	t.Run("Get replaces an expired connection", func(t *testing.T) {
		p, f := newFakePool(t, Config{IdleTimeout: time.Nanosecond}, BreakerConfig{})
		old := mustGet(t, p)
		p.Put(old, nil)
		c := mustGet(t, p)
		defer p.Put(c, nil)
		if s := p.Stats(); c == old || !old.closed.Load() || s.IdleCloses != 1 || s.Dials != 2 || f.open.Load() != 1 {
			t.Fatalf("stats %+v; want the expired conn closed and a new one dialled", s)
		}
	})
	t.Run("Run closes expired idle connections", func(t *testing.T) {
		cfg := Config{IdleTimeout: 30 * time.Millisecond, HeartbeatInterval: 5 * time.Millisecond}
		p, f := newFakePool(t, cfg, BreakerConfig{})
		go p.Run(t.Context())
		c := mustGet(t, p)
		p.Put(c, nil)
		testserver.Eventually(t, "the idle conn to be recycled", waitLimit, func() bool {
			s := p.Stats()
			return s.Open == 0 && s.IdleCloses == 1 && c.closed.Load()
		})
		if s := p.Stats(); !c.closed.Load() || s.Open != 0 || s.IdleCloses != 1 || f.open.Load() != 0 {
			t.Fatalf("stats %+v; want the idle conn closed", s)
		}
	})
}

func TestHeartbeat(t *testing.T) {
	p, f := newFakePool(t, Config{HeartbeatInterval: 5 * time.Millisecond}, BreakerConfig{})
	go p.Run(t.Context())
	a, b := mustGet(t, p), mustGet(t, p)
	p.Put(a, nil)
	p.Put(b, nil)
	testserver.Eventually(t, "several heartbeats", waitLimit, func() bool { return f.pings.Load() >= 6 })
	if s := p.Stats(); s.Open != 2 || s.HeartbeatFailures != 0 {
		t.Fatalf("stats %+v; want both conns alive after successful pings", s)
	}
	f.pingErr.Store(true)
	testserver.Eventually(t, "failed pings to close the conns", waitLimit, func() bool {
		s := p.Stats()
		return s.Open == 0 && s.HeartbeatFailures == 2
	})
	if s := p.Stats(); s.HeartbeatFailures != 2 || s.Breaker.ConsecutiveFailures != 0 || !a.closed.Load() {
		t.Fatalf("stats %+v; want 2 heartbeat failures and the breaker untouched", s)
	}
}

func TestClose(t *testing.T) {
	p, f := newFakePool(t, Config{MaxOpen: 2, WaitTimeout: 5 * time.Second}, BreakerConfig{})
	runDone := make(chan struct{})
	go func() { p.Run(context.Background()); close(runDone) }()
	idle, inUse := mustGet(t, p), mustGet(t, p)
	p.Put(idle, nil)
	held := mustGet(t, p) // idle again in use; both slots taken
	waiter := make(chan error)
	go func() { _, err := p.Get(context.Background()); waiter <- err }()
	testserver.Eventually(t, "the Get to queue", waitLimit, func() bool { return p.queued() == 1 })

	p.Close()
	p.Close() // idempotent
	<-runDone
	if err := <-waiter; !errors.Is(err, ErrClosed) {
		t.Fatalf("waiting Get after Close = %v, want ErrClosed", err)
	}
	if _, err := p.Get(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close = %v, want ErrClosed", err)
	}
	p.Put(held, nil)
	p.Put(inUse, nil)
	if s := p.Stats(); s.Open != 0 || s.InUse != 0 || f.open.Load() != 0 || !held.closed.Load() {
		t.Fatalf("stats %+v, %d open at the backend; want everything closed", s, f.open.Load())
	}
}

func TestGetPutIdleAllocatesNothing(t *testing.T) {
	p, _ := newFakePool(t, Config{}, BreakerConfig{})
	p.Put(mustGet(t, p), nil)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(1000, func() {
		c, _ := p.Get(ctx)
		p.Put(c, nil)
	})
	if allocs != 0 {
		t.Fatalf("Get+Put of an idle conn allocates %v times, want 0", allocs)
	}
}

func BenchmarkGetPutIdle(b *testing.B) {
	p, _ := newFakePool(b, Config{MaxIdle: 256, MaxOpen: 256}, BreakerConfig{})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c, err := p.Get(ctx)
			if err != nil {
				b.Error(err)
				return
			}
			p.Put(c, nil)
		}
	})
}

func TestZeroTimeoutsAreOff(t *testing.T) {
	br, _ := NewBreaker("fake:1", DefaultBreakerConfig())
	f := &fakeBackend{}
	p, err := New("fake:1", Config{MaxOpen: 1, MaxIdle: 1}, br, f.funcs())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	c, err := p.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p.Put(c, nil)
	if p.expired(p.clock() - time.Hour) {
		t.Error("idle_timeout = 0: an hour-old idle connection counts as expired")
	}
	held, err := p.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := p.Get(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait_timeout = 0: Get on a full pool = %v, want the caller's deadline", err)
	}
	p.Put(held, nil)
}
