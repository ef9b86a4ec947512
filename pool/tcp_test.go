package pool

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faed/faed/scripts/testserver"
)

type netConn = net.Conn

// testServer is a loopback TCP server answering "PING\n" with "PONG\n". It can
// be killed (listener and connections closed) and restarted on the same port,
// drop its connections while listening, or go silent (read, never answer).
type testServer struct {
	addr   string
	silent atomic.Bool
	wg     sync.WaitGroup

	mu    sync.Mutex // guards ln and conns
	ln    net.Listener
	conns map[net.Conn]struct{}
}

func startServer(t *testing.T) *testServer {
	t.Helper()
	s := &testServer{conns: map[net.Conn]struct{}{}}
	if err := s.listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.kill(); s.wg.Wait() })
	return s
}

func (s *testServer) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.ln, s.addr = ln, ln.Addr().String()
	s.mu.Unlock()
	s.wg.Add(1)
	go s.accept(ln)
	return nil
}

func (s *testServer) accept(ln net.Listener) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		if !s.track(ln, c) {
			c.Close()
			continue
		}
		s.wg.Add(1)
		go s.serve(c)
	}
}

// track records c, unless the server was killed since ln accepted it.
func (s *testServer) track(ln net.Listener, c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != ln {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *testServer) serve(c net.Conn) {
	defer s.wg.Done()
	defer c.Close()
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		if s.silent.Load() {
			continue
		}
		reply := sc.Text()
		if reply == "PING" {
			reply = "PONG"
		}
		if _, err := io.WriteString(c, reply+"\n"); err != nil {
			return
		}
	}
}

// kill closes the listener and every connection, as a crashed server would.
func (s *testServer) kill() {
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
	}
	s.mu.Unlock()
	s.dropConns()
}

// dropConns closes every server-side connection but keeps listening.
func (s *testServer) dropConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
		delete(s.conns, c)
	}
}

// roundTrip sends PING and expects PONG. It sets no deadline.
func roundTrip(c net.Conn) error {
	if _, err := io.WriteString(c, "PING\n"); err != nil {
		return err
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != "PONG\n" {
		return fmt.Errorf("bad reply %q", buf)
	}
	return nil
}

// call is one request the way a backend package makes it: the I/O deadline is
// the caller's, set on the connection for this call only.
func call(c net.Conn, timeout time.Duration) error {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	return roundTrip(c)
}

func tcpFuncs(addr string) Funcs[net.Conn] {
	var d net.Dialer
	return Funcs[net.Conn]{
		Dial:  func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) },
		Close: net.Conn.Close,
		Ping: func(ctx context.Context, c net.Conn) error {
			deadline, _ := ctx.Deadline()
			if err := c.SetDeadline(deadline); err != nil {
				return err
			}
			return roundTrip(c)
		},
	}
}

// openCount counts client connections open at once, and the most ever.
type openCount struct{ now, max atomic.Int64 }

func countingTCPFuncs(addr string) (Funcs[net.Conn], *openCount) {
	fn, n := tcpFuncs(addr), &openCount{}
	dial, closeConn := fn.Dial, fn.Close
	fn.Dial = func(ctx context.Context) (net.Conn, error) {
		c, err := dial(ctx)
		if err == nil {
			cur := n.now.Add(1)
			for m := n.max.Load(); cur > m && !n.max.CompareAndSwap(m, cur); m = n.max.Load() {
			}
		}
		return c, err
	}
	fn.Close = func(c net.Conn) error { n.now.Add(-1); return closeConn(c) }
	return fn, n
}

