package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"

	"github.com/apache/thrift/lib/go/thrift"
)

// rawExchange sends payload on a fresh connection and returns everything
// the server writes back until it closes the connection or 2s pass.
func rawExchange(t *testing.T, addr string, payload []byte, closeWrite bool) []byte {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(payload); err != nil {
		t.Fatal(err)
	}
	if closeWrite {
		conn.(*net.TCPConn).CloseWrite()
	}
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	var out bytes.Buffer
	io.Copy(&out, conn)
	return out.Bytes()
}

// readException decodes a reply that must be a TApplicationException.
func readException(t *testing.T, reply []byte) thrift.TApplicationException {
	t.Helper()
	buf := thrift.NewTMemoryBuffer()
	buf.Write(reply)
	p := thrift.NewTBinaryProtocolConf(buf, nil)
	ctx := context.Background()
	_, typ, _, err := p.ReadMessageBegin(ctx)
	if err != nil || typ != thrift.EXCEPTION {
		t.Fatalf("reply %x: want an EXCEPTION message, got type %d, %v", reply, typ, err)
	}
	x := thrift.NewTApplicationException(0, "")
	if err := x.Read(ctx, p); err != nil {
		t.Fatalf("reading the exception: %v", err)
	}
	return x
}

func TestBadInput(t *testing.T) {
	s := startServer(t, func(c *Config) { c.MaxMessageSize = 1 << 20 })
	unknown := encodeCall(t, "no_such_method", func(p thrift.TProtocol) {
		(&rpc.FunServantNoopArgs{X: 1}).Write(context.Background(), p)
	})
	noop := encodeCall(t, "noop", func(p thrift.TProtocol) {
		(&rpc.FunServantNoopArgs{X: 9}).Write(context.Background(), p)
	})
	tests := []struct {
		name    string
		payload []byte
		// wantType is the TApplicationException expected, -1 for none
		// (the server just closes the connection).
		wantType int32
		wantText string
	}{
		{"garbage bytes", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), -1, ""},
		{"truncated message", noop[:len(noop)-4], thrift.PROTOCOL_ERROR, "EOF"},
		{"unknown method", unknown, thrift.UNKNOWN_METHOD, "no_such_method"},
		{"oversized string length prefix", oversizedName(), -1, ""},
		{"negative name length", negativeName(), -1, ""},
		{"oversized binary argument", oversizedKey(t), thrift.PROTOCOL_ERROR, "size"},
		{"oversized frame", oversizedFrame(), -1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := heapAllocated()
			reply := rawExchange(t, s.tcp, tt.payload, true)
			if grown := heapAllocated() - before; grown > 64<<20 {
				t.Errorf("the server allocated %d MiB for a bad message", grown>>20)
			}
			if tt.wantType < 0 {
				if len(reply) != 0 {
					t.Fatalf("want the connection closed without a reply, got %x", reply)
				}
			} else {
				x := readException(t, reply)
				if x.TypeId() != tt.wantType || !strings.Contains(x.Error(), tt.wantText) {
					t.Fatalf("got exception type %d %q, want type %d mentioning %q", x.TypeId(), x.Error(), tt.wantType, tt.wantText)
				}
			}
			// Whatever the bad client did, others are still served.
			c := dial(t, "tcp", s.tcp, KindBinary)
			if got, err := c.Noop(context.Background(), 11); err != nil || got != 11 {
				t.Fatalf("noop after %s = %d, %v", tt.name, got, err)
			}
		})
	}
}

// A field the IDL marks required but a caller left out is served as its
// zero value, as the original faed served it, and counted by call and field.
func TestMissingRequiredFieldIsServedAsZeroAndCounted(t *testing.T) {
	s := startServer(t, nil)
	noopWithoutX := encodeCall(t, "noop", func(p thrift.TProtocol) {
		ctx := context.Background()
		p.WriteStructBegin(ctx, "noop_args")
		p.WriteFieldStop(ctx)
		p.WriteStructEnd(ctx)
	})
	for i := 0; i < 2; i++ {
		reply := rawExchange(t, s.tcp, noopWithoutX, true)
		buf := thrift.NewTMemoryBuffer()
		buf.Write(reply)
		p := thrift.NewTBinaryProtocolConf(buf, nil)
		name, typ, _, err := p.ReadMessageBegin(context.Background())
		if err != nil || typ != thrift.REPLY || name != "noop" {
			t.Fatalf("reply %x: want a noop REPLY, got %q type %d, %v", reply, name, typ, err)
		}
		var res rpc.FunServantNoopResult
		if err := res.Read(context.Background(), p); err != nil || res.Success == nil || *res.Success != 0 {
			t.Fatalf("noop without x answered %v, %v; want 0", res.Success, err)
		}
	}
	got := s.e.Stats().Snapshot().MissingFields
	want := []MissingFieldSnapshot{{Call: "noop", Field: "FunServantNoopArgs.X", Count: 2}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("missing fields counted %+v, want %+v", got, want)
	}
}

