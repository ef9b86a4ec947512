package peer

import (
	"bytes"
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

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/pool"
	"github.com/faed/faed/scripts/testserver"

	"github.com/apache/thrift/lib/go/thrift"
)

// handler answers the few calls the tests make; any other call panics on the
// nil embedded interface, which the processor turns into an exception.
type handler struct {
	rpc.FunServant
	noops   atomic.Int64
	release chan struct{} // "slow" waits on it
}

func (h *handler) Noop(_ context.Context, x int32) (int32, error) {
	h.noops.Add(1)
	return x, nil
}

func (h *handler) LcGet(_ context.Context, _ *rpc.Context, key string) ([]byte, error) {
	switch key {
	case "miss":
		return nil, &rpc.TCacheMissed{Message: thrift.StringPtr("no " + key)}
	case "fail":
		return nil, errors.New("backend exploded")
	case "slow":
		<-h.release
	}
	return []byte("value of " + key), nil
}

// thriftServer serves FunServant with the generated processor over buffered
// binary Thrift on loopback, counting the connections it accepts. kill closes
// the listener and every connection.
type thriftServer struct {
	addr    string
	h       *handler
	ln      net.Listener
	accepts atomic.Int64
	wg      sync.WaitGroup

	mu    sync.Mutex // guards conns
	conns map[net.Conn]bool
}

func startThriftServer(t testing.TB) *thriftServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &thriftServer{addr: ln.Addr().String(), ln: ln, conns: map[net.Conn]bool{},
		h: &handler{release: make(chan struct{})}}
	s.wg.Go(s.accept)
	t.Cleanup(func() { close(s.h.release); s.kill(); s.wg.Wait() })
	return s
}

func (s *thriftServer) accept() {
	proc := rpc.NewFunServantProcessor(s.h)
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.accepts.Add(1)
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Go(func() { serveConn(proc, c) })
	}
}

func serveConn(proc thrift.TProcessor, c net.Conn) {
	defer c.Close()
	proto := thrift.NewTBinaryProtocolConf(thrift.NewStreamTransportRW(c), nil)
	for {
		// Like TSimpleServer: a handler's error has been answered as an
		// exception; only a transport error or !ok ends the connection.
		ok, err := proc.Process(context.Background(), proto, proto)
		var te thrift.TTransportException
		if !ok || errors.As(err, &te) {
			return
		}
	}
}

func (s *thriftServer) kill() {
	s.ln.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

func testPeers(t testing.TB, cfg Config) *Peers {
	t.Helper()
	ps := NewPeers(withTestDefaults(cfg), quietLog(t))
	t.Cleanup(ps.Close)
	return ps
}

func lcGet(ctx context.Context, ps *Peers, addr, key string) ([]byte, error) {
	var v []byte
	err := ps.Do(ctx, addr, func(c rpc.FunServant) (err error) {
		v, err = c.LcGet(ctx, &rpc.Context{Rid: 1, Reason: "test", Sticky: thrift.BoolPtr(true)}, key)
		return err
	})
	return v, err
}

func peerStats(t *testing.T, ps *Peers, addr string) PeerStats {
	t.Helper()
	for _, st := range ps.Stats() {
		if st.Addr == addr {
			return st
		}
	}
	t.Fatalf("no stats for peer %s in %+v", addr, ps.Stats())
	return PeerStats{}
}

// The peer's own answers — a value, a declared exception, an application
// exception — all come back as they are, on one reused connection.
func TestForwardKeepsConnectionOnAnswers(t *testing.T) {
	s := startThriftServer(t)
	ps := testPeers(t, Config{})
	ctx := context.Background()

	if v, err := lcGet(ctx, ps, s.addr, "k1"); err != nil || string(v) != "value of k1" {
		t.Fatalf("lc_get k1 = %q, %v", v, err)
	}
	_, err := lcGet(ctx, ps, s.addr, "miss")
	var miss *rpc.TCacheMissed
	if !errors.As(err, &miss) || errors.Is(err, ErrUnreachable) {
		t.Fatalf("lc_get miss: err = %v (%T), want a bare *rpc.TCacheMissed", err, err)
	}
	_, err = lcGet(ctx, ps, s.addr, "fail")
	var ae thrift.TApplicationException
	if !errors.As(err, &ae) || errors.Is(err, ErrUnreachable) {
		t.Fatalf("lc_get fail: err = %v (%T), want a TApplicationException", err, err)
	}
	if _, err := lcGet(ctx, ps, s.addr, "k2"); err != nil {
		t.Fatalf("lc_get after the exceptions: %v", err)
	}
	if n := s.accepts.Load(); n != 1 {
		t.Errorf("server accepted %d connections, want 1 reused throughout", n)
	}
	st := peerStats(t, ps, s.addr)
	if st.Forwarded != 4 || st.Errors != 0 || st.Pool.BrokenCloses != 0 || st.Pool.Breaker.State != pool.StateClosed {
		t.Errorf("stats %+v: want 4 forwarded, 0 errors, 0 broken closes, breaker closed", st)
	}
}

// A call cut off by CallTimeout leaves the stream out of step: the connection
// is closed and the next call dials a new one.
func TestForwardTimeoutDiscardsConnection(t *testing.T) {
	s := startThriftServer(t)
	ps := testPeers(t, Config{CallTimeout: 150 * time.Millisecond})
	ctx := context.Background()

	_, err := lcGet(ctx, ps, s.addr, "slow")
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), s.addr) {
		t.Fatalf("slow call: err = %v, want ErrUnreachable naming %s", err, s.addr)
	}
	if _, err := lcGet(ctx, ps, s.addr, "k"); err != nil {
		t.Fatalf("call after the timeout: %v", err)
	}
	if n := s.accepts.Load(); n != 2 {
		t.Errorf("server accepted %d connections, want 2 (the timed-out one replaced)", n)
	}
	if st := peerStats(t, ps, s.addr); st.Errors != 1 || st.Pool.BrokenCloses != 1 {
		t.Errorf("stats %+v: want 1 error and 1 broken close", st)
	}
}

