package peer

import (
	"encoding/binary"
	"net"
	"sync/atomic"
	"time"
)

// heard follows a node's ZooKeeper connections for the cut-off clock
// (views.disconnected): when bytes from a server last arrived, and the
// session timeout the server granted. ZooKeeper expires a session a
// timeout after it last heard of the client, which is no earlier than the
// client last heard of it; so a node that stops serving its vbuckets one
// granted timeout after that has stopped before any other node can be
// given them. The client library exports neither figure: heard reads them
// off the connection.
type heard struct {
	at      atomic.Int64 // unix ns of the last bytes read; 0: none yet
	granted atomic.Int64 // the session timeout in the last connect response, ns; 0: none yet
}

// dial is a zk.Dialer whose connections report to h.
func (h *heard) dial(network, address string, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout(network, address, timeout)
	if err != nil {
		return nil, err
	}
	return &heardConn{Conn: c, h: h}, nil
}

// deadline is when our session may expire, by what we heard: the last
// bytes plus the lower of the granted and the configured timeout (the
// configured one until a server answered).
func (h *heard) deadline(configured time.Duration) time.Time {
	timeout := configured
	if g := time.Duration(h.granted.Load()); g > 0 {
		timeout = min(timeout, g)
	}
	at := h.at.Load()
	if at == 0 {
		return time.Now().Add(timeout)
	}
	return time.Unix(0, at).Add(timeout)
}

// connectHead is the start of a connect response: length (4 bytes),
// protocol version (4), session timeout in ms (4).
const connectHead = 12

// heardConn is one ZooKeeper connection reporting to h. Its first
// connectHead bytes are the server's connect response.
type heardConn struct {
	net.Conn
	h    *heard
	head []byte
}

func (c *heardConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.h.at.Store(time.Now().UnixNano())
		if len(c.head) < connectHead {
			c.head = append(c.head, b[:min(n, connectHead-len(c.head))]...)
			if len(c.head) == connectHead {
				if ms := int32(binary.BigEndian.Uint32(c.head[8:])); ms > 0 {
					c.h.granted.Store(int64(time.Duration(ms) * time.Millisecond))
				}
			}
		}
	}
	return n, err
}
