package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"
)

// faebench -php runs PHP itself, not a Go client playing it: -procs php-cli
// processes of php/backend.php, each a PHP-FPM worker connecting, making
// three calls and closing, over and over. The backend comparisons of SPEC
// §10 run it both ways, straight to the backend (mysqli, the memcache
// extension) and through faed (the generated PHP client), so each side pays
// its own PHP library.

// phpMode is one of backend.php's modes.
type phpMode struct {
	call   string                   // the call it makes, for the report
	faed   bool                     // whether it talks to faed
	stores string                   // the load call whose value faebench stores first (prepopulate), if any
	args   func(phpConfig) []string // its arguments after SIZE
}

func (m phpMode) protocol() string {
	if m.faed {
		return "binary"
	}
	return "memcache"
}

// phpModes are backend.php's modes by name. The table mysql reads is
// bench.sh's to fill.
var phpModes = map[string]phpMode{
	"mysql":    {"select", false, "", func(c phpConfig) []string { return []string{c.database} }},
	"my_query": {"my_query", true, "", func(c phpConfig) []string { return []string{c.pool} }},
	"memcache": {"get", false, "get", func(c phpConfig) []string { return []string{c.key} }},
	"mc_get":   {"mc_get", true, "mc_get", func(c phpConfig) []string { return []string{c.pool, c.key} }},
}

// phpConfig describes one -php run.
type phpConfig struct {
	mode     string // a key of phpModes
	script   string // path of backend.php
	procs    int    // PHP processes
	delayed  bool   // the backend is behind a delay proxy (only names the rows' pattern)
	database string // mysql: the database holding table kv
	pool     string // my_query and mc_get: faed's pool
	key      string // memcache and mc_get: the key, stored beforehand
	label    string
	target   endpoint
	warmup   time.Duration
	duration time.Duration
	size     int
	pids     []int
	admin    string // faed's admin host:port: time the handler of the call (my_query, mc_get)
	mariadb  string // a DSN of MariaDB, for its own time of the SELECTs
}

// phpStartup is how long the processes get to start before the warm-up
// counts: php-cli loading the Thrift library takes tens of milliseconds.
const phpStartup = 500 * time.Millisecond

// phpOutput is the JSON line backend.php prints.
type phpOutput struct {
	Calls      int      `json:"calls"`
	Latencies  []uint64 `json:"latencies_us"`
	Errors     int64    `json:"errors"`
	FirstError string   `json:"first_error"`
}

// runPHP runs cfg.procs PHP processes through the warm-up and the measured
// window, reading the servers' CPU time at both ends of the window.
func runPHP(cfg phpConfig) (result, error) {
	m, ok := phpModes[cfg.mode]
	if !ok {
		return result{}, fmt.Errorf("-php %q: want mysql, my_query, memcache or mc_get", cfg.mode)
	}
	if cfg.procs < 1 || cfg.duration <= 0 || cfg.warmup < 0 {
		return result{}, errors.New("-php wants -procs >= 1, -d > 0, -warmup >= 0")
	}
	if _, err := os.Stat(cfg.script); err != nil {
		return result{}, fmt.Errorf("-php-script: %w (run from the repository root, or say where backend.php is)", err)
	}
	if !m.faed && cfg.target.network != "tcp" {
		return result{}, fmt.Errorf("-php %s talks to the backend over TCP; -addr %s is not", cfg.mode, cfg.target)
	}
	if m.stores != "" {
		prepopulate(loadConfig{target: cfg.target, wire: wire{transport: "buffered", protocol: m.protocol()},
			call: m.stores, key: cfg.key, pool: cfg.pool, size: cfg.size})
	}
	start := time.Now().Add(phpStartup + cfg.warmup)
	end := start.Add(cfg.duration)
	addr := cfg.target.String()
	if !m.faed {
		addr = "tcp:" + cfg.target.address
	}
	args := append([]string{cfg.script, cfg.mode, addr, unixTime(start), unixTime(end), strconv.Itoa(cfg.size)}, m.args(cfg)...)

	ctx, cancel := context.WithDeadline(context.Background(), end.Add(30*time.Second))
	defer cancel()
	outs := make([]phpOutput, cfg.procs)
	errs := make([]error, cfg.procs)
	var wg sync.WaitGroup
	for i := range cfg.procs {
		wg.Go(func() { outs[i], errs[i] = runPHPProcess(ctx, args) })
	}
	clocks, err := cfg.clocks(m)
	if err != nil {
		cancel()
		wg.Wait()
		return result{}, err
	}
	before := make([][2]float64, len(clocks))
	var clockErrs []error
	w, werr := cpuWindow(cfg.pids, start, end, func() {
		for i, c := range clocks {
			var err error
			before[i], err = readNow(c)
			clockErrs = append(clockErrs, err)
		}
	})
	wg.Wait()
	if err := errors.Join(append(append(errs, werr), clockErrs...)...); err != nil {
		return result{}, err
	}
	r := phpResult(cfg, m.call, outs, w)
	means := make([]*float64, len(clocks))
	for i, c := range clocks {
		us, err := meanOver(c, before[i])
		if err != nil {
			return result{}, fmt.Errorf("timing %T: %w", c, err)
		}
		means[i] = &us
	}
	if m.faed && cfg.admin != "" {
		r.HandlerUs, means = means[0], means[1:]
	}
	if cfg.mariadb != "" {
		r.BackendUs = means[0]
	}
	return r, nil
}

// clocks are the clocks the run reads: faed's handler's if it calls faed
// and knows faed's admin address, then MariaDB's if it has a DSN.
func (cfg phpConfig) clocks(m phpMode) ([]clock, error) {
	var cs []clock
	if m.faed && cfg.admin != "" {
		cs = append(cs, handlerClock{cfg.admin, m.call})
	}
	if cfg.mariadb != "" {
		b, err := newBackendClock(cfg.mariadb)
		if err != nil {
			return nil, err
		}
		cs = append(cs, b)
	}
	return cs, nil
}

// unixTime formats t as backend.php's START and END: seconds since the
// epoch, to the microsecond.
func unixTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMicro())/1e6, 'f', 6, 64)
}

func runPHPProcess(ctx context.Context, args []string) (phpOutput, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "php", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		// php-cli prints its fatal errors on stdout.
		return phpOutput{}, fmt.Errorf("php %s: %v: %s", args[1], err, bytes.TrimSpace(append(stderr.Bytes(), stdout.Bytes()...)))
	}
	var out phpOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return phpOutput{}, fmt.Errorf("php %s printed %q: %v", args[1], stdout.Bytes(), err)
	}
	return out, nil
}

// phpResult merges what the processes measured into one row.
func phpResult(cfg phpConfig, call string, outs []phpOutput, w window) result {
	pattern := "php-fpm"
	if cfg.delayed {
		pattern += "+delay"
	}
	r := result{
		Mode: "load", Label: cfg.label, Target: cfg.target.String(), Call: call, Pattern: pattern,
		Transport: "php", Protocol: cfg.mode, Clients: cfg.procs,
	}
	var h histogram
	for _, o := range outs {
		for _, us := range o.Latencies {
			h.record(time.Duration(us) * time.Microsecond)
		}
		r.Errors += o.Errors
		if r.FirstError == "" {
			r.FirstError = o.FirstError
		}
	}
	r.measured(&h, w, len(cfg.pids))
	return r
}
