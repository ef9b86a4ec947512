package peer

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"testing"

	"github.com/faed/faed/idl/gen-go/fun/rpc"

	"github.com/apache/thrift/lib/go/thrift"
)

// BenchmarkForward measures one lc_get against a real Thrift server on
// loopback, made three ways on one persistent connection each: "direct" with
// the generated client alone (the floor), "peers" through Peers.Do, and
// "cluster" through Cluster.Forward. The time "peers" and "cluster" add to
// "direct" is what forwarding costs this process beyond the round trip; it is
// small beside the round trip's noise, which BenchmarkForwardOverhead avoids.
func BenchmarkForward(b *testing.B) {
	noConnectivityCheck(b)
	s := startThriftServer(b)
	benchForwardVariants(b, s.addr, func(ctx context.Context) (*conn, error) { return dial(ctx, s.addr) })
}

// BenchmarkForwardOverhead is BenchmarkForward with a peer that answers from
// memory, as soon as the request is written (see cannedConn): no round trip,
// no server, only the forwarder's own work. Deadlines are still set on a
// real loopback TCP connection.
func BenchmarkForwardOverhead(b *testing.B) {
	const addr = "127.0.0.1:1" // never dialled: cannedConn stands in
	reply := lcGetReply(b, []byte("value of k"))
	benchForwardVariants(b, addr, func(context.Context) (*conn, error) {
		return newConn(&cannedConn{Conn: loopbackConn(b), reply: bytes.Clone(reply)}), nil
	})
}

// benchForwardVariants runs lc_get "direct", through "peers" and through
// "cluster", each on connections from dial.
func benchForwardVariants(b *testing.B, addr string, dial func(context.Context) (*conn, error)) {
	ctx := context.Background()
	rc := &rpc.Context{Rid: 1, Reason: "bench", Sticky: thrift.BoolPtr(true)}
	lcGet := func(c rpc.FunServant) error {
		_, err := c.LcGet(ctx, rc, "k")
		return err
	}
	b.Run("direct", func(b *testing.B) {
		c, err := dial(ctx)
		if err != nil {
			b.Fatal(err)
		}
		defer c.nc.Close()
		benchCalls(b, func() error { return lcGet(c.client) })
	})
	b.Run("peers", func(b *testing.B) {
		ps := testPeers(b, Config{})
		ps.dial = func(ctx context.Context, _ string) (*conn, error) { return dial(ctx) }
		benchCalls(b, func() error { return ps.Do(ctx, addr, lcGet) })
	})
	b.Run("cluster", func(b *testing.B) {
		cl := benchCluster(b, addr)
		cl.peers.dial = func(ctx context.Context, _ string) (*conn, error) { return dial(ctx) }
		benchCalls(b, func() error { return cl.Forward(ctx, addr, lcGet) })
	})
}

// benchCalls runs call b.N times after one warm-up call that dials.
func benchCalls(b *testing.B, call func() error) {
	if err := call(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := call(); err != nil {
			b.Fatal(err)
		}
	}
}

// benchCluster returns a Cluster without ZooKeeper whose member list has self and
// peer as members, so Forward to peer passes its membership check.
func benchCluster(b *testing.B, peer string) *Cluster {
	cl, err := New(DefaultConfig(), quietLog(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cl.Close)
	cl.members.list.Store(newMemberList([]string{peer, selfName}, 2))
	return cl
}

// noConnectivityCheck turns off, for b, the goroutine and ticker the
// generated processor starts per call to watch the client's connection, as
// faed's engine does: the server then costs what faed's would.
func noConnectivityCheck(b *testing.B) {
	was := thrift.ServerConnectivityCheckInterval
	thrift.ServerConnectivityCheckInterval = 0
	b.Cleanup(func() { thrift.ServerConnectivityCheckInterval = was })
}

// cannedConn is a net.Conn that answers every call written to it at once,
// from memory, with reply (under the call's sequence id). It counts the
// writes. Deadlines, addresses and Close go to the embedded connection.
//
// It assumes each Write holds one whole call, as the buffered client's one
// Flush per call makes it; TestForwardOneWritePerCall checks that.
type cannedConn struct {
	net.Conn
	reply  []byte // a binary-protocol reply; its sequence id is patched per call
	in     bytes.Reader
	writes int
}

func (c *cannedConn) Write(p []byte) (int, error) {
	c.writes++
	seq, err := seqIDAt(p)
	if err != nil {
		return 0, err
	}
	// Request and reply name the same method, so the id sits at the same offset.
	copy(c.reply[seq:seq+4], p[seq:seq+4])
	c.in.Reset(c.reply)
	return len(p), nil
}

func (c *cannedConn) Read(p []byte) (int, error) { return c.in.Read(p) }

// seqIDAt returns the offset of the sequence id in a strict binary-protocol
// message: after the version and type (4 bytes) and the length-prefixed name.
func seqIDAt(msg []byte) (int, error) {
	if len(msg) < 8 {
		return 0, errors.New("cannedConn: short message")
	}
	at := 8 + int(binary.BigEndian.Uint32(msg[4:8]))
	if len(msg) < at+4 {
		return 0, errors.New("cannedConn: message ends before its sequence id")
	}
	return at, nil
}

// lcGetReply encodes an lc_get reply carrying value.
func lcGetReply(t testing.TB, value []byte) []byte {
	buf := thrift.NewTMemoryBuffer()
	proto := thrift.NewTBinaryProtocolConf(buf, nil)
	ctx := context.Background()
	res := rpc.FunServantLcGetResult{Success: value}
	err := errors.Join(proto.WriteMessageBegin(ctx, "lc_get", thrift.REPLY, 0),
		res.Write(ctx, proto), proto.WriteMessageEnd(ctx), proto.Flush(ctx))
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// loopbackConn returns one end of a TCP connection on loopback; both ends
// are closed when t ends.
func loopbackConn(t testing.TB) net.Conn {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept() // nil if Dial failed and ln closed
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if other := <-accepted; other != nil {
		t.Cleanup(func() { other.Close() })
	}
	return c
}
