package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"
)

// The echo server is the raw floor: per connection one goroutine, one read
// and one write per round trip, no Thrift library, no registry of
// connections and no hooks per call (SPEC §10). It parses each request only
// as far as request.go does and answers with a reply encoded at start
// (reply.go) whose sequence id it patches.

// echoServer answers noop, ping, lc_get and lc_set with canned replies and
// every other method with an unknown-method exception. It is safe for
// concurrent use.
type echoServer struct {
	replies map[string]reply // by method name; read-only after newEchoServer
}

// newEchoServer returns a server whose lc_get answers a value of valueSize
// bytes. Its noop answers 0 whatever x was.
func newEchoServer(valueSize int) *echoServer {
	value := make([]byte, valueSize)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	return &echoServer{
		replies: map[string]reply{
			"noop":   newReply("noop", tI32, binary.BigEndian.AppendUint32(nil, 0)),
			"ping":   newReply("ping", tString, appendString(nil, []byte("pong"))),
			"lc_get": newReply("lc_get", tString, appendString(nil, value)),
			"lc_set": newReply("lc_set", tBool, []byte{1}),
		},
	}
}

// Serve accepts connections on ln until ctx is done (see acceptLoop). The
// connections it accepted live on until their peers close them or the
// process exits: tracking them would be the registry the floor must not pay.
func (s *echoServer) Serve(ctx context.Context, ln net.Listener) error {
	return acceptLoop(ctx, ln, s.serveConn)
}

// acceptLoop runs handle on a goroutine of its own for every connection ln
// accepts, until ctx is done, which closes ln. Accept errors back off from
// 5ms to 1s; a listener closed by someone else ends it with an error.
func acceptLoop(ctx context.Context, ln net.Listener, handle func(net.Conn)) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		switch {
		case ctx.Err() != nil:
			if c != nil {
				c.Close()
			}
			return nil
		case errors.Is(err, net.ErrClosed):
			return err
		case err != nil:
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		go handle(c)
	}
}

// serveConn reads requests and writes their replies until the peer closes,
// sends something malformed, or a request outgrows maxEchoMessage. All the
// complete requests of one read are answered in one write.
func (s *echoServer) serveConn(c net.Conn) {
	defer c.Close()
	in := make([]byte, 0, 4096)
	out := make([]byte, 0, 4096)
	for {
		if in = grow(in); in == nil {
			return
		}
		n, readErr := c.Read(in[len(in):cap(in)])
		in = in[:len(in)+n]
		var used int
		var err error
		if used, out, err = s.answer(in, out[:0]); err != nil {
			return
		}
		if len(out) > 0 {
			if _, err := c.Write(out); err != nil {
				return
			}
		}
		in = in[:copy(in, in[used:])]
		if readErr != nil {
			return
		}
	}
}

// grow returns in with room to read more, or nil if it holds as much as
// the largest request may take.
func grow(in []byte) []byte {
	const limit = maxEchoMessage + 4
	if len(in) < cap(in) {
		return in
	}
	if cap(in) >= limit {
		return nil
	}
	return append(make([]byte, 0, min(2*cap(in), limit)), in...)
}

// answer appends to out the replies to the complete requests at the start
// of in, and returns how many bytes of in they took and the extended out.
func (s *echoServer) answer(in, out []byte) (int, []byte, error) {
	used := 0
	for used < len(in) {
		r, err := parseRequest(in[used:])
		if errors.Is(err, errShort) {
			break
		}
		if err != nil {
			return used, out, err
		}
		used += r.size
		if !r.oneway {
			out = s.appendReply(out, r)
		}
	}
	return used, out, nil
}

// appendReply appends the reply to r, framed if r was.
func (s *echoServer) appendReply(out []byte, r request) []byte {
	rep, ok := s.replies[string(r.name)]
	if !ok {
		rep = newUnknownMethod(r.name)
	}
	if r.framed {
		out = binary.BigEndian.AppendUint32(out, uint32(len(rep.msg)))
	}
	start := len(out)
	out = append(out, rep.msg...)
	binary.BigEndian.PutUint32(out[start+rep.seqAt:], uint32(r.seqID))
	return out
}

// serveEcho runs one echo server on every endpoint until ctx is done.
func serveEcho(ctx context.Context, eps []endpoint, valueSize int) error {
	return serveAll(ctx, "echo server", eps, newEchoServer(valueSize).serveConn)
}

// serveAll listens on every endpoint and runs acceptLoop with handle on
// each until ctx is done; what names the server in errors.
func serveAll(ctx context.Context, what string, eps []endpoint, handle func(net.Conn)) error {
	lns := make([]net.Listener, 0, len(eps))
	for _, ep := range eps {
		ln, err := listen(ep)
		if err != nil {
			closeListeners(lns)
			return fmt.Errorf("%s on %s: %w", what, ep, err)
		}
		lns = append(lns, ln)
	}
	errc := make(chan error, len(lns))
	for _, ln := range lns {
		go func() { errc <- acceptLoop(ctx, ln, handle) }()
	}
	var errs []error
	for range lns {
		errs = append(errs, <-errc)
	}
	return errors.Join(errs...)
}

func closeListeners(lns []net.Listener) {
	for _, ln := range lns {
		ln.Close()
	}
}
