// Command faebench drives a FunServant server (or memcached) with
// concurrent clients and reports calls/s, latency and the server's CPU time
// per call. It also serves the two servers faed is compared with (a raw echo
// and a stock Apache Thrift server) and measures memory per idle connection.
//
// Usage:
//
//	faebench -addr unix:/tmp/faed.sock [-call noop|ping|lc_get|mc_get] [-pattern persistent|php]
//	         [-c 64] [-d 5s] [-warmup 1s] [-size 100] [-key K] [-pool default]
//	         [-transport buffered|framed] [-proto binary|compact] [-pid PID[,PID...]]
//	         [-owned-by HOST:PORT -admin HOST:PORT] [-label NAME] [-json]
//	faebench -addr tcp:127.0.0.1:11211 -proto memcache -call get [load flags as above]
//	faebench -serve echo|stock|stock-nocheck -listen unix:/tmp/x.sock[,tcp:127.0.0.1:9001]
//	faebench -serve relay|delay -listen ADDR[,ADDR] -to ADDR [-delay 200us]
//	faebench -php MODE -addr ADDR [-procs 8] [-d 5s] [-warmup 1s] [-pid PID[,PID...]] [-label NAME] [-json]
//	faebench -idle 10000 -addr unix:/tmp/faed.sock -pid PID [-json]
//	faebench -wait 10s -addr unix:/tmp/faed.sock
//	faebench -wait 30s -admin 127.0.0.1:9002 -members HOST:PORT,HOST:PORT
//	faebench -summary results.jsonl
//	faebench -handoff DIR -faed BIN -zookeeper HOST:PORT [-c 64] [-d 5s] [-warmup 1s] [-size 100]
//
// -handoff starts faed cluster nodes (binary -faed, data and logs in DIR)
// on the ZooKeeper at -zookeeper and measures a vbucket move and a
// rebalance under load; see handoff.go.
//
// Any mode also takes -cpuprofile FILE.
//
// A load run prints one line: calls/s (successful calls in the measured
// window), p50 and p99 latency, errors, and with -pid the servers' user+system
// CPU time per call from /proc/PID/stat (summed over every PID given, e.g.
// faed and memcached for mc_get). Every Thrift server kind is driven by the
// same generated Go client. In the php pattern each client connects, makes
// three calls and closes; the first call's latency includes the connect.
//
// The keyed calls (lc_get, mc_get, get) first store -key with a -size-byte
// value (lc_set, mc_set on -pool, memcached set); mc_get and get count a
// value of another size as an error. -proto memcache speaks memcached's text
// protocol, whose only call is get. With -owned-by and -admin the key is the
// first of -key, -key-1, -key-2, ... that the vbucket map of the node at
// -admin (GET /cluster/map) gives to -owned-by: a key local to a node or one
// it must forward.
//
// -wait with -admin waits until the faed node with that admin address
// reports exactly -members in GET /stats, and a vbucket map over them,
// balanced, with nothing moving, in GET /cluster/map.
//
// -serve echo answers noop (always 0), ping, lc_get and lc_set from replies
// encoded at start, without a Thrift library: the floor no RPC server over
// the same socket can beat. -serve stock is thrift.TSimpleServer with the
// generated processor and a trivial handler (buffered binary unless
// -transport or -proto say otherwise); stock-nocheck is the same with
// thrift.ServerConnectivityCheckInterval = 0, which saves the goroutine the
// generated processor starts per call. -serve relay copies every
// connection's bytes to -to and back (the floor of a forwarded call), and
// -serve delay does so -delay late each way (a datacenter hop on loopback);
// see proxy.go.
//
// -php runs PHP itself in the PHP-FPM pattern: -procs php-cli processes,
// each connecting, making three calls and closing, over and over, straight
// to MariaDB or memcached or to faed; see php.go.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
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
	admin      string
	ownedBy    string
	members    string
	summary    string
	cpuprofile string
	handoff    string
	onlyRepl   bool
	faed       string
	zookeeper  string
	to         string
	delay      time.Duration
	php        phpConfig
}