// CallTimeout bounds a call whose ctx has a later deadline too. The Thrift
// protocol reads again after a timed-out read while the ctx lives; before
// the connections reported a passed deadline as something else, such a
// call spun on the expired deadline until its ctx ended, its answer unread.
func TestForwardTimeoutBeforeTheCallsDeadline(t *testing.T) {
	s := startThriftServer(t)
	ps := testPeers(t, Config{CallTimeout: 150 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	began := time.Now()
	_, err := lcGet(ctx, ps, s.addr, "slow")
	if took := time.Since(began); !errors.Is(err, ErrUnreachable) || took > 2*time.Second {
		t.Fatalf("slow call with a 20s ctx: err = %v after %v, want ErrUnreachable after about 150ms", err, took)
	}
}

// A killed peer fails every call with an error naming it, and after
// FailureThreshold failures its breaker opens and calls fail fast.
func TestForwardKilledPeerOpensBreaker(t *testing.T) {
	s := startThriftServer(t)
	ps := testPeers(t, Config{Breaker: pool.BreakerConfig{FailureThreshold: 2, RetryInterval: time.Minute}})
	ctx := context.Background()
	if _, err := lcGet(ctx, ps, s.addr, "k"); err != nil {
		t.Fatal(err)
	}
	s.kill()
	var err error
	for i := 0; i < 5 && !errors.Is(err, pool.ErrCircuitOpen); i++ {
		_, err = lcGet(ctx, ps, s.addr, "k")
		if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), s.addr) {
			t.Fatalf("call %d to the killed peer: err = %v, want ErrUnreachable naming %s", i, err, s.addr)
		}
	}
	if !errors.Is(err, pool.ErrCircuitOpen) {
		t.Fatalf("breaker never opened; last err = %v", err)
	}
	if st := peerStats(t, ps, s.addr); st.Pool.Breaker.State != pool.StateOpen || st.Errors < 3 {
		t.Errorf("stats %+v: want breaker open and at least 3 errors", st)
	}
}

