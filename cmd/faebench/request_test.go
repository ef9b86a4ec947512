package main

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/faed/faed/idl/gen-go/fun/rpc"

	"github.com/apache/thrift/lib/go/thrift"
)

// encodeCall encodes a call message the way the generated client does.
func encodeCall(t *testing.T, name string, typ thrift.TMessageType, seq int32, args thrift.TStruct) []byte {
	t.Helper()
	ctx := context.Background()
	buf := thrift.NewTMemoryBuffer()
	p := thrift.NewTBinaryProtocolConf(buf, nil)
	if err := p.WriteMessageBegin(ctx, name, typ, seq); err != nil {
		t.Fatal(err)
	}
	if err := args.Write(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := p.WriteMessageEnd(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// everyType is a struct holding a value of every Thrift type, nested.
type everyType struct{}

func (everyType) Write(ctx context.Context, p thrift.TProtocol) error {
	p.WriteStructBegin(ctx, "every")
	p.WriteFieldBegin(ctx, "b", thrift.BOOL, 1)
	p.WriteBool(ctx, true)
	p.WriteFieldBegin(ctx, "y", thrift.BYTE, 2)
	p.WriteByte(ctx, 7)
	p.WriteFieldBegin(ctx, "d", thrift.DOUBLE, 3)
	p.WriteDouble(ctx, 1.5)
	p.WriteFieldBegin(ctx, "s", thrift.I16, 4)
	p.WriteI16(ctx, 3)
	p.WriteFieldBegin(ctx, "u", thrift.UUID, 5)
	p.WriteUUID(ctx, thrift.Tuuid{1, 2, 3})
	p.WriteFieldBegin(ctx, "m", thrift.MAP, 6)
	p.WriteMapBegin(ctx, thrift.STRING, thrift.LIST, 2)
	for _, k := range []string{"a", "bb"} {
		p.WriteString(ctx, k)
		p.WriteListBegin(ctx, thrift.I64, 2)
		p.WriteI64(ctx, 1)
		p.WriteI64(ctx, 2)
	}
	p.WriteFieldBegin(ctx, "set", thrift.SET, 7)
	p.WriteSetBegin(ctx, thrift.STRUCT, 1)
	(&rpc.Context{Rid: 1, Reason: "r", UID: 2}).Write(ctx, p)
	p.WriteFieldStop(ctx)
	return nil
}

func (everyType) Read(context.Context, thrift.TProtocol) error { return nil }

func TestParseRequest(t *testing.T) {
	rc := &rpc.Context{Rid: 9, Reason: "bench", UID: 3}
	tests := []struct {
		name   string
		method string
		typ    thrift.TMessageType
		args   thrift.TStruct
	}{
		{"noop", "noop", thrift.CALL, &rpc.FunServantNoopArgs{X: 5}},
		{"ping", "ping", thrift.CALL, &rpc.FunServantPingArgs{ReqCtx: rc}},
		{"lc_set", "lc_set", thrift.CALL, &rpc.FunServantLcSetArgs{ReqCtx: rc, Key: "k", Value: make([]byte, 5000)}},
		{"lists of lists", "my_bulk_exec", thrift.CALL, &rpc.FunServantMyBulkExecArgs{
			ReqCtx: rc, Pool: []string{"p"}, HintId: []int64{1, 2}, Argv: [][]string{{"a", "b"}, {}},
		}},
		{"every type", "x", thrift.CALL, everyType{}},
		{"oneway", "noop", thrift.ONEWAY, &rpc.FunServantNoopArgs{X: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := encodeCall(t, tt.method, tt.typ, 77, tt.args)
			checkParsed(t, msg, tt.method, len(msg), false, tt.typ == thrift.ONEWAY)
			framed := binary.BigEndian.AppendUint32(nil, uint32(len(msg)))
			framed = append(framed, msg...)
			checkParsed(t, framed, tt.method, len(framed), true, tt.typ == thrift.ONEWAY)
			for n := range len(msg) {
				if _, err := parseRequest(msg[:n]); !errors.Is(err, errShort) {
					t.Fatalf("prefix of %d/%d bytes: err = %v, want errShort", n, len(msg), err)
				}
			}
		})
	}
}

func checkParsed(t *testing.T, b []byte, method string, size int, framed, oneway bool) {
	t.Helper()
	// Bytes of a next request after this one must be left alone.
	r, err := parseRequest(append(b, 0x80, 1, 0, 1))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if string(r.name) != method || r.seqID != 77 || r.size != size || r.framed != framed || r.oneway != oneway {
		t.Fatalf("got name=%q seq=%d size=%d framed=%v oneway=%v; want %q 77 %d %v %v",
			r.name, r.seqID, r.size, r.framed, r.oneway, method, size, framed, oneway)
	}
}

func TestParseRequestRejects(t *testing.T) {
	noop := func(t *testing.T) []byte { return encodeCall(t, "noop", thrift.CALL, 1, &rpc.FunServantNoopArgs{X: 1}) }
	tests := []struct {
		name string
		msg  func(t *testing.T) []byte
	}{
		{"reply instead of call", func(t *testing.T) []byte {
			b := noop(t)
			b[3] = msgReply
			return b
		}},
		{"wrong version", func(t *testing.T) []byte {
			b := noop(t)
			b[1] = 2
			return b
		}},
		{"name too long", func(t *testing.T) []byte {
			return binary.BigEndian.AppendUint32([]byte{0x80, 1, 0, 1}, maxNameLen+1)
		}},
		{"negative string length", func(t *testing.T) []byte {
			b := []byte{0x80, 1, 0, 1, 0, 0, 0, 1, 'x', 0, 0, 0, 1, tString, 0, 1}
			return binary.BigEndian.AppendUint32(b, 0xfffffff0)
		}},
		{"unknown field type", func(t *testing.T) []byte {
			return []byte{0x80, 1, 0, 1, 0, 0, 0, 1, 'x', 0, 0, 0, 1, 99, 0, 1, 0}
		}},
		{"frame too large", func(t *testing.T) []byte {
			return binary.BigEndian.AppendUint32(nil, maxEchoMessage+1)
		}},
		{"frame longer than its message", func(t *testing.T) []byte {
			b := noop(t)
			f := binary.BigEndian.AppendUint32(nil, uint32(len(b)+1))
			return append(append(f, b...), 0)
		}},
		{"frame shorter than its message", func(t *testing.T) []byte {
			b := noop(t)
			f := binary.BigEndian.AppendUint32(nil, uint32(len(b)-1))
			return append(f, b[:len(b)-1]...)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseRequest(tt.msg(t)); !errors.Is(err, errBadMessage) {
				t.Fatalf("err = %v, want errBadMessage", err)
			}
		})
	}
}

func TestParseRequestDepthLimit(t *testing.T) {
	b := []byte{0x80, 1, 0, 1, 0, 0, 0, 1, 'x', 0, 0, 0, 1}
	for range maxDepth + 2 {
		b = append(b, tStruct, 0, 1)
	}
	if _, err := parseRequest(b); !errors.Is(err, errBadMessage) {
		t.Fatalf("err = %v, want errBadMessage", err)
	}
}
