package memcache

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/faed/faed/pool"
	"github.com/faed/faed/scripts/testserver"
)

// TestCallersDeadlineBoundsTheAttempt: a server that accepts and never
// answers holds a call for the sooner of io_timeout and ctx's deadline.
func TestCallersDeadlineBoundsTheAttempt(t *testing.T) {
	addr := testserver.Silent(t)
	pc := testPoolConfig(addr)
	pc.IOTimeout = 5 * time.Second
	c := newTestClient(t, pc)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := c.Get(ctx, "p", "k")
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("Get on a silent server: %v, want an error naming %s", err, addr)
	}
	if took < 140*time.Millisecond || took > time.Second {
		t.Fatalf("Get gave up after %v, want the 150ms deadline, not io_timeout 5s", took)
	}
}

// TestCancelEndsTheAttempt: a caller's budget ends its call by cancelling
// ctx, which carries no deadline of its own: the attempt on a silent server
// ends then, not at io_timeout, and the error wraps context.Canceled, which
// the breaker holds against nobody.
func TestCancelEndsTheAttempt(t *testing.T) {
	addr := testserver.Silent(t)
	pc := testPoolConfig(addr)
	pc.IOTimeout = 5 * time.Second
	c := newTestClient(t, pc)
	for i := range testThreshold + 1 {
		ctx, cancel := context.WithCancel(context.Background())
		timer := time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, _, err := c.Get(ctx, "p", "k")
		took := time.Since(start)
		timer.Stop()
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Get %d cancelled on a silent server: %v, want an error wrapping context.Canceled", i, err)
		}
		if took > time.Second {
			t.Fatalf("Get %d gave up after %v, want the 100ms cancel, not io_timeout 5s", i, took)
		}
	}
	// As many cancelled calls as open the breaker when they fail: still
	// closed, the next call reaches the server.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, _, err := c.Get(ctx, "p", "k"); errors.Is(err, pool.ErrCircuitOpen) {
		t.Fatalf("the breaker opened on calls the caller cancelled: %v", err)
	}
}
