package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"

	"github.com/apache/thrift/lib/go/thrift"
)

var allKinds = []Kind{KindBinary, KindCompact, KindFramedBinary, KindFramedCompact}

func isCompact(k Kind) bool { return k == KindCompact || k == KindFramedCompact }
func isFramed(k Kind) bool  { return k == KindFramedBinary || k == KindFramedCompact }

// memBound is the most serving one message of n bytes may allocate.
func memBound(n int) uint64 { return uint64(memFactor*n + memSlack) }

// startZeroServer is an engine serving zeroHandler on a loopback TCP port.
func startZeroServer(t testing.TB) (*Engine, string) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Listen = []string{"tcp:127.0.0.1:0"}
	e, err := New(cfg, rpc.NewFunServantProcessor(zeroHandler{}), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Listen(); err != nil {
		t.Fatal(err)
	}
	go e.Serve(context.Background())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.Shutdown(ctx)
	})
	return e, e.Addrs()[0].String()
}

// encodeAs renders one call message as a client of kind sends it; args
// writes the argument struct, whole or cut short.
func encodeAs(kind Kind, name string, args func(context.Context, thrift.TProtocol)) []byte {
	buf := thrift.NewTMemoryBuffer()
	var p thrift.TProtocol = thrift.NewTBinaryProtocolConf(buf, nil)
	if isCompact(kind) {
		p = thrift.NewTCompactProtocolConf(buf, nil)
	}
	ctx := context.Background()
	p.WriteMessageBegin(ctx, name, thrift.CALL, 1)
	args(ctx, p)
	p.WriteMessageEnd(ctx)
	p.Flush(ctx)
	if !isFramed(kind) {
		return buf.Bytes()
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(buf.Len())), buf.Bytes()...)
}

// argsWith writes an argument struct: the Context as field 1, then field.
// A whole one ends the struct; a cut one stops after field's bytes.
func argsWith(whole bool, field func(context.Context, thrift.TProtocol)) func(context.Context, thrift.TProtocol) {
	return func(ctx context.Context, p thrift.TProtocol) {
		p.WriteStructBegin(ctx, "args")
		p.WriteFieldBegin(ctx, "reqCtx", thrift.STRUCT, 1)
		rc.Write(ctx, p)
		p.WriteFieldEnd(ctx)
		field(ctx, p)
		if whole {
			p.WriteFieldStop(ctx)
			p.WriteStructEnd(ctx)
		}
	}
}

// announced is the largest element count a container header can announce
// and still pass the protocol's own check against max_message_size (16 MiB):
// every element takes at least 1 byte in compact, binMin in binary.
func announced(kind Kind, binMin int) int {
	if isCompact(kind) {
		return 16<<20 - 4096
	}
	return (16<<20 - 4096) / binMin
}

// dense is how many elements of wire size compactSize or binarySize make
// a message of about 4 MiB.
func dense(kind Kind, compactSize, binarySize int) int {
	if isCompact(kind) {
		return 4 << 20 / compactSize
	}
	return 4 << 20 / binarySize
}

// bomb is a message whose containers announce, or decode to, far more
// than it carries.
type bomb struct {
	name   string
	method string
	field  func(kind Kind) func(context.Context, thrift.TProtocol)
	whole  bool // a complete message (dense), or cut after the headers
}

