package mysql

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faed/faed/pool"
	"github.com/faed/faed/scripts/testserver"
)

// TestBreaker stops the server, checks that the breaker opens within
// failure_threshold failures and then fails fast naming the server, restarts
// it and checks that the same Client recovers; then the same under load.
func TestBreaker(t *testing.T) {
	const threshold, retry = 3, 500 * time.Millisecond
	m := testserver.StartMariaDB(t)
	cfg := DefaultConfig()
	p := rootPool(m.Addr, "mysql")
	p.DialTimeout, p.ReadTimeout, p.WriteTimeout = time.Second, 5*time.Second, 5*time.Second
	cfg.Pools = map[string]PoolConfig{"app": p}
	cfg.Breaker = pool.BreakerConfig{FailureThreshold: threshold, RetryInterval: retry, HalfOpenTrials: 1}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// Calls one at a time: the breaker opens after exactly threshold failures.
	m.Stop()
	failures := openBreaker(t, c, m.Addr)
	t.Logf("breaker opened after %d failed calls (failure_threshold %d)", failures, threshold)
	if failures < 1 || failures > threshold {
		t.Errorf("%d calls failed before the breaker opened; want 1..%d", failures, threshold)
	}
	st := c.Stats().Pools["app"].Breaker
	if st.State != pool.StateOpen || st.Reason == "" {
		t.Errorf("breaker = %+v, want open with a reason", st)
	}
	restartAndRecover(t, c, m, retry)

	// Calls in flight when the server goes: they all return, and the
	// breaker opens.
	stopUnderLoad(t, c, m)
	openBreaker(t, c, m.Addr)
	restartAndRecover(t, c, m, retry)
}

// restartAndRecover restarts the server and checks that the same Client's
// calls succeed again within retry (the breaker's retry_interval) and a
// little.
func restartAndRecover(t *testing.T, c *Client, m *testserver.MariaDB, retry time.Duration) {
	t.Helper()
	m.Restart()
	recovered := testserver.Eventually(t, "the pool to recover after the restart", retry+5*time.Second, func() bool { return selectOne1(c) == nil })
	t.Logf("calls succeed %v after the restart (retry_interval %v)", recovered.Round(time.Millisecond), retry)
	if recovered > retry+time.Second {
		t.Errorf("recovery took %v, want within retry_interval (%v) and a little", recovered, retry)
	}
}

func selectOne1(c *Client) error {
	_, err := c.Query(context.Background(), "app", "", 0, "SELECT 1", nil, "")
	return err
}

// stopUnderLoad stops the server while 4 goroutines keep calling, and checks
// that every call returns (an answer or an error) once it is down.
func stopUnderLoad(t *testing.T, c *Client, m *testserver.MariaDB) {
	t.Helper()
	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := c.Query(ctx, "app", "", 0, "SELECT COUNT(*) FROM user", nil, "")
				cancel()
				if err != nil {
					failed.Add(1)
				} else {
					ok.Add(1)
				}
			}
		})
	}
	testserver.Eventually(t, "more than 20 calls to succeed", 5*time.Second, func() bool { return ok.Load() > 20 })
	m.Stop()
	testserver.Eventually(t, "a call to fail", 10*time.Second, func() bool { return failed.Load() > 0 })
	close(stop)
	wg.Wait()
	t.Logf("under load: %d calls answered, %d failed", ok.Load(), failed.Load())
}

// openBreaker calls until the breaker refuses, and returns how many calls
// failed otherwise first. The refusal must be fast and name the server.
func openBreaker(t *testing.T, c *Client, addr string) int {
	t.Helper()
	failures := 0
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		began := time.Now()
		err := selectOne1(c)
		switch {
		case err == nil:
			t.Fatal("a call succeeded while the server was stopped")
		case errors.Is(err, pool.ErrCircuitOpen):
			if !strings.Contains(err.Error(), addr) {
				t.Errorf("refusal %q does not name the server %s", err, addr)
			}
			if took := time.Since(began); took > 50*time.Millisecond {
				t.Errorf("refusal took %v, want it fast", took)
			}
			return failures
		}
		failures++
	}
	t.Fatalf("breaker still closed after %d failures in 10s", failures)
	return failures
}

// TestRunPingClosesBreaker checks that Run's pings close a breaker that
// opened, with no calls, once the server is back.
func TestRunPingClosesBreaker(t *testing.T) {
	m := testserver.StartMariaDB(t)
	cfg := DefaultConfig()
	p := rootPool(m.Addr, "mysql")
	p.PingInterval = 50 * time.Millisecond
	cfg.Pools = map[string]PoolConfig{"app": p}
	cfg.Breaker = pool.BreakerConfig{FailureThreshold: 2, RetryInterval: 200 * time.Millisecond, HalfOpenTrials: 1}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	state := func() pool.State { return c.Stats().Pools["app"].Breaker.State }
	m.Stop()
	testserver.Eventually(t, "the breaker to open", 10*time.Second, func() bool { return state() == pool.StateOpen })
	m.Restart()
	testserver.Eventually(t, "Run's pings to close the breaker", 10*time.Second, func() bool { return state() == pool.StateClosed })
	if q := c.Stats().Pools["app"].Queries; q != 0 {
		t.Errorf("queries = %d; the pings alone should have done it", q)
	}
}
