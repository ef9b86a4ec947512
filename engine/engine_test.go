package engine

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/scripts/testserver"
	"github.com/faed/faed/servant"

	"github.com/apache/thrift/lib/go/thrift"
)

// testHandler serves a few calls the tests need. Calls it does not define
// hit the nil embedded interface and panic, which the engine must survive.
type testHandler struct {
	rpc.FunServant
	release chan struct{} // lc_get "block" waits on it
	entered chan struct{} // lc_get "block" sends on it, if there is room, before waiting
}

func (h *testHandler) Noop(ctx context.Context, x int32) (int32, error) { return x, nil }

func (h *testHandler) Ping(ctx context.Context, rc *rpc.Context) (string, error) { return "pong", nil }

func (h *testHandler) LcGet(ctx context.Context, rc *rpc.Context, key string) ([]byte, error) {
	switch key {
	case "miss":
		return nil, &rpc.TCacheMissed{}
	case "fail":
		return nil, errors.New("lc_get: deliberate failure")
	case "block":
		select {
		case h.entered <- struct{}{}:
		default:
		}
		<-h.release
	}
	return []byte("v:" + key), nil
}

// testServer is an engine on a loopback TCP port and a unix socket.
type testServer struct {
	e       *Engine
	tcp     string
	unix    string
	handler *testHandler
	done    chan error
}

func startServer(t testing.TB, tweak func(*Config)) *testServer {
	t.Helper()
	return startServerLogging(t, tweak, slog.New(slog.DiscardHandler))
}

// startServerLogging is startServer with the engine logging to log.
func startServerLogging(t testing.TB, tweak func(*Config), log *slog.Logger) *testServer {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "faed.sock")
	cfg := DefaultConfig()
	cfg.Listen = []string{"tcp:127.0.0.1:0", "unix:" + sock}
	if tweak != nil {
		tweak(&cfg)
	}
	h := &testHandler{release: make(chan struct{}), entered: make(chan struct{}, 1)}
	e, err := New(cfg, servant.NewProcessor(h), log) // as cmd/faed serves it
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Listen(); err != nil {
		t.Fatal(err)
	}
	s := &testServer{e: e, tcp: e.Addrs()[0].String(), unix: sock, handler: h, done: make(chan error, 1)}
	go func() { s.done <- e.Serve(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.Shutdown(ctx)
	})
	return s
}

// client is a generated FunServant client on one connection.
type client struct {
	*rpc.FunServantClient
	conn net.Conn
}

func dial(t testing.TB, network, addr string, kind Kind) *client {
	t.Helper()
	conn, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var trans thrift.TTransport = thrift.NewTBufferedTransport(thrift.NewTSocketFromConnConf(conn, nil), 4096)
	if kind == KindFramedBinary || kind == KindFramedCompact {
		trans = thrift.NewTFramedTransportConf(thrift.NewTSocketFromConnConf(conn, nil), nil)
	}
	var p thrift.TProtocol = thrift.NewTBinaryProtocolConf(trans, nil)
	if kind == KindCompact || kind == KindFramedCompact {
		p = thrift.NewTCompactProtocolConf(trans, nil)
	}
	return &client{rpc.NewFunServantClient(thrift.NewTStandardClient(p, p)), conn}
}

var rc = &rpc.Context{Rid: 1, Reason: "test", UID: 7}

func TestEveryTransportAndProtocolOnOnePort(t *testing.T) {
	s := startServer(t, nil)
	kinds := []Kind{KindBinary, KindCompact, KindFramedBinary, KindFramedCompact}
	for _, network := range []string{"tcp", "unix"} {
		addr := map[string]string{"tcp": s.tcp, "unix": s.unix}[network]
		for _, kind := range kinds {
			t.Run(network+"/"+string(kind), func(t *testing.T) {
				c := dial(t, network, addr, kind)
				for i := range int32(3) {
					if got, err := c.Noop(context.Background(), 40+i); err != nil || got != 40+i {
						t.Fatalf("noop(%d) = %d, %v", 40+i, got, err)
					}
				}
				if v, err := c.LcGet(context.Background(), rc, "k"); err != nil || string(v) != "v:k" {
					t.Fatalf("lc_get = %q, %v", v, err)
				}
			})
		}
	}
}

