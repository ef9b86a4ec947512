//go:build unix

package faeclient

import (
	"errors"
	"io"
	"net"
	"syscall"
)

// errStray is a byte faed sent unasked on an idle connection.
var errStray = errors.New("faeclient: unexpected byte on an idle connection")

// peek reports why an idle connection cannot serve a call, or nil if it
// can. faed sends nothing unasked, so anything to read means it closed the
// connection (the end of the stream, a reset) or the stream is out of step
// (a stray byte would garble the next answer). It reads without waiting.
func peek(nc net.Conn) error {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var found error
	err = raw.Read(func(fd uintptr) bool {
		var b [1]byte
		n, err := syscall.Read(int(fd), b[:])
		switch {
		case n > 0:
			found = errStray
		case n == 0 && err == nil:
			found = io.EOF
		case err != syscall.EAGAIN && err != syscall.EWOULDBLOCK:
			found = err
		}
		return true // done: never wait for readability
	})
	if err != nil {
		return err
	}
	return found
}
