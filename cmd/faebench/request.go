package main

import (
	"encoding/binary"
	"errors"
)

// Just enough of the Thrift binary protocol for the echo server to find
// where a request ends, its method name and its sequence id, without any
// Thrift library.

// Thrift binary protocol constants.
const (
	version1    = 0x80010000
	versionMask = 0xffff0000

	msgCall      = 1
	msgReply     = 2
	msgException = 3
	msgOneway    = 4

	tBool   = 2
	tByte   = 3
	tDouble = 4
	tI16    = 6
	tI32    = 8
	tI64    = 10
	tString = 11
	tStruct = 12
	tMap    = 13
	tSet    = 14
	tList   = 15
	tUUID   = 16

	appExcUnknownMethod = 1
)

// Limits on what the echo server accepts.
const (
	maxEchoMessage = 16 << 20
	maxNameLen     = 1 << 10
	maxDepth       = 64
)

var (
	errShort      = errors.New("echo: incomplete message")
	errBadMessage = errors.New("echo: malformed message")
)

// request is what the echo server needs to know of one call.
type request struct {
	name   []byte
	seqID  int32
	oneway bool
	framed bool
	size   int // bytes taken from the stream, frame header included
}

// parseRequest parses the request at the start of b. It returns errShort
// if b holds only part of it. A strict binary message starts with a byte
// that has its high bit set; anything else is taken as a frame length.
func parseRequest(b []byte) (request, error) {
	if len(b) < 4 {
		return request{}, errShort
	}
	if b[0]&0x80 != 0 {
		return parseMessage(b)
	}
	n := binary.BigEndian.Uint32(b)
	if n > maxEchoMessage {
		return request{}, errBadMessage
	}
	if uint32(len(b)-4) < n {
		return request{}, errShort
	}
	r, err := parseMessage(b[4 : 4+n])
	if errors.Is(err, errShort) || (err == nil && r.size != int(n)) {
		return request{}, errBadMessage
	}
	r.framed, r.size = true, int(n)+4
	return r, err
}

// parseMessage parses one unframed strict binary call or oneway message.
func parseMessage(b []byte) (request, error) {
	d := decoder{b: b}
	v := d.u32()
	if d.err == nil && v&versionMask != version1 {
		return request{}, errBadMessage
	}
	typ := v & 0xff
	if d.err == nil && typ != msgCall && typ != msgOneway {
		return request{}, errBadMessage
	}
	nameLen := int(int32(d.u32()))
	if d.err == nil && (nameLen < 0 || nameLen > maxNameLen) {
		return request{}, errBadMessage
	}
	r := request{name: d.take(nameLen), seqID: int32(d.u32()), oneway: typ == msgOneway}
	d.skip(tStruct, 0)
	r.size = d.off
	return r, d.err
}

// decoder walks a binary-protocol buffer. Its first error sticks: errShort
// when the buffer ends early, errBadMessage for what no client would send.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) take(n int) []byte {
	switch {
	case d.err != nil:
		return nil
	case n < 0 || n > maxEchoMessage:
		d.err = errBadMessage
		return nil
	case len(d.b)-d.off < n:
		d.err = errShort
		return nil
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p
}

func (d *decoder) u8() byte {
	if p := d.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if p := d.take(4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

// skip passes over one value of type t.
func (d *decoder) skip(t byte, depth int) {
	if depth > maxDepth && d.err == nil {
		d.err = errBadMessage
	}
	switch t {
	case tBool, tByte:
		d.take(1)
	case tI16:
		d.take(2)
	case tI32:
		d.take(4)
	case tDouble, tI64:
		d.take(8)
	case tUUID:
		d.take(16)
	case tString:
		d.take(int(int32(d.u32())))
	case tStruct:
		d.skipFields(depth)
	case tMap:
		kt, vt := d.u8(), d.u8()
		d.skipElems(depth, kt, vt)
	case tSet, tList:
		d.skipElems(depth, d.u8())
	default:
		if d.err == nil {
			d.err = errBadMessage
		}
	}
}

// skipFields passes over the fields of a struct up to its stop byte.
func (d *decoder) skipFields(depth int) {
	for d.err == nil {
		t := d.u8()
		if t == 0 {
			return
		}
		d.take(2) // field id
		d.skip(t, depth+1)
	}
}

// skipElems passes over a count and that many elements of the given types
// (one type for a list or set, a key and a value type for a map).
func (d *decoder) skipElems(depth int, types ...byte) {
	n := int(int32(d.u32()))
	if d.err == nil && (n < 0 || n > maxEchoMessage) {
		d.err = errBadMessage
	}
	for i := 0; i < n && d.err == nil; i++ {
		for _, t := range types {
			d.skip(t, depth+1)
		}
	}
}
