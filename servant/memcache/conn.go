package memcache

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"
	"time"
)

// maxValueBytes bounds the value length a reply may announce: memcached's
// largest item size (-I) is 1 GB. A larger length is a garbled reply, and
// must not become an allocation.
const maxValueBytes = 1 << 30

// ErrServer is wrapped by the error for a SERVER_ERROR or CLIENT_ERROR answer:
// the server is up and refused this one call (a value over its item size, out
// of memory, incr of a non-numeric value). The connection stays open and the
// breaker counts a success.
var ErrServer = errors.New("memcache: server error")

// answerError is an error line the server answered; the stream stays in step.
type answerError struct{ line string }

func (e *answerError) Error() string { return "server answered " + strconv.Quote(e.line) }
func (e *answerError) Unwrap() error { return ErrServer }

// protocolError is a reply that does not fit the protocol: the stream is out
// of step and the connection must be closed.
type protocolError struct{ reply string }

func (e *protocolError) Error() string {
	return "protocol error: unexpected reply " + strconv.Quote(e.reply)
}

// isBroken is the pool's classification: a miss or an answered error keeps the
// connection; anything else (network errors, timeouts, garbled replies) leaves
// the stream in an unknown state, so the connection is closed and the breaker
// counts a failure.
func isBroken(err error) bool {
	if err == ErrMiss {
		return false
	}
	_, answered := err.(*answerError)
	return !answered
}

// conn is one connection to a memcached server speaking the text protocol.
// The pool hands it to one call at a time; it is not safe for concurrent use.
// Its reader and writer live as long as it does, so a call allocates neither.
type conn struct {
	nc  net.Conn
	r   *bufio.Reader
	w   *bufio.Writer
	num [20]byte // scratch for formatting numbers without allocating

	calls   int  // calls started on it; past 1, it sat idle in the pool before this one
	replied bool // the current call has read at least a byte of its reply
}

// dialer returns the pool's Dial for addr.
func dialer(addr string) func(ctx context.Context) (*conn, error) {
	return func(ctx context.Context) (*conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return &conn{nc: nc, r: bufio.NewReader(nc), w: bufio.NewWriter(nc)}, nil
	}
}

func (c *conn) close() error { return c.nc.Close() }

// ping is the pool's heartbeat: a version round trip within ctx's deadline.
func ping(ctx context.Context, c *conn) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(DefaultIOTimeout)
	}
	if err := c.nc.SetDeadline(deadline); err != nil {
		return err
	}
	c.w.WriteString("version\r\n")
	line, err := c.roundTrip()
	if err == nil && !bytes.HasPrefix(line, []byte("VERSION ")) {
		err = &protocolError{string(line)}
	}
	return err
}

// call runs fn, one memcached command, with all its I/O bounded by deadline.
func (c *conn) call(deadline time.Time, fn func(*conn) error) error {
	c.calls++
	c.replied = false
	if err := c.nc.SetDeadline(deadline); err != nil {
		return err
	}
	return fn(c)
}

// stale reports whether the call that just failed with err on c may run again
// on a new connection: c was reused (it sat idle in the pool before this
// call), the error says the connection is gone (EOF, reset, broken pipe), and
// not a byte of the reply came back.
//
// Repeating the call is then safe even for incr, add or delete, as
// database/sql repeats on driver.ErrBadConn. Such a connection was closed by
// the server while it sat idle (a restart, an idle limit): our command went
// to a socket with no process behind it, which answered with a reset, or it
// never left. memcached does not run a command and close without replying
// (it answers even errors first). The one exception is a server dying
// between running a command and writing its reply, and its data dies with it
// (unless it restarts warm, memcached -e), so the repeat cannot apply twice
// to the same values. Not repeated: a timeout (the server may still be
// running the command), a fresh connection failing (the server refusing us:
// the breaker must count it), a reply cut short (the command ran).
func (c *conn) stale(err error) bool {
	return c.calls > 1 && !c.replied &&
		(errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE))
}

// store runs a storage command (set, add) and reports whether it stored.
func (c *conn) store(verb, key string, value []byte, flags uint32, exp int32) (bool, error) {
	c.w.WriteString(verb)
	c.w.WriteByte(' ')
	c.w.WriteString(key)
	c.writeUint(uint64(flags))
	c.writeInt(int64(exp))
	c.writeUint(uint64(len(value)))
	c.w.WriteString("\r\n")
	c.w.Write(value)
	c.w.WriteString("\r\n")
	line, err := c.roundTrip()
	switch {
	case err != nil:
		return false, err
	case string(line) == "STORED":
		return true, nil
	case string(line) == "NOT_STORED":
		return false, nil
	}
	return false, answer(line)
}

