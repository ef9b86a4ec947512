package pool

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/faed/faed/scripts/testserver"
)

func TestRedialReplacesWithoutBlame(t *testing.T) {
	// One slot: Redial must dial into the slot of the connection it replaces.
	p, f := newFakePool(t, Config{MaxOpen: 1, WaitTimeout: time.Millisecond}, BreakerConfig{FailureThreshold: 1})
	stale := mustGet(t, p)
	fresh, err := p.Redial(context.Background(), stale)
	if err != nil {
		t.Fatalf("Redial: %v", err)
	}
	if fresh == stale || !stale.closed.Load() || fresh.closed.Load() {
		t.Fatalf("Redial returned %d (closed %v) for %d (closed %v); want a new open connection, the old one closed",
			fresh.id, fresh.closed.Load(), stale.id, stale.closed.Load())
	}
	p.Put(fresh, nil)
	s := p.Stats()
	if s.StaleCloses != 1 || s.Dials != 2 || s.Open != 1 || s.Idle != 1 || s.InUse != 0 || f.open.Load() != 1 {
		t.Errorf("stats %+v, %d open at the backend; want 1 stale close, 2 dials, 1 open and idle", s, f.open.Load())
	}
	if s.Breaker.State != StateClosed || s.Breaker.ConsecutiveFailures != 0 {
		t.Errorf("breaker %+v; want closed without failures", s.Breaker)
	}
}

func TestRedialDialFailureCountsAndFreesTheSlot(t *testing.T) {
	p, f := newFakePool(t, Config{MaxOpen: 1, WaitTimeout: time.Millisecond}, BreakerConfig{FailureThreshold: 2})
	stale := mustGet(t, p)
	f.failing.Store(true)
	if _, err := p.Redial(context.Background(), stale); !errors.Is(err, errRefused) {
		t.Fatalf("Redial with a failing dial = %v, want the dial error", err)
	}
	f.failing.Store(false)
	s := p.Stats()
	if s.Open != 0 || s.InUse != 0 || s.Breaker.ConsecutiveFailures != 1 || !stale.closed.Load() {
		t.Fatalf("stats %+v; want nothing open or in use and 1 breaker failure", s)
	}
	p.Put(mustGet(t, p), nil) // the one slot is free again
}

func TestRedialAfterClose(t *testing.T) {
	p, f := newFakePool(t, Config{}, BreakerConfig{})
	stale := mustGet(t, p)
	p.Close()
	if _, err := p.Redial(context.Background(), stale); !errors.Is(err, ErrClosed) {
		t.Fatalf("Redial after Close = %v, want ErrClosed", err)
	}
	if s := p.Stats(); s.Open != 0 || s.InUse != 0 || s.Dials != 1 || f.open.Load() != 0 {
		t.Fatalf("stats %+v, %d open at the backend; want nothing open and no dial", s, f.open.Load())
	}
}

// TestRedialKeepsTheHalfOpenTrial checks that a retried trial call holds its
// trial slot until its outcome is Put: Redial neither frees it nor takes another.
func TestRedialKeepsTheHalfOpenTrial(t *testing.T) {
	p, f := newFakePool(t, Config{}, BreakerConfig{FailureThreshold: 1, HalfOpenTrials: 1})
	clk := testserver.NewClock()
	p.br.now = clk.Now
	f.failing.Store(true)
	p.Get(context.Background())
	f.failing.Store(false)
	clk.Advance(p.br.cfg.RetryInterval)

	trial := mustGet(t, p)
	fresh, err := p.Redial(context.Background(), trial)
	if err != nil {
		t.Fatalf("Redial of the trial: %v", err)
	}
	if _, err := p.Get(context.Background()); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("Get while the retried trial runs = %v, want ErrCircuitOpen", err)
	}
	p.Put(fresh, nil)
	if st := p.Breaker().State(); st != StateClosed {
		t.Fatalf("state = %v after the retried trial succeeded, want closed", st)
	}
}
