package faeclient

import (
	"context"
	"net"
	"slices"
	"sync"
	"time"
)

// pool holds a Client's connections: at most maxOpen open, busy or idle,
// of which at most maxIdle wait idle, each for at most idleTimeout, the
// newest reused first. It starts no goroutine: expired idle connections are
// closed when a connection is next taken or given back. Safe for
// concurrent use.
type pool struct {
	dial        func(context.Context) (*conn, error)
	maxOpen     int
	maxIdle     int
	idleTimeout time.Duration
	// peek is the look at an idle connection before it is handed out;
	// tests replace it to reach the calls' own handling of a stale
	// connection.
	peek func(net.Conn) error

	// mu guards every field below.
	mu sync.Mutex
	// open counts the connections open or being dialled, busy and idle.
	open int
	// idle holds the connections waiting for a call, oldest first.
	idle []*conn
	// waiters are the takers waiting for a connection, first come first
	// served. Each is sent a connection, or nil for a slot to dial one in,
	// or closed when the pool is.
	waiters []chan *conn
	closed  bool
	stats   Stats // its counters; Open and Idle are filled in by snapshot
}

// get returns an idle connection that is still open, or a new one. With
// maxOpen open, it waits for one to come back, or for ctx.
func (p *pool) get(ctx context.Context) (*conn, error) {
	for {
		cn, wait, err := p.take()
		switch {
		case err != nil:
			return nil, err
		case cn != nil:
			if p.peek(cn.wire.Conn) == nil {
				return cn, nil
			}
			p.count(func(s *Stats) { s.Stale++ })
			p.release(cn)
			continue // faed closed it while it was idle: try the next
		case wait == nil:
			return p.dialSlot(ctx)
		}
		select {
		case cn, ok := <-wait:
			switch {
			case !ok:
				return nil, ErrClosed
			case cn == nil:
				return p.dialSlot(ctx)
			}
			return cn, nil // it just came back from a call: no need to look
		case <-ctx.Done():
			p.leave(wait)
			return nil, ctx.Err()
		}
	}
}

// take is get's step under the lock. It returns the newest idle
// connection; or, with neither an idle connection nor a slot, a channel to
// wait on; or neither, when a slot was free and is now the caller's to
// dial a connection in.
func (p *pool) take() (*conn, chan *conn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, nil, ErrClosed
	}
	p.expireLocked(time.Now())
	if n := len(p.idle); n > 0 {
		cn := p.idle[n-1]
		p.idle = p.idle[:n-1]
		return cn, nil, nil
	}
	if p.open < p.maxOpen {
		p.open++
		return nil, nil, nil
	}
	wait := make(chan *conn, 1) // the giver never blocks
	p.waiters = append(p.waiters, wait)
	p.stats.Waits++
	return nil, wait, nil
}

// dialSlot dials a connection in a slot taken for it; if dialling fails,
// the slot is given up.
func (p *pool) dialSlot(ctx context.Context) (*conn, error) {
	cn, err := p.dial(ctx)
	if err != nil {
		p.release(nil)
		return nil, err
	}
	p.count(func(s *Stats) { s.Dials++ })
	return cn, nil
}

// leave stops waiting on wait after ctx ended. A connection or slot given
// to it meanwhile is passed on.
func (p *pool) leave(wait chan *conn) {
	p.mu.Lock()
	i := slices.Index(p.waiters, wait)
	if i >= 0 {
		p.waiters = slices.Delete(p.waiters, i, i+1)
	}
	p.mu.Unlock()
	if i >= 0 {
		return
	}
	// Removed by a giver, which sends (or has sent, or closed) without
	// blocking.
	switch cn, ok := <-wait; {
	case !ok:
	case cn == nil:
		p.release(nil)
	default:
		p.put(cn)
	}
}

// put gives back a connection a Call is done with: a broken one is closed;
// a good one goes to the first waiter, else to the idle list, else it is
// closed.
func (p *pool) put(cn *conn) {
	if cn.broken {
		p.release(cn)
		return
	}
	p.mu.Lock()
	if !p.closed && len(p.waiters) > 0 {
		wait := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.mu.Unlock()
		wait <- cn
		return
	}
	if !p.closed && len(p.idle) < p.maxIdle {
		now := time.Now()
		cn.idleSince, cn.fresh = now, false
		p.idle = append(p.idle, cn)
		p.expireLocked(now)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	p.release(cn)
}

// release closes cn (if not nil) and frees its slot: to the first waiter,
// which dials a connection in it, or to the pool.
func (p *pool) release(cn *conn) {
	if cn != nil {
		cn.close()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.releaseLocked()
}

func (p *pool) releaseLocked() {
	if !p.closed && len(p.waiters) > 0 {
		wait := p.waiters[0]
		p.waiters = p.waiters[1:]
		wait <- nil
		return
	}
	p.open--
}

// expireLocked closes the idle connections that have waited longer than
// idleTimeout at now.
func (p *pool) expireLocked(now time.Time) {
	n := 0
	for n < len(p.idle) && now.Sub(p.idle[n].idleSince) > p.idleTimeout {
		p.idle[n].close()
		p.releaseLocked()
		n++
	}
	p.idle = slices.Delete(p.idle, 0, n)
}

// close closes the idle connections and fails the waiters; a busy
// connection is closed when it comes back. Safe to call twice.
func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, cn := range p.idle {
		cn.close()
		p.open--
	}
	p.idle = nil
	for _, wait := range p.waiters {
		close(wait)
	}
	p.waiters = nil
}

// count updates the counters.
func (p *pool) count(f func(*Stats)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(&p.stats)
}

func (p *pool) snapshot() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Open, s.Idle = p.open, len(p.idle)
	return s
}
