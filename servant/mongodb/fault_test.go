package mongodb

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/faed/faed/pool"
	"github.com/faed/faed/scripts/testserver"
)

// deadPort returns a loopback address where nothing listens.
func deadPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// faultClient returns a client whose pool "p" has short timeouts and a
// breaker opening after threshold failures.
func faultClient(t *testing.T, addr string, threshold int, retry time.Duration) *Client {
	t.Helper()
	cfg := Config{
		Pools: map[string]PoolConfig{"p": with(DefaultPoolConfig(), func(p *PoolConfig) {
			p.Servers, p.IOTimeout, p.ConnectTimeout = []string{addr}, 300*time.Millisecond, 100*time.Millisecond
		})},
		Breaker: pool.BreakerConfig{FailureThreshold: threshold, RetryInterval: retry, HalfOpenTrials: 1},
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// checkFastDegraded fails unless a call fails at once with ErrDegraded
// wrapping the breaker's refusal, naming addr.
func checkFastDegraded(t *testing.T, c *Client, addr string) {
	t.Helper()
	began := time.Now()
	_, err := c.FindOne(context.Background(), "p", "t", 0, nil, nil)
	if !errors.Is(err, ErrDegraded) || !errors.Is(err, pool.ErrCircuitOpen) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("call with the breaker open: %v, want ErrDegraded and pool.ErrCircuitOpen naming %s", err, addr)
	}
	if d := time.Since(began); d > 50*time.Millisecond {
		t.Errorf("refusal took %v, want it at once", d)
	}
}

func TestBreakerOpensWhenNothingListens(t *testing.T) {
	addr := deadPort(t)
	const threshold = 3
	c := faultClient(t, addr, threshold, time.Minute)
	ctx := context.Background()
	for i := range threshold {
		_, err := c.Insert(ctx, "p", "t", 0, doc(t, "a", i))
		if err == nil || errors.Is(err, ErrDegraded) {
			t.Fatalf("call %d to a dead port: %v, want a connection error", i, err)
		}
	}
	checkFastDegraded(t, c, addr)
	st := c.Stats()["p"]
	if st.Breaker.State != pool.StateOpen || st.Breaker.Opens != 1 || st.Servers != addr || st.Refused != 1 {
		t.Errorf("stats %+v, want an open breaker on %s and one refusal", st, addr)
	}
	if st.Breaker.Reason == "" {
		t.Error("the breaker's snapshot gives no reason")
	}
}

func TestBreakerFollowsServerStopAndRestart(t *testing.T) {
	m := testserver.StartMongo(t)
	c := faultClient(t, m.Addr, 2, 300*time.Millisecond)
	ctx := context.Background()
	if _, err := c.Insert(ctx, "p", "t", 0, doc(t, "_id", 1)); err != nil {
		t.Fatal(err)
	}
	m.Stop()
	testserver.Eventually(t, "the breaker to open after the server stopped", 10*time.Second, func() bool {
		_, err := c.FindOne(ctx, "p", "t", 0, nil, nil)
		return errors.Is(err, ErrDegraded)
	})
	checkFastDegraded(t, c, m.Addr)
	m.Restart()
	testserver.Eventually(t, "calls to succeed after the server restarted", 20*time.Second, func() bool {
		_, err := c.FindOne(ctx, "p", "t", 0, doc(t, "_id", 1), nil)
		return err == nil
	})
	if st := c.Stats()["p"].Breaker; st.State != pool.StateClosed || st.Opens < 1 {
		t.Errorf("breaker %+v, want closed again after opening", st)
	}
}
