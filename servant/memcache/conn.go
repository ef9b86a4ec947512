package memcache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"
	"time"

	gomc "github.com/bradfitz/gomemcache/memcache"
)

// maxValueBytes bounds the value length a reply may announce: memcached's
// largest item size (-I) is 1 GB. A larger length is a garbled reply, and
// must not become an allocation (gomemcache would allocate up to 4 GB).
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
// of step and the connection must be closed. err is gomemcache's account of
// it, if any.
type protocolError struct {
	reply string // the reply's first line, or as much of it as came
	err   error
}

func (e *protocolError) Error() string {
	return "protocol error: unexpected reply " + strconv.Quote(e.reply)
}

func (e *protocolError) Unwrap() error { return e.err }

// errValueTooLong is socket.Read's refusal of a value over maxValueBytes.
var errValueTooLong = fmt.Errorf("value longer than %d bytes announced", maxValueBytes)

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

// conn is one pooled connection to a memcached server: a socket, and a
// gomemcache Client that speaks the text protocol over that socket and no
// other. The pool hands it to one call at a time; it is not safe for
// concurrent use. gomemcache keeps the connection as its one idle one between
// calls, with its reader and writer, so a call allocates neither.
type conn struct {
	sock  *socket
	mc    *gomc.Client
	calls int // calls started on it; past 1, it sat idle in the pool before this one
}

// newConn binds a gomemcache Client to nc, a connection to addr. The Client's
// dial hook returns nc every time: it dials again only after it dropped the
// connection over an answered error (see socket.Close), and then it gets the
// same connection back, still in step.
func newConn(nc net.Conn, addr string) *conn {
	s := &socket{Conn: nc}
	mc := gomc.NewFromSelector(&oneServer{addr: serverAddr(addr)})
	mc.DialContext = func(context.Context, string, string) (net.Conn, error) { return s, nil }
	mc.MaxIdleConns = 1
	return &conn{sock: s, mc: mc}
}

// dialer returns the pool's Dial for addr.
func dialer(addr string) func(ctx context.Context) (*conn, error) {
	return func(ctx context.Context) (*conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return newConn(nc, addr), nil
	}
}

func (c *conn) close() error { return c.sock.Conn.Close() }

// ping is the pool's heartbeat: a version round trip within ctx's deadline.
func ping(ctx context.Context, c *conn) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(DefaultIOTimeout)
	}
	if err := c.sock.Conn.SetDeadline(deadline); err != nil {
		return err
	}
	c.sock.reset()
	return c.mc.Ping()
}

// call runs fn, one memcached command, with all its I/O bounded by deadline
// and cut short when ctx is cancelled (a caller's budget ends its call so,
// with no deadline in ctx: see servant's deadline.go); the error then wraps
// context.Canceled, which the pool blames on nobody. gomemcache takes no
// ctx and sets no deadline that outlives this one (see socket.SetDeadline).
// A panic in fn becomes a protocol error: gomemcache slices reply lines
// assuming they end in CRLF, and a garbled line must not end the process.
func (c *conn) call(ctx context.Context, deadline time.Time, fn func(*conn) error) (err error) {
	c.calls++
	c.sock.reset()
	if err := c.sock.Conn.SetDeadline(deadline); err != nil {
		return err
	}
	if ctx.Done() != nil {
		defer c.interruptOnCancel(ctx)()
		defer func() {
			if err != nil && errors.Is(ctx.Err(), context.Canceled) {
				err = fmt.Errorf("%w: %w", context.Canceled, err)
			}
		}()
	}
	defer func() {
		if r := recover(); r != nil {
			err = &protocolError{reply: c.sock.firstLine(), err: fmt.Errorf("gomemcache: %v", r)}
		}
	}()
	return fn(c)
}

// interruptOnCancel makes the connection's I/O fail at once when ctx is
// cancelled, until the returned stop, which waits for an interruption
// under way: none may land on the connection's next call.
func (c *conn) interruptOnCancel(ctx context.Context) (stop func()) {
	interrupted := make(chan struct{})
	stopWatch := context.AfterFunc(ctx, func() {
		defer close(interrupted)
		c.sock.Conn.SetDeadline(time.Unix(1, 0))
	})
	return func() {
		if !stopWatch() {
			<-interrupted
		}
	}
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
	return c.calls > 1 && !c.sock.replied &&
		(errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE))
}

