package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"faed/idl/gen-go/fun/rpc"
)

// phpCalls is how many calls a PHP-FPM worker makes per web request in the
// php pattern, between its connect and its close.
const phpCalls = 3

// Phases of a run. Clients record only what they finish while measuring.
const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseStop
)

// loadConfig describes one load run.
type loadConfig struct {
	label    string        // server kind, for the report only
	target   endpoint      // server to drive
	wire     wire          // transport and protocol
	call     string        // "noop", "ping" or "lc_get"
	pattern  string        // "persistent" or "php"
	clients  int           // concurrent clients
	warmup   time.Duration // run before measuring
	duration time.Duration // measured window
	size     int           // lc_get value size in bytes
	key      string        // lc_get key
	pid      int           // server process for CPU time; 0 for none
}

// callFunc makes one call on a client; rc is the client's Context.
type callFunc func(c *rpc.FunServantClient, rc *rpc.Context) error

// newCallFunc returns the callFunc for a call name.
func newCallFunc(call, key string) (callFunc, error) {
	bg := context.Background()
	switch call {
	case "noop":
		return func(c *rpc.FunServantClient, _ *rpc.Context) error { _, err := c.Noop(bg, 1); return err }, nil
	case "ping":
		return func(c *rpc.FunServantClient, rc *rpc.Context) error { _, err := c.Ping(bg, rc); return err }, nil
	case "lc_get":
		return func(c *rpc.FunServantClient, rc *rpc.Context) error { _, err := c.LcGet(bg, rc, key); return err }, nil
	}
	return nil, fmt.Errorf("call %q: want noop, ping or lc_get", call)
}

func (cfg loadConfig) validate() error {
	if cfg.pattern != "persistent" && cfg.pattern != "php" {
		return fmt.Errorf("pattern %q: want persistent or php", cfg.pattern)
	}
	if cfg.clients < 1 || cfg.duration <= 0 || cfg.warmup < 0 || cfg.size < 0 {
		return fmt.Errorf("want clients >= 1, duration > 0, warmup >= 0, size >= 0")
	}
	return cfg.wire.validate()
}

// runLoad drives the target with cfg.clients clients for the warm-up and
// the measured window, and returns what it measured.
func runLoad(cfg loadConfig) (result, error) {
	if err := cfg.validate(); err != nil {
		return result{}, err
	}
	fn, err := newCallFunc(cfg.call, cfg.key)
	if err != nil {
		return result{}, err
	}
	if cfg.call == "lc_get" {
		prepopulate(cfg)
	}
	var phase atomic.Int32
	clients := make([]*client, cfg.clients)
	var wg sync.WaitGroup
	for i := range clients {
		clients[i] = newClient(i, cfg, fn, &phase)
		wg.Go(clients[i].run)
	}
	w, err := measureWindow(cfg, &phase)
	waitClients(&wg, clients)
	if err != nil {
		return result{}, err
	}
	return newResult(cfg, clients, w), nil
}

// stopGrace is how long clients get to finish their last call after the
// measured window before their connections are closed under them.
const stopGrace = 2 * time.Second

// waitClients waits for the clients to return, aborting them if a server
// that stopped answering keeps them past stopGrace.
func waitClients(wg *sync.WaitGroup, clients []*client) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(stopGrace):
	}
	for _, c := range clients {
		c.abort()
	}
	<-done
}

// window is the measured interval and the server's CPU time in it.
type window struct {
	elapsed    time.Duration
	serverCPU  time.Duration
	haveServer bool
}

// measureWindow waits out the warm-up, then opens the measured window for
// cfg.duration, reading the server's CPU ticks at both ends.
func measureWindow(cfg loadConfig, phase *atomic.Int32) (window, error) {
	defer phase.Store(phaseStop)
	time.Sleep(cfg.warmup)
	var hz int64
	var before uint64
	if cfg.pid > 0 {
		hz = clockTicks()
		var err error
		if before, err = readCPUTicks(cfg.pid); err != nil {
			return window{}, err
		}
	}
	phase.Store(phaseMeasure)
	start := time.Now()
	time.Sleep(cfg.duration)
	phase.Store(phaseStop)
	w := window{elapsed: time.Since(start)}
	if cfg.pid > 0 {
		after, err := readCPUTicks(cfg.pid)
		if err != nil {
			return window{}, err
		}
		w.serverCPU = time.Duration(after-before) * time.Second / time.Duration(hz)
		w.haveServer = true
	}
	return w, nil
}

// prepopulate stores the lc_get key with a cfg.size-byte value. A server
// that refuses (the stock one answers lc_set with an error) still gets
// measured: it is told on stderr.
func prepopulate(cfg loadConfig) {
	c, err := dial(cfg.target, cfg.wire)
	if err == nil {
		defer c.Close()
		rc := &rpc.Context{Rid: 1, Reason: "bench", UID: 1}
		_, err = c.client.LcSet(context.Background(), rc, cfg.key, []byte(strings.Repeat("v", cfg.size)))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "faebench: note: lc_set %q on %s: %v (measuring lc_get anyway)\n", cfg.key, cfg.target, err)
	}
}