// get fetches key's value and flags, or ErrMiss.
func (c *conn) get(key string) ([]byte, uint32, error) {
	c.w.WriteString("get ")
	c.w.WriteString(key)
	c.w.WriteString("\r\n")
	line, err := c.roundTrip()
	if err != nil {
		return nil, 0, err
	}
	if string(line) == "END" {
		return nil, 0, ErrMiss
	}
	flags, size, err := parseValueLine(line, key)
	if err != nil {
		return nil, 0, err
	}
	value, err := c.readValue(size)
	return value, flags, err
}

// readValue reads a value block of size bytes and the END line after it.
func (c *conn) readValue(size int) ([]byte, error) {
	buf := make([]byte, size+2)
	if _, err := io.ReadFull(c.r, buf); err != nil {
		return nil, err
	}
	if !bytes.HasSuffix(buf, []byte("\r\n")) {
		return nil, &protocolError{"value block without CRLF"}
	}
	line, err := c.readLine()
	if err == nil && string(line) != "END" {
		err = &protocolError{string(line)}
	}
	return buf[:size:size], err
}

// parseValueLine reads "VALUE <key> <flags> <bytes>" for the key asked.
func parseValueLine(line []byte, key string) (flags uint32, size int, err error) {
	rest, ok := bytes.CutPrefix(line, []byte("VALUE "))
	if !ok {
		return 0, 0, answer(line)
	}
	k, rest, _ := bytes.Cut(rest, []byte(" "))
	f, n, _ := bytes.Cut(rest, []byte(" "))
	fv, okF := parseUint(f, 1<<32-1)
	nv, okN := parseUint(n, maxValueBytes)
	if string(k) != key || !okF || !okN {
		return 0, 0, &protocolError{string(line)}
	}
	return uint32(fv), int(nv), nil
}

// delete removes key and reports whether it was there.
func (c *conn) delete(key string) (bool, error) {
	c.w.WriteString("delete ")
	c.w.WriteString(key)
	c.w.WriteString("\r\n")
	line, err := c.roundTrip()
	switch {
	case err != nil:
		return false, err
	case string(line) == "DELETED":
		return true, nil
	case string(line) == "NOT_FOUND":
		return false, nil
	}
	return false, answer(line)
}

// incrDecr runs incr or decr and returns the new value, or ErrMiss.
func (c *conn) incrDecr(verb, key string, delta uint64) (uint64, error) {
	c.w.WriteString(verb)
	c.w.WriteByte(' ')
	c.w.WriteString(key)
	c.writeUint(delta)
	c.w.WriteString("\r\n")
	line, err := c.roundTrip()
	if err != nil {
		return 0, err
	}
	if string(line) == "NOT_FOUND" {
		return 0, ErrMiss
	}
	if v, ok := parseUint(line, 1<<64-1); ok {
		return v, nil
	}
	return 0, answer(line)
}

// writeUint writes a space and v in decimal.
func (c *conn) writeUint(v uint64) {
	c.w.Write(strconv.AppendUint(append(c.num[:0], ' '), v, 10))
}

// writeInt writes a space and v in decimal.
func (c *conn) writeInt(v int64) {
	c.w.Write(strconv.AppendInt(append(c.num[:0], ' '), v, 10))
}

// roundTrip sends what was buffered and reads the first reply line.
func (c *conn) roundTrip() ([]byte, error) {
	if err := c.w.Flush(); err != nil {
		return nil, err
	}
	return c.readLine()
}

// readLine returns the next line without its CRLF. The slice is valid until
// the next read.
func (c *conn) readLine() ([]byte, error) {
	line, err := c.r.ReadSlice('\n')
	c.replied = c.replied || len(line) > 0
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, &protocolError{fmt.Sprintf("line longer than %d bytes", c.r.Size())}
	}
	if err != nil {
		return nil, err
	}
	if line, ok := bytes.CutSuffix(line, []byte("\r\n")); ok {
		return line, nil
	}
	return nil, &protocolError{string(line)}
}

// answer classifies a reply line that is not the command's success or miss:
// an error the server answered, or a protocol error.
func answer(line []byte) error {
	for _, p := range []string{"SERVER_ERROR ", "CLIENT_ERROR "} {
		if bytes.HasPrefix(line, []byte(p)) {
			return &answerError{string(line)}
		}
	}
	return &protocolError{string(line)}
}

// parseUint parses a decimal of at most max, without allocating.
func parseUint(b []byte, max uint64) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var v uint64
	for _, d := range b {
		if d < '0' || d > '9' {
			return 0, false
		}
		next := v*10 + uint64(d-'0')
		if next/10 != v {
			return 0, false // overflowed 64 bits
		}
		v = next
	}
	return v, v <= max
}