func TestErrorsKeepTheConnectionOpen(t *testing.T) {
	s := startServer(t, nil)
	c := dial(t, "tcp", s.tcp, KindBinary)
	ctx := context.Background()

	var miss *rpc.TCacheMissed
	if _, err := c.LcGet(ctx, rc, "miss"); !errors.As(err, &miss) {
		t.Fatalf("lc_get miss: want TCacheMissed, got %v", err)
	}
	var appErr thrift.TApplicationException
	_, err := c.LcGet(ctx, rc, "fail")
	if !errors.As(err, &appErr) || !strings.Contains(err.Error(), "deliberate failure") {
		t.Fatalf("lc_get fail: want an application exception naming the failure, got %v", err)
	}
	// IDNext is not defined by testHandler: the nil interface panics.
	_, err = c.IDNext(ctx, rc)
	if !errors.As(err, &appErr) || appErr.TypeId() != thrift.INTERNAL_ERROR {
		t.Fatalf("panicking call: want INTERNAL_ERROR, got %v", err)
	}
	if got, err := c.Noop(ctx, 5); err != nil || got != 5 {
		t.Fatalf("noop after errors on the same connection = %d, %v", got, err)
	}
	snap := s.e.Stats().Snapshot()
	if snap.Panics != 1 || snap.Errors < 2 {
		t.Fatalf("stats: panics %d errors %d, want 1 and at least 2", snap.Panics, snap.Errors)
	}
}

