// Command faebench drives a FunServant server with concurrent Thrift
// clients and reports calls/s, latency and the server's CPU time per call.
// It also serves the two servers faed is compared with (a raw echo and a
// stock Apache Thrift server) and measures memory per idle connection.
//
// Usage:
//
//	faebench -addr unix:/tmp/faed.sock [-call noop|ping|lc_get] [-pattern persistent|php]
//	         [-c 64] [-d 5s] [-warmup 1s] [-size 100] [-transport buffered|framed]
//	         [-proto binary|compact] [-pid PID] [-label NAME] [-json]
//	faebench -serve echo|stock|stock-nocheck -listen unix:/tmp/x.sock[,tcp:127.0.0.1:9001]
//	faebench -idle 10000 -addr unix:/tmp/faed.sock -pid PID [-json]
//	faebench -wait 10s -addr unix:/tmp/faed.sock
//	faebench -summary results.jsonl
//
// Any mode also takes -cpuprofile FILE.
//
// A load run prints one line: calls/s (successful calls in the measured
// window), p50 and p99 latency, errors, and with -pid the server's user+system
// CPU time per call from /proc/PID/stat. Every server kind is driven by the
// same generated Go client. In the php pattern each client connects, makes
// three calls and closes; the first call's latency includes the connect.
//
// -serve echo answers noop (always 0), ping, lc_get and lc_set from replies
// encoded at start, without a Thrift library: the floor no RPC server over
// the same socket can beat. -serve stock is thrift.TSimpleServer with the
// generated processor and a trivial handler (buffered binary unless
// -transport or -proto say otherwise); stock-nocheck is the same with
// thrift.ServerConnectivityCheckInterval = 0, which saves the goroutine the
// generated processor starts per call.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	load       loadConfig
	addr       string
	asJSON     bool
	serve      string
	listen     string
	idle       int
	wait       time.Duration
	summary    string
	cpuprofile string
}

func parseFlags() options {
	var o options
	l := &o.load
	flag.StringVar(&o.addr, "addr", "", "server to drive: unix:/path.sock or tcp:host:port")
	flag.StringVar(&l.call, "call", "noop", "call to make: noop, ping or lc_get")
	flag.StringVar(&l.pattern, "pattern", "persistent", "persistent (one connection per client) or php (connect, 3 calls, close; the first call's latency includes the connect)")
	flag.IntVar(&l.clients, "c", 64, "concurrent clients")
	flag.DurationVar(&l.duration, "d", 5*time.Second, "measured duration")
	flag.DurationVar(&l.warmup, "warmup", time.Second, "warm-up before measuring")
	flag.IntVar(&l.size, "size", 100, "lc_get value size in bytes (also what -serve answers)")
	flag.StringVar(&l.key, "key", "faebench", "lc_get key")
	flag.StringVar(&l.wire.transport, "transport", "buffered", "buffered or framed")
	flag.StringVar(&l.wire.protocol, "proto", "binary", "binary or compact")
	flag.DurationVar(&l.wire.timeout, "timeout", 0, "client socket timeout per read or write; 0 for none (a deadline costs a timer per read and write)")
	flag.IntVar(&l.pid, "pid", 0, "server process id, for its CPU time (load) or RSS (-idle)")
	flag.StringVar(&l.label, "label", "", "name of the server kind in the report")
	flag.BoolVar(&o.asJSON, "json", false, "print JSON on stdout (the text line goes to stderr)")
	flag.StringVar(&o.serve, "serve", "", "serve echo, stock or stock-nocheck on -listen until SIGTERM/SIGINT")
	flag.StringVar(&o.listen, "listen", "", "comma-separated listen addresses for -serve")
	flag.IntVar(&o.idle, "idle", 0, "open this many idle connections and report server RSS per connection")
	flag.DurationVar(&o.wait, "wait", 0, "wait up to this long until -addr accepts connections, then exit")
	flag.StringVar(&o.summary, "summary", "", "print a comparison table of the JSON results in this file")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of this process (any mode) to this file")
	flag.Parse()
	return o
}

func main() {
	o := parseFlags()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "faebench: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	if err := profiled(o.cpuprofile, func() error { return run(o) }); err != nil {
		fmt.Fprintln(os.Stderr, "faebench:", err)
		os.Exit(1)
	}
}

// profiled runs f, writing a CPU profile of it to path unless path is "".
func profiled(path string, f func() error) error {
	if path == "" {
		return f()
	}
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		out.Close()
		return err
	}
	err = f()
	pprof.StopCPUProfile()
	return errors.Join(err, out.Close())
}

func run(o options) error {
	switch {
	case o.summary != "":
		return printSummary(os.Stdout, o.summary)
	case o.serve != "":
		return serve(o)
	}
	if o.addr == "" {
		return errors.New("-addr is required")
	}
	ep, err := parseEndpoint(o.addr)
	if err != nil {
		return err
	}
	o.load.target = ep
	switch {
	case o.wait > 0:
		return waitReady(ep, o.wait)
	case o.idle > 0:
		return idle(o)
	}
	r, err := runLoad(o.load)
	if err != nil {
		return err
	}
	return emit(os.Stdout, os.Stderr, r, o.asJSON)
}

func idle(o options) error {
	l := o.load
	r, err := runIdle(idleConfig{label: l.label, target: l.target, wire: l.wire, conns: o.idle, pid: l.pid})
	if err != nil {
		return err
	}
	return emit(os.Stdout, os.Stderr, r, o.asJSON)
}

// serve runs the -serve server until SIGTERM or SIGINT.
func serve(o options) error {
	eps, err := parseEndpoints(o.listen)
	if err != nil {
		return fmt.Errorf("-listen: %w", err)
	}
	w := o.load.wire
	if err := w.validate(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	switch o.serve {
	case "echo":
		if w.protocol != "binary" {
			return errors.New("the echo server speaks the binary protocol only")
		}
		return serveEcho(ctx, eps, o.load.size)
	case "stock", "stock-nocheck":
		return serveStock(ctx, eps, w, o.load.size, o.serve == "stock")
	}
	return fmt.Errorf("-serve %q: want echo, stock or stock-nocheck", o.serve)
}
