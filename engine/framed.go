package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/apache/thrift/lib/go/thrift"
)

// framedTransport is the framed transport of a session: each message, in
// and out, is preceded by its 4-byte big-endian length. Unlike Thrift's
// TFramedTransport it decodes a frame straight from the connection's read
// buffer instead of first copying it into a buffer of its own (which grows
// by doubling, up to 4 times the frame in allocations): what a framed
// message costs to read is then what the protocol decodes from it, counted
// by connTransport like a buffered one. A reply is buffered whole (its
// length goes first), in a buffer the session keeps. Not safe for
// concurrent use; a session owns it.
type framedTransport struct {
	t        *connTransport
	maxFrame int
	left     int // bytes of the current incoming frame not read yet
	hdr      [frameHeaderLen]byte
	wbuf     bytes.Buffer
}

// maxKeptReply is the largest reply buffer a session keeps between calls.
const maxKeptReply = 64 << 10

func newFramedTransport(t *connTransport, maxFrame int) *framedTransport {
	return &framedTransport{t: t, maxFrame: maxFrame}
}

// nextFrame reads frame headers until a non-empty frame starts.
func (f *framedTransport) nextFrame() error {
	for f.left == 0 {
		if _, err := io.ReadFull(f.t, f.hdr[:]); err != nil {
			return err
		}
		size := binary.BigEndian.Uint32(f.hdr[:])
		if size > uint32(f.maxFrame) {
			return thrift.NewTTransportExceptionFromError(
				fmt.Errorf("%w: frame of %d bytes (%d)", errMessageTooLarge, size, f.maxFrame))
		}
		f.left = int(size)
	}
	return nil
}

func (f *framedTransport) Read(p []byte) (int, error) {
	if err := f.nextFrame(); err != nil {
		return 0, err
	}
	if len(p) > f.left {
		p = p[:f.left]
	}
	n, err := f.t.Read(p)
	f.left -= n
	return n, err
}

func (f *framedTransport) ReadByte() (byte, error) {
	if err := f.nextFrame(); err != nil {
		return 0, err
	}
	c, err := f.t.ReadByte()
	if err == nil {
		f.left--
	}
	return c, err
}

// RemainingBytes is what is left of the current frame: the protocols refuse
// a container header announcing more elements than could fit in it.
func (f *framedTransport) RemainingBytes() uint64 { return uint64(f.left) }

func (f *framedTransport) Write(p []byte) (int, error)       { return f.wbuf.Write(p) }
func (f *framedTransport) WriteByte(c byte) error            { return f.wbuf.WriteByte(c) }
func (f *framedTransport) WriteString(s string) (int, error) { return f.wbuf.WriteString(s) }

// Flush hands the buffered reply, length first, to the connection's
// transport, which sends it when the session says so.
func (f *framedTransport) Flush(ctx context.Context) error {
	defer f.resetReply()
	binary.BigEndian.PutUint32(f.hdr[:], uint32(f.wbuf.Len()))
	if _, err := f.t.Write(f.hdr[:]); err != nil {
		return thrift.NewTTransportExceptionFromError(err)
	}
	if _, err := f.t.Write(f.wbuf.Bytes()); err != nil {
		return thrift.NewTTransportExceptionFromError(err)
	}
	return f.t.Flush(ctx)
}

// resetReply empties the reply buffer, and lets go of it after a large
// reply so an idle session does not hold it.
func (f *framedTransport) resetReply() {
	if f.wbuf.Cap() > maxKeptReply {
		f.wbuf = bytes.Buffer{}
	}
	f.wbuf.Reset()
}

func (f *framedTransport) Open() error                              { return nil }
func (f *framedTransport) IsOpen() bool                             { return true }
func (f *framedTransport) Close() error                             { return f.t.Close() }
func (f *framedTransport) SetTConfiguration(*thrift.TConfiguration) {}