// Run's heartbeat pings idle peer connections with noop.
func TestForwardHeartbeat(t *testing.T) {
	s := startThriftServer(t)
	ps := testPeers(t, Config{Peer: pool.Config{HeartbeatInterval: 20 * time.Millisecond}})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { ps.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	if _, err := lcGet(ctx, ps, s.addr, "k"); err != nil {
		t.Fatal(err)
	}
	testserver.EventuallyNil(t, "noop heartbeats", 5*time.Second, func() error {
		if n := s.h.noops.Load(); n < 2 {
			return fmt.Errorf("%d noop heartbeats so far", n)
		}
		return nil
	})
	if n := s.accepts.Load(); n != 1 {
		t.Errorf("server accepted %d connections, want the one, kept alive", n)
	}
}

// A peer that leaves the member list loses its pool, and with it its connections.
func TestForwardRetainClosesDepartedPeers(t *testing.T) {
	a, b := startThriftServer(t), startThriftServer(t)
	ps := testPeers(t, Config{})
	for _, addr := range []string{a.addr, b.addr} {
		if _, err := lcGet(context.Background(), ps, addr, "k"); err != nil {
			t.Fatal(err)
		}
	}
	ps.retain(newMemberList([]string{a.addr}, 2))
	st := ps.Stats()
	if len(st) != 1 || st[0].Addr != a.addr {
		t.Fatalf("after retain: peers %+v, want only %s", st, a.addr)
	}
	ps.Close()
	if _, err := lcGet(context.Background(), ps, a.addr, "k"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Do after Close: err = %v, want ErrClosed", err)
	}
}

func TestIsBroken(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"declared exception", &rpc.TCacheMissed{}, false},
		{"wrapped declared exception", fmt.Errorf("x: %w", &rpc.TMongoNotFound{}), false},
		{"internal error", thrift.NewTApplicationException(thrift.INTERNAL_ERROR, "x"), false},
		{"unknown method", thrift.NewTApplicationException(thrift.UNKNOWN_METHOD, "x"), false},
		{"bad sequence id", thrift.NewTApplicationException(thrift.BAD_SEQUENCE_ID, "x"), true},
		{"wrong method name", thrift.NewTApplicationException(thrift.WRONG_METHOD_NAME, "x"), true},
		{"transport", thrift.NewTTransportExceptionFromError(io.EOF), true},
		{"protocol", thrift.NewTProtocolException(errors.New("bad")), true},
		{"eof", io.EOF, true},
		{"canceled", context.Canceled, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isBroken(tt.err); got != tt.want {
				t.Errorf("isBroken(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// Each forwarded call leaves in one write: a request split over several
// writes would cost syscalls, and a TCP segment each.
func TestForwardOneWritePerCall(t *testing.T) {
	reply := lcGetReply(t, []byte("value of k"))
	var conns []*cannedConn
	ps := testPeers(t, Config{})
	ps.dial = func(context.Context, string) (*conn, error) {
		c := &cannedConn{Conn: loopbackConn(t), reply: bytes.Clone(reply)}
		conns = append(conns, c)
		return newConn(c), nil
	}
	const calls = 3
	for range calls {
		if v, err := lcGet(context.Background(), ps, "127.0.0.1:1", "k"); err != nil || string(v) != "value of k" {
			t.Fatalf("lc_get = %q, %v", v, err)
		}
	}
	if len(conns) != 1 || conns[0].writes != calls {
		t.Fatalf("%d connections, writes %+v; want 1 connection with %d writes", len(conns), conns, calls)
	}
}

// A call's deadline is refreshed only once it is less than 7/8 of
// CallTimeout away, and never lies past CallTimeout nor past ctx's deadline.
func TestArmDeadline(t *testing.T) {
	const timeout = 8 * time.Second
	short, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		left    time.Duration // the deadline already set, from now; 0 for none
		refresh bool
	}{
		{"none set yet", context.Background(), 0, true},
		{"just set", context.Background(), timeout, false},
		{"7/8 left", context.Background(), timeout*7/8 + 100*time.Millisecond, false},
		{"under 7/8 left", context.Background(), timeout*7/8 - 100*time.Millisecond, true},
		{"past the timeout", context.Background(), timeout + time.Second, true},
		{"ctx deadline sooner", short, timeout, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &conn{nc: loopbackConn(t)}
			if tt.left > 0 {
				c.deadline = time.Now().Add(tt.left)
			}
			was := c.deadline
			start := time.Now()
			if err := c.arm(tt.ctx, timeout); err != nil {
				t.Fatal(err)
			}
			if got := !c.deadline.Equal(was); got != tt.refresh {
				t.Errorf("refreshed = %v, want %v", got, tt.refresh)
			}
			latest, earliest := time.Now().Add(timeout), start.Add(timeout*7/8)
			if d, ok := tt.ctx.Deadline(); ok {
				latest, earliest = d, d
			}
			if c.deadline.After(latest) || c.deadline.Before(earliest) {
				t.Errorf("deadline in %v, want between %v and %v from now",
					time.Until(c.deadline), time.Until(earliest), time.Until(latest))
			}
		})
	}
}

// deadlineConn records the deadlines set on it.
type deadlineConn struct {
	net.Conn
	set []time.Time
}

func (c *deadlineConn) SetDeadline(t time.Time) error { c.set = append(c.set, t); return nil }

// TestZeroCallTimeoutIsOff: with [cluster] call_timeout 0 a forward runs
// under the call's own deadline alone, not a default and not at once.
func TestZeroCallTimeoutIsOff(t *testing.T) {
	nc := &deadlineConn{}
	c := &conn{nc: nc}
	if err := c.arm(context.Background(), 0); err != nil || len(nc.set) != 0 {
		t.Fatalf("no call deadline: arm set %v (err %v), want no deadline", nc.set, err)
	}
	dl := time.Now().Add(time.Hour)
	ctx, cancel := context.WithDeadline(context.Background(), dl)
	defer cancel()
	if err := c.arm(ctx, 0); err != nil || len(nc.set) != 1 || !nc.set[0].Equal(dl) {
		t.Fatalf("call deadline %v: arm set %v (err %v), want exactly it", dl, nc.set, err)
	}
}