var bombs = []bomb{
	{"argv list<list> announces rows", "my_bulk_exec", func(k Kind) func(context.Context, thrift.TProtocol) {
		return func(ctx context.Context, p thrift.TProtocol) {
			p.WriteFieldBegin(ctx, "argv", thrift.LIST, 6)
			p.WriteListBegin(ctx, thrift.LIST, announced(k, 4))
		}
	}, false},
	{"argv inner list announces strings", "my_bulk_exec", func(k Kind) func(context.Context, thrift.TProtocol) {
		return func(ctx context.Context, p thrift.TProtocol) {
			p.WriteFieldBegin(ctx, "argv", thrift.LIST, 6)
			p.WriteListBegin(ctx, thrift.LIST, 1)
			p.WriteListBegin(ctx, thrift.STRING, announced(k, 4))
		}
	}, false},
	{"mg_inserts docs list<binary> announces", "mg_inserts", func(k Kind) func(context.Context, thrift.TProtocol) {
		return func(ctx context.Context, p thrift.TProtocol) {
			p.WriteFieldBegin(ctx, "docs", thrift.LIST, 5)
			p.WriteListBegin(ctx, thrift.STRING, announced(k, 4))
		}
	}, false},
	{"my_query argv list<string> announces", "my_query", func(k Kind) func(context.Context, thrift.TProtocol) {
		return func(ctx context.Context, p thrift.TProtocol) {
			p.WriteFieldBegin(ctx, "argv", thrift.LIST, 6)
			p.WriteListBegin(ctx, thrift.STRING, announced(k, 4))
		}
	}, false},
	{"set in unknown field announces", "my_bulk_exec", func(k Kind) func(context.Context, thrift.TProtocol) {
		return func(ctx context.Context, p thrift.TProtocol) {
			p.WriteFieldBegin(ctx, "x", thrift.SET, 99)
			p.WriteSetBegin(ctx, thrift.LIST, announced(k, 4))
		}
	}, false},
	{"set in list field (wrong type) announces", "my_bulk_exec", func(k Kind) func(context.Context, thrift.TProtocol) {
		return func(ctx context.Context, p thrift.TProtocol) {
			p.WriteFieldBegin(ctx, "argv", thrift.SET, 6)
			p.WriteSetBegin(ctx, thrift.STRING, announced(k, 4))
		}
	}, false},
	{"map in unknown field announces", "my_bulk_exec", func(k Kind) func(context.Context, thrift.TProtocol) {
		return func(ctx context.Context, p thrift.TProtocol) {
			p.WriteFieldBegin(ctx, "x", thrift.MAP, 99)
			p.WriteMapBegin(ctx, thrift.STRING, thrift.LIST, announced(k, 8))
		}
	}, false},
	{"nested lists 40 deep announce", "my_bulk_exec", func(k Kind) func(context.Context, thrift.TProtocol) {
		return func(ctx context.Context, p thrift.TProtocol) {
			p.WriteFieldBegin(ctx, "x", thrift.LIST, 99)
			for range 40 {
				p.WriteListBegin(ctx, thrift.LIST, announced(k, 4))
			}
		}
	}, false},
	{"dense argv of empty rows", "my_bulk_exec", func(k Kind) func(context.Context, thrift.TProtocol) {
		return func(ctx context.Context, p thrift.TProtocol) {
			n := dense(k, 1, 5)
			p.WriteFieldBegin(ctx, "argv", thrift.LIST, 6)
			p.WriteListBegin(ctx, thrift.LIST, n)
			for range n {
				p.WriteListBegin(ctx, thrift.STRING, 0)
				p.WriteListEnd(ctx)
			}
			p.WriteListEnd(ctx)
			p.WriteFieldEnd(ctx)
		}
	}, true},
	{"dense argv of rows of empty strings", "my_bulk_exec", func(k Kind) func(context.Context, thrift.TProtocol) {
		return func(ctx context.Context, p thrift.TProtocol) {
			n := dense(k, 1+5, 4+5*4)
			p.WriteFieldBegin(ctx, "argv", thrift.LIST, 6)
			p.WriteListBegin(ctx, thrift.LIST, n)
			for range n {
				p.WriteListBegin(ctx, thrift.STRING, 5)
				for range 5 {
					p.WriteString(ctx, "")
				}
				p.WriteListEnd(ctx)
			}
			p.WriteListEnd(ctx)
			p.WriteFieldEnd(ctx)
		}
	}, true},
	{"dense docs of empty binaries", "mg_inserts", func(k Kind) func(context.Context, thrift.TProtocol) {
		return func(ctx context.Context, p thrift.TProtocol) {
			n := dense(k, 1, 4)
			p.WriteFieldBegin(ctx, "docs", thrift.LIST, 5)
			p.WriteListBegin(ctx, thrift.STRING, n)
			for range n {
				p.WriteBinary(ctx, nil)
			}
			p.WriteListEnd(ctx)
			p.WriteFieldEnd(ctx)
		}
	}, true},
	{"dense my_query argv of 1-byte strings", "my_query", func(k Kind) func(context.Context, thrift.TProtocol) {
		return func(ctx context.Context, p thrift.TProtocol) {
			n := dense(k, 2, 5)
			p.WriteFieldBegin(ctx, "argv", thrift.LIST, 6)
			p.WriteListBegin(ctx, thrift.STRING, n)
			for range n {
				p.WriteString(ctx, "x")
			}
			p.WriteListEnd(ctx)
			p.WriteFieldEnd(ctx)
		}
	}, true},
	{"dense set of empty lists, unknown field", "my_bulk_exec", func(k Kind) func(context.Context, thrift.TProtocol) {
		return func(ctx context.Context, p thrift.TProtocol) {
			n := dense(k, 1, 5)
			p.WriteFieldBegin(ctx, "x", thrift.SET, 99)
			p.WriteSetBegin(ctx, thrift.LIST, n)
			for range n {
				p.WriteListBegin(ctx, thrift.I32, 0)
				p.WriteListEnd(ctx)
			}
			p.WriteSetEnd(ctx)
			p.WriteFieldEnd(ctx)
		}
	}, true},
	{"dense map of empty strings, unknown field", "my_bulk_exec", func(k Kind) func(context.Context, thrift.TProtocol) {
		return func(ctx context.Context, p thrift.TProtocol) {
			n := dense(k, 2, 8)
			p.WriteFieldBegin(ctx, "x", thrift.MAP, 99)
			p.WriteMapBegin(ctx, thrift.STRING, thrift.STRING, n)
			for range n {
				p.WriteString(ctx, "")
				p.WriteString(ctx, "")
			}
			p.WriteMapEnd(ctx)
			p.WriteFieldEnd(ctx)
		}
	}, true},
}