func newTCPPool(t *testing.T, addr string, cfg Config, bcfg BreakerConfig) *Pool[net.Conn] {
	t.Helper()
	br, err := NewBreaker(addr, withTestDefaults(bcfg))
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(addr, withTestDefaults(cfg), br, tcpFuncs(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestTCPBrokenDiscardedKeptReused(t *testing.T) {
	srv := startServer(t)
	p := newTCPPool(t, srv.addr, Config{}, BreakerConfig{})
	c := mustGet(t, p)
	p.Put(c, call(c, time.Second))
	again := mustGet(t, p)
	if again != c {
		t.Fatalf("Get after a clean Put dialled %v, want the idle conn %v reused", again.LocalAddr(), c.LocalAddr())
	}
	srv.dropConns()
	err := call(again, time.Second)
	if !IsBroken(err) {
		t.Fatalf("call on a dropped conn = %v, want a connection-level error", err)
	}
	p.Put(again, err)
	fresh := mustGet(t, p)
	if fresh == c {
		t.Fatal("Get after a broken Put returned the broken conn")
	}
	if err := call(fresh, time.Second); err != nil {
		t.Fatalf("call on the fresh conn: %v", err)
	}
	p.Put(fresh, nil)
	if s := p.Stats(); s.BrokenCloses != 1 || s.Dials != 2 || s.Breaker.ConsecutiveFailures != 0 {
		t.Fatalf("stats %+v; want 1 broken close, 2 dials, breaker reset by the success", s)
	}
}

// TestTCPBreakerOpensFailsFastAndRecovers kills the server, counts the
// failures it takes to open the breaker, times the refusals, restarts the
// server on the same port and waits for the pool to recover on its own.
func TestTCPBreakerOpensFailsFastAndRecovers(t *testing.T) {
	const threshold = 3
	srv := startServer(t)
	cfg := Config{DialTimeout: 2 * time.Second}
	p := newTCPPool(t, srv.addr, cfg, BreakerConfig{FailureThreshold: threshold, RetryInterval: 200 * time.Millisecond})
	c := mustGet(t, p)
	p.Put(c, call(c, time.Second)) // leave an idle conn that the kill will break

	srv.kill()
	for i := range threshold {
		if err := useOnce(p); err == nil || errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("attempt %d on a dead server = %v, want a dial or I/O error", i+1, err)
		}
	}
	assertFailsFast(t, p, srv.addr, cfg.DialTimeout)

	if err := srv.listen(srv.addr); err != nil {
		t.Fatalf("restarting the server on %s: %v", srv.addr, err)
	}
	testserver.Eventually(t, "the pool to recover", waitLimit, func() bool {
		err := useOnce(p)
		if err != nil && !errors.Is(err, ErrCircuitOpen) {
			t.Errorf("while recovering: %v", err)
		}
		return err == nil
	})
	if s := p.Breaker().Snapshot(); s.State != StateClosed || s.Opens != 1 || s.Reason != "trial call succeeded" {
		t.Fatalf("breaker %+v; want closed by a trial after one open", s)
	}
}

// useOnce makes one call through the pool.
func useOnce(p *Pool[net.Conn]) error {
	c, err := p.Get(context.Background())
	if err != nil {
		return err
	}
	err = call(c, time.Second)
	p.Put(c, err)
	return err
}

func assertFailsFast(t *testing.T, p *Pool[net.Conn], addr string, dialTimeout time.Duration) {
	t.Helper()
	dials := p.Stats().Dials
	start := time.Now()
	_, err := p.Get(context.Background())
	took := time.Since(start)
	if !errors.Is(err, ErrCircuitOpen) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("Get with the breaker open = %v, want ErrCircuitOpen naming %s", err, addr)
	}
	if took > dialTimeout/40 || p.Stats().Dials != dials {
		t.Fatalf("refusal took %v and dialled %d times; want no dial, well under %v", took, p.Stats().Dials-dials, dialTimeout)
	}
	t.Logf("open breaker refused in %v: %v", took, err)
}

func TestTCPHeartbeatClosesDeadConn(t *testing.T) {
	srv := startServer(t)
	p := newTCPPool(t, srv.addr, Config{HeartbeatInterval: 10 * time.Millisecond}, BreakerConfig{})
	go p.Run(t.Context())
	c := mustGet(t, p)
	p.Put(c, call(c, time.Second))
	srv.dropConns()
	testserver.Eventually(t, "the heartbeat to close the dead conn", waitLimit, func() bool {
		s := p.Stats()
		return s.HeartbeatFailures == 1 && s.Open == 0
	})
	if s := p.Stats(); s.Open != 0 || s.Idle != 0 || s.Breaker.ConsecutiveFailures != 0 {
		t.Fatalf("stats %+v; want the conn gone and the breaker untouched", s)
	}
	if err := useOnce(p); err != nil {
		t.Fatalf("call after the heartbeat: %v", err)
	}
}

// TestTCPSilentServerCutByDeadline: the pool sets no deadline on a connection;
// the caller's per-call deadline is what frees it from a server that never answers.
func TestTCPSilentServerCutByDeadline(t *testing.T) {
	srv := startServer(t)
	srv.silent.Store(true)
	p := newTCPPool(t, srv.addr, Config{}, BreakerConfig{})
	c := mustGet(t, p)
	start := time.Now()
	err := call(c, 50*time.Millisecond)
	took := time.Since(start)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || took > time.Second {
		t.Fatalf("call to a silent server = %v after %v, want a timeout after ~50ms", err, took)
	}
	p.Put(c, err)
	if s := p.Stats(); s.BrokenCloses != 1 || s.Open != 0 || s.Breaker.ConsecutiveFailures != 1 {
		t.Fatalf("stats %+v; want the timed-out conn closed and one breaker failure", s)
	}
}