// store runs a storage command, gomemcache's Set or Add, and reports whether
// it stored.
func (c *conn) store(op func(*gomc.Client, *gomc.Item) error, key string, value []byte, flags uint32, exp int32) (bool, error) {
	err := op(c.mc, &gomc.Item{Key: key, Value: value, Flags: flags, Expiration: exp})
	switch {
	case err == nil:
		return true, nil
	case err == gomc.ErrNotStored:
		return false, nil
	}
	return false, c.classify(err)
}

// get fetches key's value and flags, or ErrMiss.
func (c *conn) get(key string) ([]byte, uint32, error) {
	it, err := c.mc.Get(key)
	if err != nil {
		return nil, 0, c.classify(err)
	}
	if it.Key != key { // gomemcache takes any key the reply names
		return nil, 0, &protocolError{reply: c.sock.firstLine()}
	}
	return it.Value, it.Flags, nil
}

// getMulti fetches keys, which must be distinct, in one round trip, and
// returns the items found by key; a key not in it is a miss. asked reports
// whether a key is among keys: a reply naming another is a protocol error.
//
// gomemcache's GetMulti reads the reply on a goroutine of its own, beyond
// call's recover; its get parser checks each line before slicing it, so no
// garbled reply panics there.
func (c *conn) getMulti(keys []string, asked func(key string) bool) (map[string]*gomc.Item, error) {
	items, err := c.mc.GetMulti(keys)
	if err != nil {
		return nil, c.classify(err)
	}
	for key := range items {
		if !asked(key) {
			return nil, &protocolError{reply: c.sock.firstLine()}
		}
	}
	return items, nil
}

// delete removes key and reports whether it was there.
func (c *conn) delete(key string) (bool, error) {
	err := c.mc.Delete(key)
	switch {
	case err == nil:
		return true, nil
	case err == gomc.ErrCacheMiss:
		return false, nil
	}
	return false, c.classify(err)
}

// incrDecr runs gomemcache's Increment or Decrement and returns the new
// value, or ErrMiss.
func (c *conn) incrDecr(op func(*gomc.Client, string, uint64) (uint64, error), key string, delta uint64) (uint64, error) {
	v, err := op(c.mc, key, delta)
	if err != nil {
		return 0, c.classify(err)
	}
	return v, nil
}

// classify turns err, gomemcache's error for a call that did not succeed,
// into this package's classes. gomemcache words a reply it did not expect in
// a message of its own, and a SERVER_ERROR like any other such reply, so the
// class is read from what the socket saw instead: a network failure is
// returned as gomemcache passed it on (io.EOF, a timeout, a reset); a first
// reply line of SERVER_ERROR or CLIENT_ERROR is an answer; anything else is
// a protocol error.
func (c *conn) classify(err error) error {
	switch {
	case err == gomc.ErrCacheMiss:
		return ErrMiss
	case c.sock.err != nil:
		return err
	case c.sock.answered():
		return &answerError{c.sock.firstLine()}
	}
	return &protocolError{reply: c.sock.firstLine(), err: err}
}

// socket is the pooled connection as gomemcache's Client sees it. It keeps
// the call's deadline in place of gomemcache's own, leaves closing to the
// pool, and notes what came back: whether any byte did, the reply's first
// line, and the network error if the read or write failed.
type socket struct {
	net.Conn
	replied bool  // the current call has read at least a byte of its reply
	err     error // the current call's network error
	line    [lineBytes]byte
	n       int  // bytes of the reply's first line noted in line
	done    bool // line holds the whole first line, up to its '\n'
	guard   valueGuard
}

// lineBytes is as much of a first line as socket keeps: a VALUE line with
// the longest key, flags, length and cas fits.
const lineBytes = 320

// reset readies s for a new call.
func (s *socket) reset() {
	s.replied, s.err, s.n, s.done = false, nil, 0, false
	s.guard = valueGuard{}
}

// SetDeadline ignores gomemcache's deadline, its Timeout from now at each
// step of a call: conn.call has set the call's own, the sooner of ctx's and
// the I/O timeout, for the whole call.
func (s *socket) SetDeadline(time.Time) error { return nil }

// Close leaves the connection open. gomemcache closes its connection after
// any error but a miss or a refused add, SERVER_ERROR answers included; the
// pool decides instead, by the error's class (isBroken), and closes the
// connections it discards itself.
func (s *socket) Close() error { return nil }

func (s *socket) Write(p []byte) (int, error) {
	n, err := s.Conn.Write(p)
	if err != nil {
		s.err = err
	}
	return n, err
}