func TestIdleTimeoutCutsOffASilentClient(t *testing.T) {
	s := startServer(t, func(c *Config) { c.IdleTimeout = 150 * time.Millisecond })
	c := dial(t, "tcp", s.tcp, KindBinary)
	if _, err := c.Noop(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.conn.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("silent client: want EOF from the server, got %d bytes, %v", n, err)
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 2*time.Second {
		t.Fatalf("idle connection closed after %v, want about 150ms", d)
	}
}

func TestReadTimeoutCutsOffAHalfSentCall(t *testing.T) {
	s := startServer(t, func(c *Config) { c.ReadTimeout = 150 * time.Millisecond })
	conn, err := net.Dial("tcp", s.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	call := encodeCall(t, "noop", func(p thrift.TProtocol) {
		(&rpc.FunServantNoopArgs{X: 1}).Write(context.Background(), p)
	})
	conn.Write(call[:len(call)-3]) // the rest never comes
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	// The server may say why (a PROTOCOL_ERROR) before it closes.
	if _, err := io.ReadAll(conn); err != nil {
		t.Fatalf("stalled call: want EOF, got %v", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 2*time.Second {
		t.Fatalf("stalled call cut off after %v, want about 150ms", d)
	}
}

// encodeCall renders one strict-binary call message.
func encodeCall(t *testing.T, name string, args func(thrift.TProtocol)) []byte {
	t.Helper()
	buf := thrift.NewTMemoryBuffer()
	p := thrift.NewTBinaryProtocolConf(buf, nil)
	ctx := context.Background()
	p.WriteMessageBegin(ctx, name, thrift.CALL, 1)
	args(p)
	p.WriteMessageEnd(ctx)
	p.Flush(ctx)
	return buf.Bytes()
}

func TestSessionLimitMakesNewConnectionsWait(t *testing.T) {
	s := startServer(t, func(c *Config) { c.MaxOutstandingSessions = 2 })
	a := dial(t, "tcp", s.tcp, KindBinary)
	b := dial(t, "tcp", s.tcp, KindBinary)
	for _, c := range []*client{a, b} {
		if _, err := c.Noop(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
	}
	third := dial(t, "tcp", s.tcp, KindBinary)
	answered := make(chan error, 1)
	go func() {
		_, err := third.Noop(context.Background(), 3)
		answered <- err
	}()
	select {
	case err := <-answered:
		t.Fatalf("third connection served past max_outstanding_sessions=2 (err %v)", err)
	case <-time.After(200 * time.Millisecond):
	}
	a.conn.Close()
	select {
	case err := <-answered:
		if err != nil {
			t.Fatalf("third connection after a slot freed: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("third connection still waiting after a slot freed")
	}
	if w := s.e.Stats().Snapshot().SessionWaits; w < 1 {
		t.Fatalf("session waits = %d, want at least 1", w)
	}
}

func TestShutdownDrainsCallsInFlight(t *testing.T) {
	s := startServer(t, nil)
	busy := dial(t, "unix", s.unix, KindBinary)
	idle := dial(t, "unix", s.unix, KindBinary)
	if _, err := idle.Noop(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	reply := make(chan error, 1)
	go func() {
		v, err := busy.LcGet(context.Background(), rc, "block")
		if err == nil && string(v) != "v:block" {
			err = errors.New("wrong value " + string(v))
		}
		reply <- err
	}()
	testserver.Eventually(t, "the blocking call to start", waitLimit, func() bool { return callCount(s.e, "lc_get") == 0 && s.e.Stats().Snapshot().SessionsActive == 2 })
	awaitEntered(t, s.handler)

	shutdown := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shutdown <- s.e.Shutdown(ctx)
	}()
	// The idle connection is closed at once; the busy one is not.
	idle.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := idle.conn.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle connection during drain: want EOF, got %v", err)
	}
	if _, err := net.Dial("unix", s.unix); err == nil {
		t.Fatal("new connections still accepted during drain")
	}
	close(s.handler.release)
	if err := <-reply; err != nil {
		t.Fatalf("call in flight during drain: %v", err)
	}
	if err := <-shutdown; err != nil {
		t.Fatalf("Shutdown = %v, want nil", err)
	}
	if err := <-s.done; err != nil {
		t.Fatalf("Serve = %v", err)
	}
}

func TestShutdownDeadlineClosesStuckCalls(t *testing.T) {
	s := startServer(t, nil)
	c := dial(t, "tcp", s.tcp, KindBinary)
	reply := make(chan error, 1)
	go func() {
		_, err := c.LcGet(context.Background(), rc, "block")
		reply <- err
	}()
	testserver.Eventually(t, "the blocking call to start", waitLimit, func() bool { return s.e.Stats().Snapshot().SessionsActive == 1 })
	awaitEntered(t, s.handler)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	go func() {
		// Deliberately late: Shutdown must give up at its deadline while
		// the handler still holds the call.
		time.Sleep(300 * time.Millisecond)
		close(s.handler.release) // let the handler goroutine finish eventually
	}()
	if err := s.e.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
	}
	if err := <-reply; err == nil {
		t.Fatal("stuck call got a reply after the drain deadline closed its connection")
	}
}

func callCount(e *Engine, name string) int64 { return e.Stats().perCall[name].calls.Count() }

// waitLimit bounds the engine tests' waits for a condition.
const waitLimit = 5 * time.Second

// awaitEntered waits until an lc_get "block" has reached the handler.
func awaitEntered(t *testing.T, h *testHandler) {
	t.Helper()
	select {
	case <-h.entered:
	case <-time.After(waitLimit):
		t.Fatal("the blocking call did not reach the handler within 5s")
	}
}

func TestConcurrentClients(t *testing.T) {
	s := startServer(t, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dial(t, "unix", s.unix, KindBinary)
			for j := range int32(200) {
				if got, err := c.Noop(context.Background(), j); err != nil || got != j {
					errs <- errors.Join(err, errors.New("wrong noop reply"))
					return
				}
			}
			_ = i
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := callCount(s.e, "noop"); n != 32*200 {
		t.Fatalf("noop count = %d, want %d", n, 32*200)
	}
}

func TestACallIsCountedBeforeItsReplyArrives(t *testing.T) {
	s := startServer(t, nil)
	c := dial(t, "unix", s.unix, KindFramedBinary)
	for i := range int64(200) {
		if _, err := c.LcGet(context.Background(), rc, "k"); err != nil {
			t.Fatal(err)
		}
		if n := callCount(s.e, "lc_get"); n != i+1 {
			t.Fatalf("after %d replies the stats count %d lc_get calls", i+1, n)
		}
	}
}

// With call_stats off, calls are served and /stats says the per-call
// counts stand still; a reload turns them on again.
func TestCallStatsOff(t *testing.T) {
	var cfg Config
	s := startServer(t, func(c *Config) { c.CallStats = false; cfg = *c })
	c := dial(t, "unix", s.unix, KindBinary)
	call := func() {
		t.Helper()
		if _, err := c.Noop(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Ping(context.Background(), rc); err != nil {
			t.Fatal(err)
		}
	}
	call()
	if snap := s.e.Stats().Snapshot(); snap.CallStats || snap.Calls != 0 || len(snap.PerCall) != 0 {
		t.Fatalf("call_stats off: snapshot says call_stats %v, %d calls, per_call %v", snap.CallStats, snap.Calls, snap.PerCall)
	}
	cfg.CallStats = true
	if err := s.e.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	// The session waiting for its next call read the settings already.
	c = dial(t, "unix", s.unix, KindBinary)
	call()
	if snap := s.e.Stats().Snapshot(); !snap.CallStats || snap.Calls != 2 {
		t.Fatalf("call_stats on again: snapshot says call_stats %v, %d calls, want 2", snap.CallStats, snap.Calls)
	}
}
