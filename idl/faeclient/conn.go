package faeclient

import (
	"context"
	"errors"
	"math"
	"net"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
)

// bufferSize is the read and the write buffer of a buffered connection,
// as the PHP helper's.
const bufferSize = 8192

// conn is one connection to faed: its socket (a wire), the buffered or
// framed transport over it and the binary protocol. Not safe for
// concurrent use: one Call holds it at a time.
type conn struct {
	wire   *wire
	client *thrift.TStandardClient
	// fresh is set until it sends a call or goes into the pool. One that is
	// not has sat idle, in the pool or between the calls of a Call, where
	// faed may have closed it (its idle_timeout, a restart).
	fresh bool
	// idleSince is when it was last put in the pool.
	idleSince time.Time
	// broken is set when a call left it unusable: an I/O or protocol
	// error, a cancelled ctx, or a panic in the middle. The pool closes it.
	broken bool
}

func newConn(nc net.Conn, framed bool) *conn {
	w := &wire{Conn: nc}
	var t thrift.TTransport = thrift.NewTBufferedTransport(w, bufferSize)
	if framed {
		t = thrift.NewTFramedTransportConf(w, nil)
	}
	p := thrift.NewTBinaryProtocolConf(t, nil)
	return &conn{wire: w, client: thrift.NewTStandardClient(p, p), fresh: true}
}

// aLongTimeAgo is a deadline that makes a blocked read or write return.
var aLongTimeAgo = time.Unix(1, 0)

// call sends one call and reads its answer before ctx's deadline, or
// within timeout if ctx has none; cancelling ctx cuts it short. Unless it
// returns nil or an exception faed answered, it marks cn broken.
func (cn *conn) call(ctx context.Context, timeout time.Duration, method string, args, result thrift.TStruct) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(timeout)
	}
	cn.broken = true // until the answer is read: a panic below leaves it so
	cn.fresh = false
	cn.wire.reset()
	if err := cn.wire.SetDeadline(deadline); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { cn.wire.SetDeadline(aLongTimeAgo) })
	_, err := cn.client.Call(ctx, method, args, result)
	// If ctx was cancelled, its deadline may land after the answer, where
	// it would fail the next call: the connection is not reused then.
	cn.broken = !stop() || (err != nil && !answered(err))
	if !cn.broken {
		// An idle connection has no deadline: a past one would fail peek.
		cn.wire.SetDeadline(time.Time{})
	}
	return err
}

func (cn *conn) close() { cn.wire.Close() }

// answered reports whether err is an exception faed sent as its answer,
// after which the connection is still in step for the next call. The
// exceptions TStandardClient makes up for an answer that is not the one
// awaited say the opposite.
func answered(err error) bool {
	var app thrift.TApplicationException
	if !errors.As(err, &app) {
		return false
	}
	switch app.TypeId() {
	case thrift.WRONG_METHOD_NAME, thrift.BAD_SEQUENCE_ID, thrift.INVALID_MESSAGE_TYPE_EXCEPTION:
		return false
	}
	return true
}

// wire is a connection's socket as the Thrift transports see it. It notes
// what the current call did on it, which tells a stale connection from one
// that failed in the middle of a call (see resendable): whether writing
// failed, how many bytes of the answer came, and why reading stopped.
type wire struct {
	net.Conn
	read     int
	readErr  error
	writeErr error
}

// reset forgets the previous call.
func (w *wire) reset() { w.read, w.readErr, w.writeErr = 0, nil, nil }

func (w *wire) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	w.read += n
	if err != nil && w.readErr == nil {
		w.readErr = err
	}
	return n, err
}

func (w *wire) Write(p []byte) (int, error) {
	n, err := w.Conn.Write(p)
	if err != nil && w.writeErr == nil {
		w.writeErr = err
	}
	return n, err
}

// The rest of thrift.TTransport: the socket is open from the start, and
// writes go straight to it.

func (w *wire) Open() error                     { return nil }
func (w *wire) IsOpen() bool                    { return true }
func (w *wire) Flush(ctx context.Context) error { return nil }
func (w *wire) RemainingBytes() uint64          { return math.MaxUint64 }
