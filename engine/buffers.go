package engine

import (
	"bufio"
	"io"
	"net"
	"sync"
)

// An idle connection holds no read or write buffer: most of a daemon's
// connections wait for their next call most of the time (PHP-FPM workers
// keep theirs between requests, and up to max_outstanding_sessions of them
// may), and two buffer_size buffers each would be most of what they cost.
// While idle a session waits with a small read of its own (headReader);
// the bytes it gets are served first by a pooled reader for the call, and
// a pooled writer holds the reply only until it is flushed.

// headBytes is what the idle wait reads at most: a whole small call (a
// noop is 25 bytes, an lc_get with its Context about 60), so most calls
// cost the one read they did with a buffer held all along.
const headBytes = 512

// bufferPools are the engine's readers and writers of buffer_size.
type bufferPools struct {
	readers, writers sync.Pool
}

func newBufferPools(size int) *bufferPools {
	b := &bufferPools{}
	b.readers.New = func() any { return bufio.NewReaderSize(nil, size) }
	b.writers.New = func() any { return bufio.NewWriterSize(nil, size) }
	return b
}

func (b *bufferPools) reader(from io.Reader) *bufio.Reader {
	r := b.readers.Get().(*bufio.Reader)
	r.Reset(from)
	return r
}

func (b *bufferPools) writer(to io.Writer) *bufio.Writer {
	w := b.writers.Get().(*bufio.Writer)
	w.Reset(to)
	return w
}

// put returns r and w (either may be nil) with no reference to the
// connection left in them.
func (b *bufferPools) put(r *bufio.Reader, w *bufio.Writer) {
	if r != nil {
		r.Reset(nil)
		b.readers.Put(r)
	}
	if w != nil {
		w.Reset(nil)
		b.writers.Put(w)
	}
}

// headReader is the connection as a call's reader sees it: first the
// bytes the idle wait read, then the connection itself.
type headReader struct {
	conn       net.Conn
	buf        [headBytes]byte
	start, end int
}

func (h *headReader) Read(p []byte) (int, error) {
	if h.start < h.end {
		n := copy(p, h.buf[h.start:h.end])
		h.start += n
		return n, nil
	}
	return h.conn.Read(p)
}