func parseFlags() options {
	var o options
	l := &o.load
	flag.StringVar(&o.addr, "addr", "", "server to drive: unix:/path.sock or tcp:host:port")
	flag.StringVar(&l.call, "call", "noop", "call to make: noop, ping, lc_get, mc_get, or get with -proto memcache")
	flag.StringVar(&l.pattern, "pattern", "persistent", "persistent (one connection per client) or php (connect, 3 calls, close; the first call's latency includes the connect)")
	flag.IntVar(&l.clients, "c", 64, "concurrent clients")
	flag.DurationVar(&l.duration, "d", 5*time.Second, "measured duration")
	flag.DurationVar(&l.warmup, "warmup", time.Second, "warm-up before measuring")
	flag.IntVar(&l.size, "size", 100, "value size in bytes of lc_get, mc_get and get (also what -serve answers)")
	flag.StringVar(&l.key, "key", "faebench", "key of lc_get, mc_get and get (the prefix with -owned-by)")
	flag.StringVar(&l.pool, "pool", "default", "memcache pool of mc_get")
	flag.StringVar(&l.wire.transport, "transport", "buffered", "buffered or framed")
	flag.StringVar(&l.wire.protocol, "proto", "binary", "binary, compact, or memcache (memcached's text protocol, for -call get)")
	flag.DurationVar(&l.wire.timeout, "timeout", 0, "client socket timeout per read or write; 0 for none (a deadline costs a timer per read and write)")
	flag.Var((*pidList)(&l.pids), "pid", "server process ids, comma-separated: their CPU time summed (load), or one's RSS (-idle)")
	flag.StringVar(&l.label, "label", "", "name of the server kind in the report")
	flag.BoolVar(&o.asJSON, "json", false, "print JSON on stdout (the text line goes to stderr)")
	flag.StringVar(&o.serve, "serve", "", "serve echo, stock, stock-nocheck, relay or delay on -listen until SIGTERM/SIGINT")
	flag.StringVar(&o.to, "to", "", "upstream of -serve relay and -serve delay: unix:/path.sock or tcp:host:port")
	flag.DurationVar(&o.delay, "delay", 200*time.Microsecond, "what -serve delay adds each way")
	flag.StringVar(&o.listen, "listen", "", "comma-separated listen addresses for -serve")
	flag.IntVar(&o.idle, "idle", 0, "open this many idle connections and report server RSS per connection")
	flag.DurationVar(&o.wait, "wait", 0, "wait up to this long until -addr accepts connections (or -admin reports -members), then exit")
	flag.StringVar(&o.admin, "admin", "", "faed admin host:port whose members -wait waits for, or whose map -owned-by reads")
	flag.StringVar(&o.ownedBy, "owned-by", "", "use the first key from -key that the map of -admin gives this node")
	flag.StringVar(&o.members, "members", "", "comma-separated cluster members (advertised host:port) for -wait -admin")
	flag.StringVar(&o.summary, "summary", "", "print a comparison table of the JSON results in this file")
	flag.StringVar(&o.handoff, "handoff", "", "measure a vbucket move and a rebalance on faed nodes started with data and logs in this dir")
	flag.BoolVar(&o.onlyRepl, "replicas-only", false, "with -handoff: only the replica measurements (issue 9)")
	flag.StringVar(&o.faed, "faed", "bin/faed", "faed binary of -handoff")
	flag.StringVar(&o.zookeeper, "zookeeper", "", "ZooKeeper host:port the -handoff nodes cluster on")
	flag.StringVar(&o.php.mode, "php", "", "run PHP processes in the PHP-FPM pattern: mysql or memcache straight to -addr, my_query or mc_get through faed at -addr")
	flag.IntVar(&o.php.procs, "procs", 8, "PHP processes of -php")
	flag.StringVar(&o.php.script, "php-script", "cmd/faebench/php/backend.php", "the PHP side of -php")
	flag.StringVar(&o.php.database, "database", "faebench", "-php mysql: the database holding table kv")
	flag.StringVar(&o.php.mariadb, "mariadb", "", "-php: a go-sql-driver DSN of the MariaDB whose own time of the SELECTs to report (performance_schema on)")
	flag.BoolVar(&o.php.delayed, "delayed", false, "-php: the backend is behind a delay proxy; the rows' pattern says php-fpm+delay")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of this process (any mode) to this file")
	flag.Parse()
	return o
}

