package memcache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/faed/faed/pool"
)

// server is one memcached server of a pool: its connections, its breaker and
// its counters.
type server struct {
	addr    string
	timeout time.Duration // I/O deadline of one call
	conns   *pool.Pool[*conn]
	st      callCounters
}

func newServer(addr string, pc PoolConfig) (*server, error) {
	br, err := pool.NewBreaker(addr, pc.Breaker)
	if err != nil {
		return nil, err
	}
	conns, err := pool.New(addr, pc.Pool, br, pool.Funcs[*conn]{
		Dial:     dialer(addr),
		Close:    (*conn).close,
		Ping:     ping,
		IsBroken: isBroken,
	})
	if err != nil {
		return nil, err
	}
	return &server{addr: addr, timeout: pc.IOTimeout, conns: conns}, nil
}

// do runs fn on a pooled connection within the I/O timeout, or ctx's
// deadline if that is sooner; waiting for a connection ends with ctx too.
// The connection goes back to the pool, or is closed if fn's error broke
// it; the breaker hears of the outcome through the pool. If the connection
// proves stale (see conn.stale), fn runs once more on a new one, and only
// that second outcome counts. Errors come back naming the server, except
// ErrMiss, which is returned as is.
func (s *server) do(ctx context.Context, fn func(c *conn) error) error {
	c, err := s.conns.Get(ctx)
	if err != nil {
		return s.getFailed(err)
	}
	start := time.Now()
	err = c.call(ctx, s.deadline(ctx, start), fn)
	if c.stale(err) {
		return s.retry(ctx, c, start, fn)
	}
	return s.done(c, start, err)
}

// deadline bounds one attempt begun at now: the I/O timeout, or ctx's
// deadline if sooner.
func (s *server) deadline(ctx context.Context, now time.Time) time.Time {
	d := now.Add(s.timeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		return cd
	}
	return d
}

// retry runs fn on a new connection in place of stale, whose failure the
// breaker does not count.
func (s *server) retry(ctx context.Context, stale *conn, start time.Time, fn func(c *conn) error) error {
	c, err := s.conns.Redial(ctx, stale)
	if err != nil {
		return s.getFailed(err)
	}
	return s.done(c, start, c.call(ctx, s.deadline(ctx, time.Now()), fn))
}

// done hands c back with the outcome err of the call that began at start,
// counts the call, and words err.
func (s *server) done(c *conn, start time.Time, err error) error {
	s.conns.Put(c, err)
	s.st.done(time.Since(start), err)
	if err != nil && err != ErrMiss {
		return fmt.Errorf("memcache: %s: %w", s.addr, err)
	}
	return err
}

// getFailed counts an attempt that got no connection, and words err.
func (s *server) getFailed(err error) error {
	s.st.getFailed(err)
	return s.getError(err)
}

// getError words a failed Get. A refusal by the breaker reads
// "memcache: circuit open for host:port" and wraps pool.ErrCircuitOpen.
func (s *server) getError(err error) error {
	if errors.Is(err, pool.ErrCircuitOpen) {
		return &openError{server: s.addr, err: err}
	}
	return fmt.Errorf("memcache: %w", err)
}

// openError is a call refused by an open (or busy half-open) breaker.
type openError struct {
	server string
	err    error // the breaker's refusal
}

func (e *openError) Error() string { return "memcache: circuit open for " + e.server }
func (e *openError) Unwrap() error { return e.err }

// answered reports whether err (from do) is the server's answer, a miss or an
// answered error, rather than a failure to reach it. Only a failure makes a
// read try the next replica.
func answered(err error) bool {
	return err == nil || err == ErrMiss || errors.Is(err, ErrServer)
}

func (s *server) stats() ServerStats {
	st := ServerStats{Server: s.addr, Pool: s.conns.Stats()}
	s.st.fill(&st)
	return st
}
