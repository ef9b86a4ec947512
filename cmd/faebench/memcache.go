package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// Just enough of memcached's text protocol to drive memcached with the same
// load generator as the Thrift servers: get and set of one key.
//
//	get <key>\r\n                       -> VALUE <key> <flags> <bytes>\r\n<data>\r\nEND\r\n
//	                                       or END\r\n on a miss
//	set <key> <flags> 0 <bytes>\r\n<data>\r\n -> STORED\r\n
//
// Any request may instead be answered with ERROR, CLIENT_ERROR <msg> or
// SERVER_ERROR <msg>.

// maxMcValue bounds the value length a reply may announce: memcached's own
// item size limit is 1 MiB by default and 1 GiB at most; a benchmark has no
// use for more than this, and a garbled header must not allocate gigabytes.
const maxMcValue = 64 << 20

var (
	errMcMiss     = errors.New("memcache: cache miss")
	errMcProtocol = errors.New("memcache: malformed reply")
)

// mcServerError is an ERROR, CLIENT_ERROR or SERVER_ERROR reply. The server
// consumed the request, so the connection stays usable.
type mcServerError struct{ line string }

func (e *mcServerError) Error() string { return "memcache: server answered " + strconv.Quote(e.line) }

// mcConn is one memcached text-protocol connection. It is not safe for
// concurrent use.
type mcConn struct {
	nc      net.Conn
	rw      *bufio.ReadWriter
	timeout time.Duration // deadline per request; 0 for none
	value   []byte        // the last value read, reused by the next get
}

func newMcConn(nc net.Conn, timeout time.Duration) *mcConn {
	rw := bufio.NewReadWriter(bufio.NewReaderSize(nc, clientBufSize), bufio.NewWriterSize(nc, clientBufSize))
	return &mcConn{nc: nc, rw: rw, timeout: timeout}
}

// get fetches key. The value it returns is overwritten by the next get.
func (c *mcConn) get(key string) (value []byte, flags uint32, err error) {
	c.deadline()
	c.rw.WriteString("get ")
	c.rw.WriteString(key)
	c.rw.WriteString("\r\n")
	if err := c.rw.Flush(); err != nil {
		return nil, 0, err
	}
	value, flags, err = readGetReply(c.rw.Reader, key, c.value)
	if value != nil {
		c.value = value
	}
	return value, flags, err
}

// set stores value under key with no expiry.
func (c *mcConn) set(key string, flags uint32, value []byte) error {
	c.deadline()
	fmt.Fprintf(c.rw, "set %s %d 0 %d\r\n", key, flags, len(value))
	c.rw.Write(value)
	c.rw.WriteString("\r\n")
	if err := c.rw.Flush(); err != nil {
		return err
	}
	return readSetReply(c.rw.Reader)
}

func (c *mcConn) deadline() {
	if c.timeout > 0 {
		c.nc.SetDeadline(time.Now().Add(c.timeout))
	}
}

// readGetReply reads the reply to `get key`, reading the value into buf
// (grown if needed). It returns errMcMiss for a miss, an *mcServerError for
// an error line, and wraps errMcProtocol for anything else unexpected.
func readGetReply(r *bufio.Reader, key string, buf []byte) (value []byte, flags uint32, err error) {
	line, err := readLine(r)
	if err != nil {
		return nil, 0, err
	}
	if string(line) == "END" {
		return nil, 0, errMcMiss
	}
	flags, n, err := parseValueLine(line, key)
	if err != nil {
		return nil, 0, err
	}
	if value, err = readData(r, n, buf); err != nil {
		return nil, 0, err
	}
	if line, err = readLine(r); err != nil {
		return nil, 0, err
	}
	if string(line) != "END" {
		return nil, 0, fmt.Errorf("%w: %q after the value, want END", errMcProtocol, line)
	}
	return value, flags, nil
}

// parseValueLine parses `VALUE <key> <flags> <bytes> [<cas>]` (the line
// without its \r\n) for the expected key, or returns the server error the
// line is.
func parseValueLine(line []byte, key string) (flags uint32, n int, err error) {
	f := bytes.Fields(line)
	if len(f) == 0 || string(f[0]) != "VALUE" {
		return 0, 0, errorLine(line)
	}
	if len(f) != 4 && len(f) != 5 {
		return 0, 0, fmt.Errorf("%w: %q has %d fields, want 4 or 5", errMcProtocol, line, len(f))
	}
	if string(f[1]) != key {
		return 0, 0, fmt.Errorf("%w: value for key %q, asked for %q", errMcProtocol, f[1], key)
	}
	fl, err1 := strconv.ParseUint(string(f[2]), 10, 32)
	size, err2 := strconv.Atoi(string(f[3]))
	if err1 != nil || err2 != nil || size < 0 || size > maxMcValue {
		return 0, 0, fmt.Errorf("%w: %q: want flags 0 to 2^32-1 and 0 to %d bytes", errMcProtocol, line, maxMcValue)
	}
	return uint32(fl), size, nil
}

// readData reads n bytes of data and their \r\n into buf, grown if needed.
func readData(r *bufio.Reader, n int, buf []byte) ([]byte, error) {
	if cap(buf) < n+2 {
		buf = make([]byte, n+2)
	}
	buf = buf[:n+2]
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, noEOF(err)
	}
	if buf[n] != '\r' || buf[n+1] != '\n' {
		return nil, fmt.Errorf("%w: %d bytes of data not followed by \\r\\n", errMcProtocol, n)
	}
	return buf[:n], nil
}

// readSetReply reads the reply to a set: nil for STORED.
func readSetReply(r *bufio.Reader) error {
	line, err := readLine(r)
	if err != nil {
		return err
	}
	if string(line) == "STORED" {
		return nil
	}
	return errorLine(line)
}

// readLine returns the next line without its \r\n. A line must end in \r\n
// and fit in r's buffer. The line aliases r's buffer until the next read.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, fmt.Errorf("%w: line longer than %d bytes", errMcProtocol, r.Size())
	case err != nil:
		return nil, noEOF(err)
	case len(line) < 2 || line[len(line)-2] != '\r':
		return nil, fmt.Errorf("%w: line %q does not end in \\r\\n", errMcProtocol, line)
	}
	return line[:len(line)-2], nil
}

// errorLine returns the *mcServerError an error line stands for, or a
// protocol error if line is no reply memcached sends.
func errorLine(line []byte) error {
	word, _, _ := bytes.Cut(line, []byte(" "))
	switch string(word) {
	case "ERROR", "CLIENT_ERROR", "SERVER_ERROR":
		return &mcServerError{line: string(line)}
	}
	return fmt.Errorf("%w: unexpected %q", errMcProtocol, line)
}

// noEOF turns an end of stream inside a reply into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