// pidList is the -pid flag: process ids, comma-separated. A later -pid
// replaces an earlier one.
type pidList []int

func (p *pidList) String() string {
	s := make([]string, len(*p))
	for i, pid := range *p {
		s[i] = strconv.Itoa(pid)
	}
	return strings.Join(s, ",")
}

func (p *pidList) Set(v string) error {
	var pids []int
	for _, f := range strings.Split(v, ",") {
		pid, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || pid < 1 {
			return fmt.Errorf("%q: want process ids >= 1, comma-separated", v)
		}
		pids = append(pids, pid)
	}
	*p = pids
	return nil
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
	case o.wait > 0 && o.admin != "":
		return waitCluster(o)
	case o.handoff != "":
		return handoff(o)
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
	case o.php.mode != "":
		return php(o)
	}
	if o.ownedBy != "" {
		if o.load.key, err = ownedKey(o); err != nil {
			return err
		}
	}
	r, err := runLoad(o.load)
	if err != nil {
		return err
	}
	return emit(os.Stdout, os.Stderr, r, o.asJSON)
}

func php(o options) error {
	c, l := o.php, o.load
	c.label, c.target, c.warmup, c.duration, c.size, c.pids = l.label, l.target, l.warmup, l.duration, l.size, l.pids
	c.pool, c.key, c.admin = l.pool, l.key, o.admin
	r, err := runPHP(c)
	if err != nil {
		return err
	}
	return emit(os.Stdout, os.Stderr, r, o.asJSON)
}

func handoff(o options) error {
	if o.zookeeper == "" {
		return errors.New("-handoff needs -zookeeper")
	}
	return runHandoff(handoffConfig{
		spec:    clusterSpec{faed: o.faed, zookeeper: o.zookeeper, dir: o.handoff},
		clients: o.load.clients, warmup: o.load.warmup, duration: o.load.duration, size: o.load.size,
		replicasOnly: o.onlyRepl,
	})
}

func waitCluster(o options) error {
	members, err := parseMembers(o.members)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := waitMembers(o.admin, members, o.wait); err != nil {
		return err
	}
	// A map still moving vbuckets would move a "local" key mid-run.
	_, err = settledMap(o.admin, members, o.wait-time.Since(start))
	return err
}

// ownedKey is the key -owned-by owns in the map of the node at -admin.
func ownedKey(o options) (string, error) {
	if o.admin == "" {
		return "", errors.New("-owned-by needs -admin, the node whose GET /cluster/map places keys")
	}
	m, err := fetchMap(o.admin)
	if err != nil {
		return "", err
	}
	return keyOwnedBy(o.load.key, o.ownedBy, m)
}

func idle(o options) error {
	l := o.load
	if len(l.pids) > 1 {
		return errors.New("-idle reads the RSS of one -pid")
	}
	cfg := idleConfig{label: l.label, target: l.target, wire: l.wire, conns: o.idle}
	if len(l.pids) == 1 {
		cfg.pid = l.pids[0]
	}
	r, err := runIdle(cfg)
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
	if w.protocol == "memcache" {
		return errors.New("-serve speaks Thrift; -proto memcache is for driving memcached")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if o.serve == "relay" || o.serve == "delay" {
		return serveProxy(ctx, o, eps)
	}
	switch o.serve {
	case "echo":
		if w.protocol != "binary" {
			return errors.New("the echo server speaks the binary protocol only")
		}
		return serveEcho(ctx, eps, o.load.size)
	case "stock", "stock-nocheck":
		return serveStock(ctx, eps, w, o.load.size, o.serve == "stock")
	}
	return fmt.Errorf("-serve %q: want echo, stock, stock-nocheck, relay or delay", o.serve)
}

func serveProxy(ctx context.Context, o options, eps []endpoint) error {
	if o.to == "" {
		return fmt.Errorf("-serve %s needs -to, the server it stands in front of", o.serve)
	}
	up, err := parseEndpoint(o.to)
	if err != nil {
		return fmt.Errorf("-to: %w", err)
	}
	if o.serve == "relay" {
		return serveRelay(ctx, eps, up)
	}
	return serveDelay(ctx, eps, up, o.delay)
}