// serveOne sends msg on a session already serving kind (a noop set it up)
// and returns what the server allocated meanwhile, process-wide, GC'd
// before, and what it answered until it closed the connection.
func serveOne(t *testing.T, addr string, kind Kind, msg []byte) (grown uint64, reply []byte) {
	t.Helper()
	c := dial(t, "tcp", addr, kind)
	if got, err := c.Noop(context.Background(), 5); err != nil || got != 5 {
		t.Fatalf("noop before the message = %d, %v", got, err)
	}
	before := heapAllocated()
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		c.conn.Write(msg) // the server may stop reading and hang up first
		c.conn.(*net.TCPConn).CloseWrite()
	}()
	c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	var out bytes.Buffer
	io.Copy(&out, c.conn)
	<-sent
	return heapAllocated() - before, out.Bytes()
}

// What serving one message allocates stays within 8 times the bytes sent
// for it plus 64 KiB, whatever its containers announce or decode to, on
// every transport and protocol.
func TestMemoryBoundedByBytesReceived(t *testing.T) {
	_, addr := startZeroServer(t)
	for _, kind := range allKinds {
		for _, b := range bombs {
			t.Run(string(kind)+"/"+b.name, func(t *testing.T) {
				msg := encodeAs(kind, b.method, argsWith(b.whole, b.field(kind)))
				grown, _ := serveOne(t, addr, kind, msg)
				t.Logf("BOMB %-15s %-42s sent %8d grown %11d (%.1fx) bound %9d", kind, b.name, len(msg), grown, float64(grown)/float64(len(msg)), memBound(len(msg)))
				if grown > memBound(len(msg)) {
					t.Errorf("serving a %d-byte message allocated %d bytes, past %d", len(msg), grown, memBound(len(msg)))
				}
			})
		}
	}
}

// A message that decodes to more than its budget is refused with a
// protocol error naming the limit, counted, and its session ends; the
// next connection is served.
func TestDenseMessageIsRefusedAndCounted(t *testing.T) {
	e, addr := startZeroServer(t)
	for _, kind := range allKinds {
		t.Run(string(kind), func(t *testing.T) {
			errsBefore := e.Stats().Snapshot().ProtocolErrors
			msg := encodeAs(kind, "my_bulk_exec", argsWith(true, bombs[8].field(kind)))
			_, reply := serveOne(t, addr, kind, msg)
			if got := e.Stats().Snapshot().ProtocolErrors - errsBefore; got != 1 {
				t.Errorf("protocol errors counted %d, want 1", got)
			}
			if len(reply) > 0 && !bytes.Contains(reply, []byte("decodes to more memory")) {
				t.Errorf("reply %q does not say why", reply)
			}
			c := dial(t, "tcp", addr, kind)
			if got, err := c.Noop(context.Background(), 8); err != nil || got != 8 {
				t.Fatalf("noop after a refused message = %d, %v", got, err)
			}
		})
	}
}

