package main

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func testLoadConfig(ep endpoint, call, pattern string) loadConfig {
	return loadConfig{
		label: "test", target: ep, wire: wire{transport: "buffered", protocol: "binary"},
		call: call, pattern: pattern, clients: 4, warmup: 50 * time.Millisecond,
		duration: 300 * time.Millisecond, size: 100, key: "k", pool: "default", pids: []int{os.Getpid()},
	}
}

func TestRunLoad(t *testing.T) {
	echo := startEcho(t, 100)
	stock := startStockServer(t, wire{transport: "buffered", protocol: "binary"}, true)
	tests := []struct {
		name    string
		ep      endpoint
		call    string
		pattern string
	}{
		{"echo noop persistent", echo, "noop", "persistent"},
		{"echo lc_get php", echo, "lc_get", "php"},
		{"stock ping persistent", stock, "ping", "persistent"},
		{"stock noop php", stock, "noop", "php"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := runLoad(testLoadConfig(tt.ep, tt.call, tt.pattern))
			if err != nil {
				t.Fatal(err)
			}
			if r.Errors != 0 || r.Calls == 0 || r.CallsPerSec <= 0 {
				t.Fatalf("calls %d errors %d (%s)", r.Calls, r.Errors, r.FirstError)
			}
			if r.P50us <= 0 || r.P99us < r.P50us {
				t.Fatalf("p50 %.1fus p99 %.1fus", r.P50us, r.P99us)
			}
			if r.ServerUs == nil || *r.ServerUs < 0 {
				t.Fatalf("server CPU per call missing: %v", r)
			}
		})
	}
}

// A server that is gone makes every call an error, not a hang.
func TestRunLoadNoServer(t *testing.T) {
	ep := endpoint{"unix", filepath.Join(t.TempDir(), "none.sock")}
	cfg := testLoadConfig(ep, "noop", "persistent")
	cfg.pids = nil
	r, err := runLoad(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors == 0 || r.Calls != 0 || r.ServerUs != nil {
		t.Fatalf("calls %d errors %d server %v", r.Calls, r.Errors, r.ServerUs)
	}
	if !strings.Contains(r.String(), "first_error=") {
		t.Fatalf("report %q does not say why", r)
	}
}

// A server that accepts and never answers is cut off after the window.
func TestRunLoadSilentServer(t *testing.T) {
	ep := endpoint{"unix", filepath.Join(t.TempDir(), "silent.sock")}
	ln, err := listen(ep)
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
			go func() { io.Copy(io.Discard, c); c.Close() }() // reads, never answers
		}
	}()
	cfg := testLoadConfig(ep, "noop", "persistent")
	cfg.pids = nil
	start := time.Now()
	r, err := runLoad(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > cfg.warmup+cfg.duration+stopGrace+2*time.Second {
		t.Fatalf("run took %v", took)
	}
	if r.Calls != 0 {
		t.Fatalf("calls %d from a silent server", r.Calls)
	}
}

func TestRunLoadRejectsBadConfig(t *testing.T) {
	ep := endpoint{"unix", "/nonexistent.sock"}
	for _, mutate := range []func(*loadConfig){
		func(c *loadConfig) { c.call = "mc_delete" },
		func(c *loadConfig) { c.call = "get" },               // memcached's call over Thrift
		func(c *loadConfig) { c.wire.protocol = "memcache" }, // a Thrift call over memcache
		func(c *loadConfig) { c.call, c.wire.protocol, c.key = "get", "memcache", "a b" },
		func(c *loadConfig) { c.call, c.wire.protocol, c.wire.transport = "get", "memcache", "framed" },
		func(c *loadConfig) { c.pattern = "burst" },
		func(c *loadConfig) { c.clients = 0 },
		func(c *loadConfig) { c.wire.transport = "http" },
		func(c *loadConfig) { c.wire.protocol = "json" },
	} {
		cfg := testLoadConfig(ep, "noop", "persistent")
		mutate(&cfg)
		if _, err := runLoad(cfg); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
}

func TestRunIdle(t *testing.T) {
	ep := startEcho(t, 10)
	r, err := runIdle(idleConfig{label: "echo", target: ep, wire: wire{transport: "buffered", protocol: "binary"}, conns: 50, pid: os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	if r.Conns != 50 || r.Errors != 0 || r.RSSBefore <= 0 || r.RSSAfter <= 0 {
		t.Fatalf("idle result %+v", r)
	}
	if _, err := runIdle(idleConfig{target: ep, conns: 5}); err == nil {
		t.Fatal("idle without -pid accepted")
	}
}

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// The php pattern connects once per phpCalls calls; persistent once per
// client.
func TestPatternConnections(t *testing.T) {
	for _, pattern := range []string{"persistent", "php"} {
		t.Run(pattern, func(t *testing.T) {
			ep := endpoint{"unix", filepath.Join(t.TempDir(), "echo.sock")}
			ln, err := listen(ep)
			if err != nil {
				t.Fatal(err)
			}
			cl := &countingListener{Listener: ln}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go newEchoServer(10).Serve(ctx, cl)
			cfg := testLoadConfig(ep, "noop", pattern)
			cfg.warmup = 0
			r, err := runLoad(cfg)
			if err != nil || r.Errors != 0 {
				t.Fatalf("run: %v, %d errors", err, r.Errors)
			}
			accepted := uint64(cl.n.Load())
			if pattern == "persistent" && accepted != uint64(cfg.clients) {
				t.Fatalf("%d connections for %d persistent clients", accepted, cfg.clients)
			}
			if pattern == "php" && accepted < r.Calls/phpCalls {
				t.Fatalf("%d connections for %d calls", accepted, r.Calls)
			}
		})
	}
}
