package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
)

// errMessageTooLarge is returned when one message reads past max_message_size.
var errMessageTooLarge = errors.New("engine: message exceeds max_message_size")

// connTransport is the Thrift transport of one session: buffered reads and
// writes over the connection, with a byte budget per incoming message so a
// client can never make the daemon read (or allocate for) more than
// max_message_size for one call. Not safe for concurrent use; a session owns it.
//
// RemainingBytes reports what the message may still read of that budget.
// The protocols only use it to refuse a container header whose elements
// could not fit in it, so it bounds what may still arrive, not what did,
// and stays so on purpose: what is buffered would refuse a large legit
// message still in flight, and what a message decodes to is bounded as it
// arrives by budgetProtocol.
type connTransport struct {
	conn net.Conn
	bufs *bufferPools
	// r reads the current call: nil while the session is idle, waiting in
	// awaitHead (buffers.go). w holds a reply until it is flushed: nil
	// between replies.
	r *bufio.Reader
	w *bufio.Writer
	// head is what awaitHead read of the next call, served first by r.
	head headReader
	// out is what w flushes into; it arms the write timeout.
	out replyWriter

	// limit is the byte budget of one message; used is what the current
	// message has consumed so far (reset by beginMessage).
	limit int
	used  int

	// flushPending is set by Flush: the reply goes out when the session
	// calls flushReply, after it has counted the call, so a client that
	// holds its reply always finds the call in the stats.
	flushPending bool
}

func newConnTransport(conn net.Conn, bufs *bufferPools, limit int, writeTimeout time.Duration) *connTransport {
	return &connTransport{
		conn:  conn,
		bufs:  bufs,
		head:  headReader{conn: conn},
		limit: limit,
		out:   replyWriter{conn: conn, timeout: writeTimeout},
	}
}

// buffered reports whether the next call's bytes are already read.
func (t *connTransport) buffered() bool { return t.r != nil && t.r.Buffered() > 0 }

// awaitHead gives back the reader of the last call, if any, and waits,
// holding no buffer but head's, for the first bytes of the next call; then
// it takes a reader that serves them first. Call it only when !buffered().
// The connection's read deadline bounds the wait.
func (t *connTransport) awaitHead() error {
	t.bufs.put(t.r, nil)
	t.r = nil
	n, err := t.conn.Read(t.head.buf[:])
	if n == 0 {
		if err == nil {
			err = io.ErrNoProgress
		}
		return err
	}
	// An error with bytes comes back on the next read of the connection.
	t.head.start, t.head.end = 0, n
	t.r = t.bufs.reader(&t.head)
	return nil
}

// release gives the buffers back when the session ends.
func (t *connTransport) release() {
	t.bufs.put(t.r, t.w)
	t.r, t.w = nil, nil
}

// writer is the reply's buffer, taken when the reply starts.
func (t *connTransport) writer() *bufio.Writer {
	if t.w == nil {
		t.w = t.bufs.writer(&t.out)
	}
	return t.w
}

// beginMessage resets the byte budget for the next incoming message, and
// lets the reply to it arm the write timeout afresh.
func (t *connTransport) beginMessage() {
	t.used = 0
	t.out.armed = false
	t.out.err = nil
}

// charge counts n consumed bytes against the budget.
func (t *connTransport) charge(n int) error {
	t.used += n
	if t.used > t.limit {
		return thrift.NewTTransportExceptionFromError(
			fmt.Errorf("%w (%d bytes)", errMessageTooLarge, t.limit))
	}
	return nil
}

func (t *connTransport) Read(p []byte) (int, error) {
	if rest := t.limit - t.used; len(p) > rest {
		// Never hand the reader a buffer past the budget: a read would
		// otherwise consume bytes of a message we are about to refuse.
		if rest <= 0 {
			return 0, t.charge(1)
		}
		p = p[:rest]
	}
	n, err := t.r.Read(p)
	t.used += n
	return n, err
}

func (t *connTransport) ReadByte() (byte, error) {
	if err := t.charge(1); err != nil {
		return 0, err
	}
	return t.r.ReadByte()
}

func (t *connTransport) Write(p []byte) (int, error)              { return t.writer().Write(p) }
func (t *connTransport) WriteByte(c byte) error                   { return t.writer().WriteByte(c) }
func (t *connTransport) WriteString(s string) (int, error)        { return t.writer().WriteString(s) }
func (t *connTransport) Flush(ctx context.Context) error          { t.flushPending = true; return nil }
func (t *connTransport) Open() error                              { return nil }
func (t *connTransport) IsOpen() bool                             { return true }
func (t *connTransport) Close() error                             { return t.conn.Close() }
func (t *connTransport) RemainingBytes() uint64                   { return uint64(max(t.limit-t.used, 0)) }
func (t *connTransport) SetTConfiguration(*thrift.TConfiguration) {}

// replyWriter is the connection as the write buffer sees it: the first
// bytes of a reply to go out arm the write timeout, so it runs only while
// a reply is being written, never while a call is served. Not safe for
// concurrent use.
type replyWriter struct {
	conn     net.Conn
	timeout  time.Duration
	deadline time.Time // the write deadline last set on conn
	armed    bool      // the current reply has armed it
	err      error     // the first write error of the current reply
}

func (w *replyWriter) Write(p []byte) (int, error) {
	if !w.armed {
		w.arm()
	}
	n, err := w.conn.Write(p)
	if err != nil && w.err == nil {
		w.err = err
	}
	return n, err
}

// arm gives the reply timeout from now. A deadline set by an earlier reply
// is kept while it is 7/8 of timeout away or more: each SetWriteDeadline
// modifies a runtime timer, and on a busy connection a fresh deadline would
// move by microseconds per call. So a reply gets between 7/8 of timeout
// and timeout, and the timer changes at most once per timeout/8.
func (w *replyWriter) arm() {
	w.armed = true
	if w.timeout == 0 { // off: no write deadline is ever set
		return
	}
	now := time.Now()
	if w.deadline.Sub(now) >= w.timeout-w.timeout/8 {
		return
	}
	w.deadline = now.Add(w.timeout)
	w.conn.SetWriteDeadline(w.deadline)
}

// flushReply sends what the processor asked to flush.
func (t *connTransport) flushReply() error {
	if !t.flushPending {
		return nil
	}
	t.flushPending = false
	if t.w == nil {
		return nil // nothing was written
	}
	if err := t.w.Flush(); err != nil {
		return err // the session ends; release gives the writer back
	}
	t.bufs.put(nil, t.w)
	t.w = nil
	return nil
}
