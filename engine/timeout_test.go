package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/scripts/testserver"

	"github.com/apache/thrift/lib/go/thrift"
)

// clockHandler serves lc_get with the behaviours the timeout tests need.
type clockHandler struct{ rpc.FunServant }

// hugeReply is far past what loopback socket buffers absorb.
const hugeReply = 64 << 20

func (clockHandler) LcGet(ctx context.Context, rc *rpc.Context, key string) ([]byte, error) {
	switch key {
	case "slow":
		time.Sleep(600 * time.Millisecond)
	case "huge":
		return bytes.Repeat([]byte("x"), hugeReply), nil
	case "deadline":
		return nil, fmt.Errorf("deadline 1s exceeded waiting for test: %w", context.DeadlineExceeded)
	}
	return []byte("v:" + key), nil
}

// startClockServer runs an engine over clockHandler on loopback TCP and
// returns it with its address and its log.
func startClockServer(t *testing.T, tweak func(*Config)) (*Engine, string, *testserver.LockedBuffer) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Listen = []string{"tcp:127.0.0.1:0"}
	tweak(&cfg)
	logs := &testserver.LockedBuffer{}
	e, err := New(cfg, rpc.NewFunServantProcessor(clockHandler{}), slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.Serve(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.Shutdown(ctx)
		<-done
	})
	return e, e.Addrs()[0].String(), logs
}

func TestACallLongerThanReadAndWriteTimeoutsGetsItsReply(t *testing.T) {
	_, addr, _ := startClockServer(t, func(c *Config) {
		c.ReadTimeout, c.WriteTimeout = 150*time.Millisecond, 150*time.Millisecond
	})
	c := dial(t, "tcp", addr, KindBinary)
	ctx := context.Background()
	for i := range 2 { // the second proves the connection outlived the first
		start := time.Now()
		v, err := c.LcGet(ctx, &rpc.Context{}, "slow")
		if err != nil || string(v) != "v:slow" {
			t.Fatalf("call %d taking 600ms with read/write timeouts of 150ms: %q, %v", i, v, err)
		}
		if d := time.Since(start); d < 600*time.Millisecond {
			t.Fatalf("call %d answered after %v, before the handler could finish", i, d)
		}
	}
	if v, err := c.LcGet(ctx, &rpc.Context{}, "k"); err != nil || string(v) != "v:k" {
		t.Fatalf("next call on the same connection: %q, %v", v, err)
	}
}

func TestWriteTimeoutCutsOffAClientThatDoesNotReadAndLogsTheLostReply(t *testing.T) {
	e, addr, logs := startClockServer(t, func(c *Config) { c.WriteTimeout = 200 * time.Millisecond })
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4096)
	call := encodeCall(t, "lc_get", func(p thrift.TProtocol) {
		(&rpc.FunServantLcGetArgs{ReqCtx: &rpc.Context{}, Key: "huge"}).Write(context.Background(), p)
	})
	start := time.Now()
	if _, err := conn.Write(call); err != nil {
		t.Fatal(err)
	}
	// The client never reads: the reply stalls once the socket buffers fill.
	testserver.Eventually(t, "the lost reply to be counted", waitLimit, func() bool { return e.Stats().Snapshot().RepliesLost == 1 })
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("reply given up after %v, want about the 200ms write timeout", d)
	}
	testserver.Eventually(t, "the session to end", waitLimit, func() bool { return e.Stats().Snapshot().SessionsActive == 0 })
	if log := logs.String(); !strings.Contains(log, "reply not delivered") || !strings.Contains(log, "call=lc_get") {
		t.Fatalf("lost reply not logged with its call; log:\n%s", log)
	}
}

func TestADeadlineErrorIsCountedAndKeepsTheConnection(t *testing.T) {
	e, addr, _ := startClockServer(t, func(*Config) {})
	c := dial(t, "tcp", addr, KindBinary)
	ctx := context.Background()
	_, err := c.LcGet(ctx, &rpc.Context{}, "deadline")
	if app, ok := errors.AsType[thrift.TApplicationException](err); !ok || !strings.Contains(app.Error(), "deadline 1s exceeded") {
		t.Fatalf("deadline error: %v, want a TApplicationException carrying the message", err)
	}
	if v, err := c.LcGet(ctx, &rpc.Context{}, "k"); err != nil || string(v) != "v:k" {
		t.Fatalf("next call on the same connection: %q, %v", v, err)
	}
	snap := e.Stats().Snapshot()
	if snap.Deadlines != 1 {
		t.Fatalf("deadlines = %d, want 1", snap.Deadlines)
	}
	for _, pc := range snap.PerCall {
		if pc.Name == "lc_get" && (pc.Deadlines != 1 || pc.Errors != 1) {
			t.Fatalf("lc_get counted %d deadlines, %d errors; want 1 and 1", pc.Deadlines, pc.Errors)
		}
	}
}

func TestWriteDeadlineIsKeptWhileFarAway(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	go func() {
		buf := make([]byte, 64)
		for {
			if _, err := client.Read(buf); err != nil {
				return
			}
		}
	}()
	w := replyWriter{conn: server, timeout: time.Second}
	w.Write([]byte("a"))
	first := w.deadline
	w.armed = false
	w.Write([]byte("b"))
	if !w.deadline.Equal(first) {
		t.Fatalf("a deadline %v away was re-armed", time.Until(first))
	}
	w.deadline = time.Now().Add(time.Second / 2)
	w.armed = false
	w.Write([]byte("c"))
	if left := time.Until(w.deadline); left < 7*time.Second/8 {
		t.Fatalf("a deadline half the timeout away was kept: %v left", left)
	}
}

// deadlineConn records the write deadlines set on it.
type deadlineConn struct {
	net.Conn
	set []time.Time
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error { c.set = append(c.set, t); return nil }
func (c *deadlineConn) Write(p []byte) (int, error)        { return len(p), nil }

// TestZeroTimeoutsArmNoDeadline: read_timeout, idle_timeout and
// write_timeout 0 are off, not their defaults.
func TestZeroTimeoutsArmNoDeadline(t *testing.T) {
	if d := deadline(0); !d.IsZero() {
		t.Errorf("deadline(0) = %v, want no deadline", d)
	}
	if d := deadline(time.Second); d.IsZero() {
		t.Error("deadline(1s) is no deadline")
	}
	c := &deadlineConn{}
	w := replyWriter{conn: c}
	w.Write([]byte("reply"))
	if len(c.set) != 0 {
		t.Errorf("write_timeout = 0 set write deadlines %v, want none", c.set)
	}
}
