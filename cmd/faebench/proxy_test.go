package main

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startProxy serves handle on a unix socket in a temp dir until the test
// ends and returns its endpoint.
func startProxy(t *testing.T, handle func(net.Conn)) endpoint {
	t.Helper()
	ep := endpoint{"unix", filepath.Join(t.TempDir(), "proxy.sock")}
	ln, err := listen(ep)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { acceptLoop(ctx, ln, handle); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return ep
}

// The relay passes every call and reply through unchanged.
func TestRelay(t *testing.T) {
	relay := startProxy(t, proxyEnds{startEcho(t, 100)}.relay)
	c, err := dial(relay, wire{transport: "buffered", protocol: "binary", timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	checkCalls(t, c.client)
}

// A delay proxy makes a round trip take two delays, and the first one on
// a new connection two more: the handshake a server across a network would
// make the client wait for.
func TestDelayProxy(t *testing.T) {
	const delay = 5 * time.Millisecond // far above a sleep's overshoot, and the tolerance below
	p := &delayProxy{proxyEnds: proxyEnds{startEcho(t, 100)}, delay: delay, early: sleepOvershoot(delay)}
	ep := startProxy(t, p.proxy)
	start := time.Now()
	c, err := dial(ep, wire{transport: "buffered", protocol: "binary", timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := c.client.Noop(ctx, 1); err != nil {
		t.Fatal(err)
	}
	first := time.Since(start)
	start = time.Now()
	if _, err := c.client.Noop(ctx, 2); err != nil {
		t.Fatal(err)
	}
	second := time.Since(start)
	within := func(got, want time.Duration) bool { return got >= want-delay/5 && got < want+3*delay }
	if !within(first, 4*delay) || !within(second, 2*delay) {
		t.Fatalf("first call %v (want about %v), second %v (want about %v)", first, 4*delay, second, 2*delay)
	}
	if r := p.report(); !strings.Contains(r, "asked 5ms each way") {
		t.Errorf("report %q", r)
	}
}