// Read notes the reply's first line as it passes, and refuses a VALUE line
// (the first or any later one of a multi-get) announcing more than
// maxValueBytes before gomemcache allocates the value.
func (s *socket) Read(p []byte) (int, error) {
	n, err := s.Conn.Read(p)
	if err != nil {
		s.err = err
	}
	if n > 0 {
		s.replied = true
		if !s.done {
			s.note(p[:n])
		}
		if s.guard.pass(p[:n]) {
			return 0, errValueTooLong // a protocol error, not the network's
		}
	}
	return n, err
}

// valueGuard follows a reply line by line, stepping over the value after
// each VALUE line, to find a VALUE line that announces more than
// maxValueBytes, or that is longer than any memcached sends.
type valueGuard struct {
	line [lineBytes]byte
	n    int  // bytes of the line being read kept in line
	long bool // the line being read is longer than line
	skip int  // bytes still to come of the value being read, with its "\r\n"
}

// pass follows b, the next bytes of the reply, and reports whether a VALUE
// line ending in it is refused.
func (g *valueGuard) pass(b []byte) bool {
	for len(b) > 0 {
		if g.skip > 0 {
			k := min(g.skip, len(b))
			b, g.skip = b[k:], g.skip-k
			continue
		}
		part := b
		end := bytes.IndexByte(b, '\n')
		if end >= 0 {
			part = b[:end+1]
		}
		b = b[len(part):]
		kept := copy(g.line[g.n:], part)
		g.n += kept
		g.long = g.long || kept < len(part)
		if end < 0 {
			return false // the line goes on in the next read
		}
		if g.lineEnded() {
			return true
		}
		g.n, g.long = 0, false
	}
	return false
}

// lineEnded checks the line just read whole: it reports whether it is a
// VALUE line to refuse, and if it is one to pass, steps over its value.
func (g *valueGuard) lineEnded() bool {
	line := g.line[:g.n]
	if !bytes.HasPrefix(line, []byte("VALUE ")) {
		return false
	}
	if g.long {
		return true
	}
	size, ok := valueLength(line)
	switch {
	case !ok:
		return false // gomemcache refuses it
	case size > maxValueBytes:
		return true
	}
	g.skip = size + 2
	return false
}

// note keeps b's bytes up to the first line's end.
func (s *socket) note(b []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b, s.done = b[:i+1], true
	}
	s.n += copy(s.line[s.n:], b)
}

// firstLine returns the reply's first line without its line end.
func (s *socket) firstLine() string {
	return string(bytes.TrimRight(s.line[:s.n], "\r\n"))
}

// answered reports whether the reply's first line is a whole SERVER_ERROR or
// CLIENT_ERROR line: memcached's refusal of the one call, after which the
// stream is in step.
func (s *socket) answered() bool {
	line := s.line[:s.n]
	return s.done && bytes.HasSuffix(line, []byte("\r\n")) &&
		(bytes.HasPrefix(line, []byte("SERVER_ERROR ")) || bytes.HasPrefix(line, []byte("CLIENT_ERROR ")))
}

// valueLength returns the bytes a VALUE line "VALUE <key> <flags> <bytes>
// [<cas>]" announces, or at most maxValueBytes+1 of them, and whether it
// parses that far. One that does not is left to gomemcache to refuse.
func valueLength(line []byte) (int, bool) {
	rest, ok := bytes.CutPrefix(line, []byte("VALUE "))
	if !ok {
		return 0, false
	}
	_, rest, _ = bytes.Cut(rest, []byte(" ")) // the key
	_, rest, _ = bytes.Cut(rest, []byte(" ")) // the flags
	n, digits := 0, 0
	for _, d := range bytes.TrimRight(rest, "\r\n") {
		if d == ' ' {
			break // a cas follows
		}
		if d < '0' || d > '9' {
			return 0, false
		}
		if digits++; n <= maxValueBytes {
			n = n*10 + int(d-'0')
		}
	}
	return min(n, maxValueBytes+1), digits > 0
}

// oneServer is the ServerSelector of a gomemcache Client bound to one
// connection: every key is on its server, which package memcache picked.
type oneServer struct{ addr net.Addr }

func (s *oneServer) PickServer(string) (net.Addr, error) { return s.addr, nil }
func (s *oneServer) Each(f func(net.Addr) error) error   { return f(s.addr) }

// serverAddr is a server's "host:port" as gomemcache names it, unresolved:
// it only keys gomemcache's idle list, since the dial hook does not dial.
type serverAddr string

func (a serverAddr) Network() string { return "tcp" }
func (a serverAddr) String() string  { return string(a) }
