// Package faeclient is the Go client of faed: a pool of connections to one
// faed node over which Go programs make the FunServant calls of the
// generated stubs (idl/gen-go/fun/rpc). It owns connecting, reusing,
// deadlines and sending a call again on a stale connection; it knows
// nothing of the cluster (any node serves any call).
package faeclient

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/faed/faed/idl/gen-go/fun/rpc"

	"github.com/apache/thrift/lib/go/thrift"
)

// ErrClosed is returned by a Call on a closed Client.
var ErrClosed = errors.New("faeclient: client closed")

// ErrNoAnswer is wrapped in the error of a call whose connection ended
// after the call was sent and before any byte of its answer came, and that
// was not sent again (see resendable) or failed so again: faed may have run
// it.
var ErrNoAnswer = errors.New("faeclient: connection closed before the answer")

// Client is a pool of connections to one faed node. Safe for concurrent
// use.
type Client struct {
	cfg              Config
	network, address string
	pool             pool
}

// Stats are a Client's connections and counters since Dial.
type Stats struct {
	Open    int   // connections open, busy and idle
	Idle    int   // of which idle
	Dials   int64 // connections opened
	Stale   int64 // idle connections found closed by faed before use, and closed
	Retries int64 // calls sent again on a new connection (see resendable)
	Waits   int64 // Calls that waited because MaxOpen connections were busy
}

// Dial returns a Client for the faed node at cfg.Addr, having opened one
// connection to it, so that a wrong address or a faed that is down shows
// at once.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg.withDefaults()}
	c.network, c.address, _ = splitAddr(cfg.Addr)
	c.pool = pool{dial: c.dial, maxOpen: c.cfg.MaxOpen, maxIdle: c.cfg.MaxIdle, idleTimeout: c.cfg.IdleTimeout, peek: peek}
	cn, err := c.pool.get(ctx)
	if err != nil {
		return nil, err
	}
	c.pool.put(cn)
	return c, nil
}

// dial opens a connection, within DialTimeout and ctx.
func (c *Client) dial(ctx context.Context) (*conn, error) {
	d := net.Dialer{Timeout: c.cfg.DialTimeout}
	nc, err := d.DialContext(ctx, c.network, c.address)
	if err != nil {
		return nil, fmt.Errorf("faeclient: dial %s: %w", c.cfg.Addr, err)
	}
	return newConn(nc, c.cfg.Transport == "framed"), nil
}

// Call runs fn with a connection of the pool, waiting for one (until ctx
// ends) if MaxOpen are busy, and gives the connection back afterwards,
// unless a call failed on it. fn makes its calls on fs, one after the
// other; each runs under the deadline of the ctx it is given (CallTimeout
// without one). Call returns fn's error.
//
// The error of a call made on fs is one of three kinds: a declared
// exception (*rpc.TCacheMissed, ...) is a normal answer; a
// thrift.TApplicationException means the call failed in faed (its message
// names the call and the cause) and the connection is reused; any other
// error means the connection failed, and it is closed. A call whose
// pooled connection turns out closed by faed is sent again once on a new
// connection where that is safe (see resendable); otherwise its error
// wraps ErrNoAnswer.
func (c *Client) Call(ctx context.Context, fn func(fs rpc.FunServant) error) error {
	cn, err := c.pool.get(ctx)
	if err != nil {
		return err
	}
	s := &session{c: c, cn: cn}
	defer func() { c.pool.put(s.cn) }()
	return fn(rpc.NewFunServantClient(s))
}

// Stats returns the Client's connections and counters.
func (c *Client) Stats() Stats { return c.pool.snapshot() }

// Close closes the idle connections, and each busy one as its Call ends;
// Calls after it return ErrClosed. Safe to call twice.
func (c *Client) Close() error {
	c.pool.close()
	return nil
}

// session is the thrift.TClient the FunServant of one Call sends its calls
// through: it holds the connection taken for the Call, and replaces it
// with a new one to send a call again (see resendable).
type session struct {
	c  *Client
	cn *conn
}

// Call sends one call, and sends it again on a new connection if it failed
// on a stale one and resendable says it may.
func (s *session) Call(ctx context.Context, method string, args, result thrift.TStruct) (thrift.ResponseMeta, error) {
	idled := !s.cn.fresh // it sat idle, where faed may have closed it
	err := s.cn.call(ctx, s.c.cfg.CallTimeout, method, args, result)
	if err != nil && s.cn.broken && idled && ctx.Err() == nil && resendable(s.cn.wire, method) {
		err = s.resend(ctx, method, args, result)
	}
	return thrift.ResponseMeta{}, s.wrap(ctx, method, err)
}

// resend sends a call again on a new connection, which takes the slot of
// the stale one. If dialling fails, the stale one stays, broken, for the
// Call to give back.
func (s *session) resend(ctx context.Context, method string, args, result thrift.TStruct) error {
	fresh, err := s.c.dial(ctx)
	if err != nil {
		return err
	}
	s.cn.close()
	s.cn = fresh
	s.c.pool.count(func(st *Stats) { st.Dials++; st.Retries++ })
	return s.cn.call(ctx, s.c.cfg.CallTimeout, method, args, result)
}

// wrap names the call and the address in the error of a failed
// connection; faed's own answers pass unchanged.
func (s *session) wrap(ctx context.Context, method string, err error) error {
	switch {
	case err == nil || !s.cn.broken:
		return err
	case ctx.Err() != nil:
		return fmt.Errorf("faeclient: %s on %s: %w: %w", method, s.c.cfg.Addr, ctx.Err(), err)
	case unanswered(s.cn.wire):
		return fmt.Errorf("%w: %s on %s: %w", ErrNoAnswer, method, s.c.cfg.Addr, err)
	}
	return fmt.Errorf("faeclient: %s on %s: %w", method, s.c.cfg.Addr, err)
}