// bulkRows is a my_bulk_exec argv as PHP code sends it: rows of 5 short
// arguments.
func bulkRows(n int) [][]string {
	rows := make([][]string, n)
	for i := range rows {
		rows[i] = []string{"12345", "user@example.com", "0", "active", "2026-12-02"}
	}
	return rows
}

// Legit messages of typical shapes and sizes are served on every kind.
func TestLegitMessagesAreServed(t *testing.T) {
	_, addr := startZeroServer(t)
	docs := make([][]byte, 1000)
	for i := range docs {
		docs[i] = bytes.Repeat([]byte{'d'}, 200)
	}
	argv := strings.Split(strings.Repeat("a,", 999)+"a", ",")
	for _, kind := range allKinds {
		t.Run(string(kind), func(t *testing.T) {
			c := dial(t, "tcp", addr, kind)
			ctx := context.Background()
			// Compact packs each row in 44 bytes; pre-allocated at their
			// real size (ContainerCapacity), they decode to under 6 times
			// that.
			rows := 10000
			if n, err := c.MyBulkExec(ctx, rc, []string{"p"}, []string{"t"}, []int64{1}, []string{"insert"}, bulkRows(rows), nil); err != nil || n != int64(5*rows) {
				t.Fatalf("my_bulk_exec of %d rows of 5 args = %d, %v; want %d", rows, n, err, 5*rows)
			}
			if ok, err := c.MgInserts(ctx, rc, "p", "t", 1, docs); err != nil || !ok {
				t.Fatalf("mg_inserts of 1000 docs = %v, %v", ok, err)
			}
			if r, err := c.MyQuery(ctx, rc, "p", "t", 1, "select", argv, ""); err != nil || len(r.Cols) != 1000 {
				t.Fatalf("my_query with 1000 args answered %v, %v", r, err)
			}
		})
	}
}

// What a legit bulk message allocates, by size: shown, and bounded by
// 8 times its size plus 64 KiB. Binary (what PHP sends) and compact, denser,
// are served at every size up to 4 MiB.
func TestLegitAllocationBySize(t *testing.T) {
	_, addr := startZeroServer(t)
	for _, kind := range []Kind{KindBinary, KindCompact} {
		for _, size := range []int{1 << 10, 16 << 10, 256 << 10, 1 << 20, 4 << 20} {
			rows := size / 50
			if isCompact(kind) {
				rows = size / 42
			}
			msg := encodeAs(kind, "my_bulk_exec", func(ctx context.Context, p thrift.TProtocol) {
				(&rpc.FunServantMyBulkExecArgs{ReqCtx: rc, Argv: bulkRows(rows)}).Write(ctx, p)
			})
			grown, reply := serveOne(t, addr, kind, msg)
			refused := bytes.Contains(reply, []byte("decodes to more memory"))
			t.Logf("LEGIT %-8s rows %6d sent %8d grown %10d (%.1fx) refused %v", kind, rows, len(msg), grown, float64(grown)/float64(len(msg)), refused)
			if typ := replyType(t, kind, reply); typ != thrift.REPLY {
				t.Errorf("%s: a legit %d-byte message was answered with message type %d: %q", kind, len(msg), typ, reply)
			}
			if grown > memBound(len(msg)) {
				t.Errorf("%s: serving a legit %d-byte message allocated %d bytes, past %d", kind, len(msg), grown, memBound(len(msg)))
			}
		}
	}
}

// replyType decodes the type of the first message in reply.
func replyType(t *testing.T, kind Kind, reply []byte) thrift.TMessageType {
	t.Helper()
	if isFramed(kind) && len(reply) >= 4 {
		reply = reply[4:]
	}
	buf := thrift.NewTMemoryBuffer()
	buf.Write(reply)
	var p thrift.TProtocol = thrift.NewTBinaryProtocolConf(buf, nil)
	if isCompact(kind) {
		p = thrift.NewTCompactProtocolConf(buf, nil)
	}
	_, typ, _, err := p.ReadMessageBegin(context.Background())
	if err != nil {
		t.Fatalf("reply %q: %v", reply, err)
	}
	return typ
}
