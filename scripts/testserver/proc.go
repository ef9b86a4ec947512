package testserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	readyEvery = 50 * time.Millisecond
	stopGrace  = 15 * time.Second // after SIGTERM, before SIGKILL
	tailLines  = 40
)

// proc is one server process that can be stopped and started again with the same command line,
// so it comes back on the same ports with the same data. Its methods that take no t may be called
// from any goroutine; start and restart call t.Fatal and belong on the test's goroutine.
type proc struct {
	t       testing.TB
	name    string // how messages call it: "memcached 127.0.0.1:4242"
	path    string
	args    []string
	logPath string         // stdout and stderr of every run, appended
	timeout time.Duration  // how long start waits for ready
	stopSig syscall.Signal // what stop sends first; if zero, SIGTERM
	ready   func(ctx context.Context) error

	// mu guards cur.
	mu  sync.Mutex
	cur *run // nil while stopped
}

// run is one life of the process.
type run struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd.Wait has returned
	err    error         // cmd.Wait's result, set before exited is closed
}

// newProc returns a stopped proc and registers its stop with t.Cleanup. Call it after the
// t.TempDir calls for the proc's files, so that the process stops before they are removed.
func newProc(t testing.TB, p *proc) *proc {
	p.t = t
	t.Cleanup(p.stop)
	// A test that failed beside a server may have failed because of it:
	// a restarted ZooKeeper refusing its old clients says so only here.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testserver: the test failed; last lines of %s (%s):\n%s", p.logPath, p.name, tail(p.logPath, tailLines))
		}
	})
	return p
}

// start launches the process and waits until it is ready; on failure it prints the tail of
// the log and fails the test.
func (p *proc) start() {
	p.t.Helper()
	began := time.Now()
	r, err := p.launch()
	if err == nil {
		err = p.waitReady(r)
	}
	if err != nil {
		p.fail(err)
	}
	p.t.Logf("testserver: %s ready in %v", p.name, time.Since(began).Round(time.Millisecond))
}

// restart stops the process and starts it again with the same command line.
func (p *proc) restart() {
	p.t.Helper()
	p.stop()
	p.start()
}

// launch starts the process without waiting for it to be ready.
func (p *proc) launch() (*run, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur != nil {
		return nil, fmt.Errorf("%s is already running", p.name)
	}
	log, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer log.Close() // the child holds its own copy
	fmt.Fprintf(log, "=== %s: %s %s\n", time.Now().Format(time.RFC3339Nano), p.path, strings.Join(p.args, " "))

	cmd := exec.Command(p.path, p.args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", p.name, err)
	}
	r := &run{cmd: cmd, exited: make(chan struct{})}
	go func() {
		r.err = cmd.Wait()
		close(r.exited)
	}()
	p.cur = r
	return r, nil
}

// waitReady polls p.ready until it succeeds, the process exits, or p.timeout passes.
func (p *proc) waitReady(r *run) error {
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	tick := time.NewTicker(readyEvery)
	defer tick.Stop()
	for {
		err := p.ready(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-r.exited:
			return fmt.Errorf("%s exited before it was ready: %v (last check: %v)", p.name, r.err, err)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %v: %w", p.name, p.timeout, err)
		case <-tick.C:
		}
	}
}

// stop sends p.stopSig, waits up to stopGrace, then kills. It is idempotent.
func (p *proc) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.cur
	if r == nil {
		return
	}
	p.cur = nil
	sig := p.stopSig
	if sig == 0 {
		sig = syscall.SIGTERM
	}
	_ = r.cmd.Process.Signal(sig)
	select {
	case <-r.exited:
	case <-time.After(stopGrace):
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
}

// fail stops the process, prints the tail of its log and fails the test.
func (p *proc) fail(err error) {
	p.t.Helper()
	p.stop()
	p.t.Logf("testserver: last lines of %s:\n%s", p.logPath, tail(p.logPath, tailLines))
	p.t.Fatalf("testserver: %v", err)
}

// tail returns the last n lines of the file at path, or why it could not read them.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// attempt bounds one readiness check, so that a hung connection cannot eat the whole deadline.
func attempt(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 2*time.Second)
}

var errNotReady = errors.New("not ready")