// An unknown method's reply echoes at most 256 bytes of its name.
func TestUnknownMethodNameIsNotEchoedWhole(t *testing.T) {
	s := startServer(t, nil)
	long := strings.Repeat("x", 10000)
	call := encodeCall(t, long, func(p thrift.TProtocol) {
		(&rpc.FunServantNoopArgs{X: 1}).Write(context.Background(), p)
	})
	reply := rawExchange(t, s.tcp, call, true)
	if len(reply) > 600 {
		t.Fatalf("the reply to a 10000-byte method name is %d bytes", len(reply))
	}
	if x := readException(t, reply); x.TypeId() != thrift.UNKNOWN_METHOD {
		t.Fatalf("got %v, want UNKNOWN_METHOD", x)
	}
}

func TestUnknownMethodKeepsTheConnection(t *testing.T) {
	s := startServer(t, nil)
	conn, err := net.Dial("tcp", s.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	unknown := encodeCall(t, "rd_call", func(p thrift.TProtocol) {
		(&rpc.FunServantNoopArgs{X: 1}).Write(context.Background(), p)
	})
	c := &client{rpc.NewFunServantClient(thrift.NewTStandardClient(
		thrift.NewTBinaryProtocolConf(thrift.NewTSocketFromConnConf(conn, nil), nil),
		thrift.NewTBinaryProtocolConf(thrift.NewTSocketFromConnConf(conn, nil), nil))), conn}
	conn.Write(unknown)
	x := readException(t, readMessage(t, conn))
	if x.TypeId() != thrift.UNKNOWN_METHOD {
		t.Fatalf("got %v, want UNKNOWN_METHOD", x)
	}
	if got, err := c.Noop(context.Background(), 3); err != nil || got != 3 {
		t.Fatalf("noop on the same connection after an unknown method = %d, %v", got, err)
	}
}

// readMessage reads what one reply message the server sent.
func readMessage(t *testing.T, conn net.Conn) []byte {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Time{})
	return buf[:n]
}

// oversizedName is a call whose method name claims to be 2 GiB long.
func oversizedName() []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(0x80010001))
	binary.Write(&b, binary.BigEndian, int32(0x7fffffff))
	b.WriteString("noop")
	return b.Bytes()
}

// oversizedKey is an lc_get whose key claims 1.5 GiB, past max_message_size.
func oversizedKey(t *testing.T) []byte {
	return encodeCall(t, "lc_get", func(p thrift.TProtocol) {
		ctx := context.Background()
		p.WriteStructBegin(ctx, "args")
		p.WriteFieldBegin(ctx, "reqCtx", thrift.STRUCT, 1)
		(&rpc.Context{Rid: 1, Reason: "x"}).Write(ctx, p)
		p.WriteFieldEnd(ctx)
		p.WriteFieldBegin(ctx, "key", thrift.STRING, 2)
		p.WriteI32(ctx, 3<<29)
	})
}

// oversizedFrame announces a 1 GiB frame.
func oversizedFrame() []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, int32(1<<30))
	binary.Write(&b, binary.BigEndian, uint32(0x80010001))
	return b.Bytes()
}

func heapAllocated() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

func TestMessageBudgetAcrossFields(t *testing.T) {
	// Many small fields add up past max_message_size: refused, not read on.
	s := startServer(t, func(c *Config) { c.MaxMessageSize = 4096 })
	c := dial(t, "tcp", s.tcp, KindBinary)
	_, err := c.LcGet(context.Background(), rc, strings.Repeat("k", 8000))
	if err == nil {
		t.Fatal("an 8000-byte key passed a 4096-byte message limit")
	}
	var te thrift.TApplicationException
	if errors.As(err, &te) && te.TypeId() != thrift.PROTOCOL_ERROR {
		t.Fatalf("got %v, want a protocol error or a closed connection", err)
	}
}

// A non-strict binary message (no version word: the name's length comes
// first), which the original faed's default protocol factory read, is served.
// negativeName is a call whose method name's length is negative.
func negativeName() []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(0x80010001))
	binary.Write(&b, binary.BigEndian, int32(-4))
	b.WriteString("noop")
	return b.Bytes()
}

func TestNonStrictBinaryIsServed(t *testing.T) {
	s := startServer(t, nil)
	buf := thrift.NewTMemoryBuffer()
	p := thrift.NewTBinaryProtocolConf(buf, &thrift.TConfiguration{TBinaryStrictWrite: thrift.BoolPtr(false)})
	ctx := context.Background()
	p.WriteMessageBegin(ctx, "noop", thrift.CALL, 7)
	(&rpc.FunServantNoopArgs{X: 41}).Write(ctx, p)
	p.WriteMessageEnd(ctx)
	if buf.Bytes()[0] != 0 {
		t.Fatalf("the message %x is not non-strict", buf.Bytes())
	}
	reply := rawExchange(t, s.tcp, buf.Bytes(), true)
	in := thrift.NewTMemoryBuffer()
	in.Write(reply)
	rp := thrift.NewTBinaryProtocolConf(in, nil)
	if name, typ, seq, err := rp.ReadMessageBegin(ctx); err != nil || name != "noop" || typ != thrift.REPLY || seq != 7 {
		t.Fatalf("reply %x: got %q type %d seq %d, %v", reply, name, typ, seq, err)
	}
	var res rpc.FunServantNoopResult
	if err := res.Read(ctx, rp); err != nil || res.Success == nil || *res.Success != 41 {
		t.Fatalf("noop(41) answered %v, %v", res.Success, err)
	}
}
