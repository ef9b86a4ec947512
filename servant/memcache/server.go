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
	gets    *batcher // nil when PoolConfig.BatchGets is off
	st      callCounters
}

// maxBatchesInFlight bounds the round trips a server's batcher keeps under
// way at once (and the pool's max_open bounds it further). Measured with 64
// callers on this 2-core machine: see BenchmarkGetBatched.
const maxBatchesInFlight = 2

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
	s := &server{addr: addr, timeout: pc.IOTimeout, conns: conns}
	if pc.BatchGets {
		s.gets = newBatcher(s, min(maxBatchesInFlight, pc.Pool.MaxOpen))
	}
	return s, nil
}

// get fetches key's value and flags, or ErrMiss: in one round trip with the
// gets for the server that come at the same time, unless batching is off.
func (s *server) get(ctx context.Context, key string) ([]byte, uint32, error) {
	if s.gets == nil {
		return s.getOne(ctx, key)
	}
	return s.gets.get(ctx, key)
}

// getOne fetches key alone.
func (s *server) getOne(ctx context.Context, key string) (value []byte, flags uint32, err error) {
	err = s.do(ctx, func(cn *conn) error {
		var err error
		value, flags, err = cn.get(key)
		return err
	})
	return value, flags, err
}

// do runs fn on a pooled connection within the I/O timeout, or ctx's
// deadline if that is sooner; waiting for a connection ends with ctx too.
// The connection goes back to the pool, or is closed if fn's error broke
// it; the breaker hears of the outcome through the pool. If the connection
// proves stale (see conn.stale), fn runs once more on a new one, and only
// that second outcome counts. Errors come back naming the server, except
// ErrMiss, which is returned as is.
func (s *server) do(ctx context.Context, fn func(c *conn) error) error {
	return s.count(s.attempt(ctx, fn))
}

// attempt is do without the counting and the wording: it returns the time
// fn took on its connection, from the first try, or noConn if no connection
// was had, and fn's error as fn returned it.
func (s *server) attempt(ctx context.Context, fn func(c *conn) error) (took time.Duration, err error) {
	c, err := s.conns.Get(ctx)
	if err != nil {
		return noConn, err
	}
	start := time.Now()
	err = c.call(ctx, s.deadline(ctx, start), fn)
	if c.stale(err) {
		if c, err = s.conns.Redial(ctx, c); err != nil {
			return noConn, err
		}
		err = c.call(ctx, s.deadline(ctx, time.Now()), fn)
	}
	s.conns.Put(c, err)
	return time.Since(start), err
}

// noConn is attempt's took when it got no connection: the pool's Get or
// Redial failed, and err is the pool's.
const noConn time.Duration = -1

// deadline bounds one attempt begun at now: the I/O timeout, or ctx's
// deadline if sooner.
func (s *server) deadline(ctx context.Context, now time.Time) time.Time {
	d := now.Add(s.timeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		return cd
	}
	return d
}

// count counts one call whose attempt took took and ended with err, and
// words err. A stale connection's failure, which the pool blamed on nobody,
// is not counted: only the run on its replacement is.
func (s *server) count(took time.Duration, err error) error {
	if took == noConn {
		return s.getFailed(err)
	}
	s.st.done(took, err)
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
