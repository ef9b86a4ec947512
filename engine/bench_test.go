package engine

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
)

// BenchmarkNoopUnix is one persistent client calling noop over a unix
// socket: the engine's whole per-call path, client cost included.
func BenchmarkNoopUnix(b *testing.B) {
	s := startServer(b, nil)
	c := dial(b, "unix", s.unix, KindBinary)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := c.Noop(context.Background(), int32(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLcGetUnix is the same with a call that carries a Context and is timed.
func BenchmarkLcGetUnix(b *testing.B) {
	s := startServer(b, nil)
	c := dial(b, "unix", s.unix, KindBinary)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.LcGet(context.Background(), rc, "k"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNoopServerOnly is BenchmarkNoopUnix without the client's cost:
// the call's bytes are encoded once and written again and again, and each
// reply is read into one buffer, so every allocation it reports is the
// server's: none (TestNoopAllocatesNothing holds it there).
func BenchmarkNoopServerOnly(b *testing.B) {
	s := startServer(b, nil)
	conn, err := net.Dial("unix", s.unix)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	var req bytes.Buffer
	p := thrift.NewTBinaryProtocolConf(thrift.NewStreamTransportW(&req), nil)
	args := rpc.FunServantNoopArgs{X: 7}
	p.WriteMessageBegin(context.Background(), "noop", thrift.CALL, 1)
	args.Write(context.Background(), p)
	p.WriteMessageEnd(context.Background())
	p.Flush(context.Background())
	call := req.Bytes()
	reply := make([]byte, 64)
	n := replyLen(b, conn, call, reply)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := conn.Write(call); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(conn, reply[:n]); err != nil {
			b.Fatal(err)
		}
	}
}

// replyLen makes one call and returns the length of its reply.
func replyLen(b *testing.B, conn net.Conn, call, buf []byte) int {
	if _, err := conn.Write(call); err != nil {
		b.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	defer conn.SetReadDeadline(time.Time{})
	n, err := conn.Read(buf)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// TestNoopAllocatesNothing: a persistent client's noop costs the server no
// allocation, its session, its dispatch and its processor function
// (servant.NewProcessor) together. The average is taken over thousands of
// calls, so a rare runtime allocation on the way (a goroutine's stack
// growing, a timer) stays below the bound.
func TestNoopAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates per call itself; make test runs this test again without -race")
	}
	r := testing.Benchmark(func(b *testing.B) {
		b.N = max(b.N, 5000)
		BenchmarkNoopServerOnly(b)
	})
	if r.N < 5000 {
		t.Fatalf("benchmark ran %d calls", r.N)
	}
	if perCall := float64(r.MemAllocs) / float64(r.N); perCall > 0.05 {
		t.Fatalf("noop allocates %.2f times per call in the server (%d B/op over %d calls), want 0", perCall, r.AllocedBytesPerOp(), r.N)
	}
}

// BenchmarkCallStats is what a timed call's statistics cost it when
// [engine] call_stats is on (serveCall with counted set): its count, error
// check and latency recorded, and its Context reason counted, one session
// per goroutine as in the daemon. Held against a noop's server CPU per
// call in make bench, it is the cost of the per-call stats.
func BenchmarkCallStats(b *testing.B) {
	st := newStats([]string{"lc_get"})
	cs := st.perCall["lc_get"]
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var cache reasonCache
		for pb.Next() {
			cs.record(4242*time.Nanosecond, nil)
			st.reasons.countCached(&cache, "user.show")
		}
	})
}
