package peer

import (
	"context"
	"net"
	"syscall"
	"testing"
)

// Peer connections have Nagle's algorithm off: with it on, a request written
// while an earlier segment waits for its ACK would wait too.
func TestPeerConnNoDelay(t *testing.T) {
	s := startThriftServer(t)
	c, err := dial(context.Background(), s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.nc.Close()
	raw, err := c.nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var on int
	ctlErr := raw.Control(func(fd uintptr) {
		on, err = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY)
	})
	if ctlErr != nil || err != nil {
		t.Fatal(ctlErr, err)
	}
	if on == 0 {
		t.Fatal("TCP_NODELAY is off on a peer connection")
	}
}
