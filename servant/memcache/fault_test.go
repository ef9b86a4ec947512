package memcache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faed/faed/pool"
	"github.com/faed/faed/scripts/testserver"
)

func TestBreakerOpensAndRecovers(t *testing.T) {
	ms, addrs := startMemcached(t, 1)
	addr := addrs[0]
	c := newTestClient(t, testPoolConfig(addr))
	if err := c.Set(context.Background(), "p", "k", []byte("v"), 0, 0); err != nil {
		t.Fatal(err)
	}

	const workers = 4
	stop := busy(c, workers)
	ms[0].Stop()
	openErr := waitOpen(t, c)
	stop()
	checkOpened(t, c, addr, openErr, workers)
	checkFailsFast(t, c, addr)

	ms[0].Restart()
	took := testserver.EventuallyNil(t, "calls succeed after the restart", testRetryInterval+3*time.Second, func() error {
		return c.Set(context.Background(), "p", "k", []byte("again"), 0, 0)
	})
	t.Logf("calls succeeded %v after the restart (retry interval %v)", took, testRetryInterval)
	br := serverStats(t, c, addr).Pool.Breaker
	if br.State != pool.StateClosed || br.Opens == 0 || !strings.Contains(br.Reason, "trial call succeeded") {
		t.Errorf("breaker after recovery: %+v", br)
	}
}

// busy keeps workers goroutines calling Get until the returned stop is called.
func busy(c *Client, workers int) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
					c.Get(context.Background(), "p", "k")
				}
			}
		})
	}
	return func() { close(done); wg.Wait() }
}

// waitOpen polls until a call is refused by the breaker, and returns that error.
func waitOpen(t *testing.T, c *Client) error {
	t.Helper()
	var openErr error
	testserver.EventuallyNil(t, "the breaker opens", 5*time.Second, func() error {
		_, _, err := c.Get(context.Background(), "p", "k")
		if errors.Is(err, pool.ErrCircuitOpen) {
			openErr = err
			return nil
		}
		return fmt.Errorf("Get = %v", err)
	})
	return openErr
}

// checkOpened checks the refusal names the server, and that the breaker
// opened after about FailureThreshold failures (plus those already in flight).
func checkOpened(t *testing.T, c *Client, addr string, openErr error, workers int) {
	t.Helper()
	if want := "memcache: circuit open for " + addr; openErr.Error() != want {
		t.Errorf("refusal %q, want %q", openErr, want)
	}
	st := serverStats(t, c, addr)
	if failed := int(st.Errors - st.Refused); failed > testThreshold+workers+1 {
		t.Errorf("%d calls failed on the server before the breaker opened; threshold %d, %d callers",
			failed, testThreshold, workers+1)
	}
	if !strings.Contains(st.Pool.Breaker.Reason, "consecutive failures") {
		t.Errorf("breaker reason %q does not say why it opened", st.Pool.Breaker.Reason)
	}
}

// checkFailsFast checks calls to the open breaker fail far faster than the
// I/O timeout, each naming the server.
func checkFailsFast(t *testing.T, c *Client, addr string) {
	t.Helper()
	var slowest time.Duration
	for range 50 {
		start := time.Now()
		_, _, err := c.Get(context.Background(), "p", "k")
		slowest = max(slowest, time.Since(start))
		if err == nil || !strings.Contains(err.Error(), addr) {
			t.Fatalf("Get with the server down = %v, want an error naming %s", err, addr)
		}
	}
	if slowest > testIOTimeout/4 {
		t.Errorf("slowest call with the breaker open took %v; the I/O timeout is %v", slowest, testIOTimeout)
	}
	t.Logf("slowest of 50 calls with the breaker open: %v", slowest)
}

func TestHeartbeatDropsDeadConnections(t *testing.T) {
	ms, addrs := startMemcached(t, 1)
	c := newTestClient(t, testPoolConfig(addrs...))
	var wg sync.WaitGroup
	for range 4 { // leave several idle connections
		wg.Go(func() { c.Set(context.Background(), "p", "k", []byte("v"), 0, 0) })
	}
	wg.Wait()
	ms[0].Restart()
	testserver.EventuallyNil(t, "heartbeats close the dead idle connections", 3*time.Second, func() error {
		if st := serverStats(t, c, addrs[0]).Pool; st.HeartbeatFailures == 0 || st.Idle != 0 {
			return fmt.Errorf("heartbeat failures %d, idle %d", st.HeartbeatFailures, st.Idle)
		}
		return nil
	})
	if err := c.Set(context.Background(), "p", "k", []byte("v"), 0, 0); err != nil {
		t.Fatalf("first call after the restart: %v", err)
	}
	if st := serverStats(t, c, addrs[0]); st.Errors != 0 {
		t.Errorf("%d calls failed on dead connections the heartbeat should have dropped", st.Errors)
	}
}

func TestCloseEndsRunAndCalls(t *testing.T) {
	_, addrs := startMemcached(t, 1)
	c, err := New(Config{Pools: map[string]PoolConfig{"p": testPoolConfig(addrs...)}})
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan struct{})
	go func() { c.Run(t.Context()); close(ran) }()
	c.Set(context.Background(), "p", "k", []byte("v"), 0, 0)
	c.Close()
	c.Close() // idempotent
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after Close")
	}
	if _, _, err := c.Get(context.Background(), "p", "k"); !errors.Is(err, pool.ErrClosed) {
		t.Errorf("Get after Close = %v, want pool.ErrClosed", err)
	}
}
