package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
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
	call     string        // "noop", "ping", "lc_get", "mc_get" or "get" (memcached)
	pattern  string        // "persistent" or "php"
	clients  int           // concurrent clients
	warmup   time.Duration // run before measuring
	duration time.Duration // measured window
	size     int           // value size in bytes of the keyed calls
	key      string        // key of the keyed calls
	pool     string        // mc_get pool
	pids     []int         // server processes for CPU time; none for no CPU column
}

// callFunc makes one call on a connection; rc is the client's Context.
type callFunc func(c *conn, rc *rpc.Context) error

// errValueSize is wrapped by the error for a value that is not the size the
// run stored: the run would measure something else than it says.
var errValueSize = errors.New("faebench: wrong value size")

// newCallFunc returns the callFunc for cfg.call.
func newCallFunc(cfg loadConfig) (callFunc, error) {
	bg := context.Background()
	key, pool, size := cfg.key, cfg.pool, cfg.size
	switch cfg.call {
	case "noop":
		return func(c *conn, _ *rpc.Context) error { _, err := c.client.Noop(bg, 1); return err }, nil
	case "ping":
		return func(c *conn, rc *rpc.Context) error { _, err := c.client.Ping(bg, rc); return err }, nil
	case "lc_get":
		return func(c *conn, rc *rpc.Context) error { _, err := c.client.LcGet(bg, rc, key); return err }, nil
	case "mc_get":
		return mcGetFunc(pool, key, size), nil
	case "get":
		return func(c *conn, _ *rpc.Context) error {
			v, _, err := c.mc.get(key)
			return checkSize(len(v), size, err)
		}, nil
	}
	return nil, fmt.Errorf("call %q: want noop, ping, lc_get, mc_get or get", cfg.call)
}

func mcGetFunc(pool, key string, size int) callFunc {
	bg := context.Background()
	return func(c *conn, rc *rpc.Context) error {
		d, err := c.client.McGet(bg, rc, pool, key)
		if d == nil {
			return checkSize(0, size, err)
		}
		return checkSize(len(d.Data), size, err)
	}
}

// checkSize returns err, or if that is nil an error for a value of got
// bytes when the run stored want.
func checkSize(got, want int, err error) error {
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%w: %d bytes, stored %d", errValueSize, got, want)
	}
	return nil
}

// keyed reports whether call reads cfg.key.
func keyed(call string) bool { return call == "lc_get" || call == "mc_get" || call == "get" }

func (cfg loadConfig) validate() error {
	if cfg.pattern != "persistent" && cfg.pattern != "php" {
		return fmt.Errorf("pattern %q: want persistent or php", cfg.pattern)
	}
	if cfg.clients < 1 || cfg.duration <= 0 || cfg.warmup < 0 || cfg.size < 0 {
		return fmt.Errorf("want clients >= 1, duration > 0, warmup >= 0, size >= 0")
	}
	if (cfg.call == "get") != (cfg.wire.protocol == "memcache") {
		return fmt.Errorf("call %q over protocol %q: get speaks memcached's text protocol (-proto memcache), every other call Thrift", cfg.call, cfg.wire.protocol)
	}
	if cfg.call == "get" && !validMcKey(cfg.key) {
		return fmt.Errorf("key %q: memcached wants 1 to 250 bytes without spaces or control characters", cfg.key)
	}
	return cfg.wire.validate()
}

// validMcKey reports whether memcached's text protocol can carry key.
func validMcKey(key string) bool {
	if key == "" || len(key) > 250 {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] <= ' ' || key[i] == 0x7f {
			return false
		}
	}
	return true
}

// runLoad drives the target with cfg.clients clients for the warm-up and
// the measured window, and returns what it measured.
func runLoad(cfg loadConfig) (result, error) {
	if err := cfg.validate(); err != nil {
		return result{}, err
	}
	fn, err := newCallFunc(cfg)
	if err != nil {
		return result{}, err
	}
	if keyed(cfg.call) {
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
// cfg.duration.
func measureWindow(cfg loadConfig, phase *atomic.Int32) (window, error) {
	defer phase.Store(phaseStop)
	start := time.Now().Add(cfg.warmup)
	return cpuWindow(cfg.pids, start, start.Add(cfg.duration), func() { phase.Store(phaseMeasure) })
}

// cpuWindow sleeps until start, calls opened, and sleeps until end,
// reading the CPU ticks of pids (if any) at both ends.
func cpuWindow(pids []int, start, end time.Time, opened func()) (window, error) {
	time.Sleep(time.Until(start))
	var before uint64
	if len(pids) > 0 {
		var err error
		if before, err = sumCPUTicks(pids); err != nil {
			return window{}, err
		}
	}
	opened()
	began := time.Now()
	time.Sleep(time.Until(end))
	w := window{elapsed: time.Since(began)}
	if len(pids) > 0 {
		after, err := sumCPUTicks(pids)
		if err != nil {
			return window{}, err
		}
		w.serverCPU = time.Duration(after-before) * time.Second / time.Duration(clockTicks())
		w.haveServer = true
	}
	return w, nil
}

// prepopulate stores cfg.key with a cfg.size-byte value the way the call
// reads it: lc_set for lc_get, mc_set for mc_get, a memcached set for get.
// A server that refuses (the stock one answers lc_set with an error) still
// gets measured: it is told on stderr.
func prepopulate(cfg loadConfig) {
	c, err := dial(cfg.target, cfg.wire)
	if err == nil {
		defer c.Close()
		err = store(c, cfg)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "faebench: note: storing %q on %s for %s: %v (measuring anyway)\n", cfg.key, cfg.target, cfg.call, err)
	}
}

func store(c *conn, cfg loadConfig) error {
	value := []byte(strings.Repeat("v", cfg.size))
	rc := &rpc.Context{Rid: 1, Reason: "bench", UID: 1}
	bg := context.Background()
	var err error
	switch cfg.call {
	case "lc_get":
		_, err = c.client.LcSet(bg, rc, cfg.key, value)
	case "mc_get":
		_, err = c.client.McSet(bg, rc, cfg.pool, cfg.key, &rpc.TMemcacheData{Data: value}, 0)
	case "get":
		err = c.mc.set(cfg.key, 0, value)
	}
	return err
}
