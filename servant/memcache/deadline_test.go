package memcache

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// TestCallersDeadlineBoundsTheAttempt: a server that accepts and never
// answers holds a call for the sooner of io_timeout and ctx's deadline.
func TestCallersDeadlineBoundsTheAttempt(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // silent until the test ends
		}
	}()
	addr := ln.Addr().String()
	pc := testPoolConfig(addr)
	pc.IOTimeout = 5 * time.Second
	c := newTestClient(t, pc)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err = c.Get(ctx, "p", "k")
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("Get on a silent server: %v, want an error naming %s", err, addr)
	}
	if took < 140*time.Millisecond || took > time.Second {
		t.Fatalf("Get gave up after %v, want the 150ms deadline, not io_timeout 5s", took)
	}
}
