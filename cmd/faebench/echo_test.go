package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"

	"github.com/apache/thrift/lib/go/thrift"
)

// startEcho serves an echo server on a unix socket in a temp dir until the
// test ends and returns its endpoint.
func startEcho(t *testing.T, valueSize int) endpoint {
	t.Helper()
	ep := endpoint{"unix", filepath.Join(t.TempDir(), "echo.sock")}
	ln, err := listen(ep)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { newEchoServer(valueSize).Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return ep
}

// The generated Go client must accept every reply of the echo server.
func TestEchoWithGeneratedClient(t *testing.T) {
	ep := startEcho(t, 100)
	for _, transport := range []string{"buffered", "framed"} {
		t.Run(transport, func(t *testing.T) {
			c, err := dial(ep, wire{transport: transport, protocol: "binary", timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			checkCalls(t, c.client)
		})
	}
}

func checkCalls(t *testing.T, c *rpc.FunServantClient) {
	ctx := context.Background()
	rc := &rpc.Context{Rid: 1, Reason: "test", UID: 2}
	for i := range 3 { // several rounds, so sequence ids move on
		if x, err := c.Noop(ctx, int32(i)); err != nil || x != 0 {
			t.Fatalf("noop = %d, %v; want 0 (echo answers 0)", x, err)
		}
		if s, err := c.Ping(ctx, rc); err != nil || s != "pong" {
			t.Fatalf("ping = %q, %v", s, err)
		}
		if ok, err := c.LcSet(ctx, rc, "k", []byte("v")); err != nil || !ok {
			t.Fatalf("lc_set = %v, %v", ok, err)
		}
		if v, err := c.LcGet(ctx, rc, "k"); err != nil || len(v) != 100 {
			t.Fatalf("lc_get = %d bytes, %v; want 100", len(v), err)
		}
		_, err := c.IDNext(ctx, rc)
		var ae thrift.TApplicationException
		if !errors.As(err, &ae) || ae.TypeId() != thrift.UNKNOWN_METHOD {
			t.Fatalf("id_next err = %v, want unknown method", err)
		}
		if connBroken(err) {
			t.Fatalf("connBroken(%v) = true, want the connection kept", err)
		}
	}
}

// A request split over many reads and several requests in one write must
// each get exactly one reply, in order.
func TestEchoSplitAndPipelined(t *testing.T) {
	ep := startEcho(t, 10)
	nc, err := net.Dial(ep.network, ep.address)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ping := encodeCall(t, "ping", thrift.CALL, 41, &rpc.FunServantPingArgs{ReqCtx: &rpc.Context{Reason: "x"}})
	for _, b := range ping {
		if _, err := nc.Write([]byte{b}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Microsecond)
	}
	var both []byte
	both = append(both, encodeCall(t, "noop", thrift.CALL, 42, &rpc.FunServantNoopArgs{X: 1})...)
	both = append(both, encodeCall(t, "noop", thrift.ONEWAY, 43, &rpc.FunServantNoopArgs{X: 1})...)
	both = append(both, encodeCall(t, "lc_get", thrift.CALL, 44, &rpc.FunServantLcGetArgs{ReqCtx: &rpc.Context{}, Key: "k"})...)
	if _, err := nc.Write(both); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	p := thrift.NewTBinaryProtocolConf(thrift.NewStreamTransportR(nc), nil)
	for _, want := range []struct {
		name string
		seq  int32
	}{{"ping", 41}, {"noop", 42}, {"lc_get", 44}} {
		name, typ, seq, err := p.ReadMessageBegin(context.Background())
		if err != nil || name != want.name || typ != thrift.REPLY || seq != want.seq {
			t.Fatalf("reply %q type %d seq %d, %v; want %q REPLY %d", name, typ, seq, err, want.name, want.seq)
		}
		if err := p.Skip(context.Background(), thrift.STRUCT); err != nil {
			t.Fatal(err)
		}
	}
}

// Garbage closes the connection instead of being answered.
func TestEchoClosesOnGarbage(t *testing.T) {
	ep := startEcho(t, 10)
	nc, err := net.Dial(ep.network, ep.address)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(nc); err != nil || buf.Len() != 0 {
		t.Fatalf("read %q, %v; want EOF with nothing", buf.Bytes(), err)
	}
}
