// Package pool keeps long-lived connections to one backend server each, with a
// heartbeat, idle recycling, a bound on the total open, and a circuit breaker.
// It knows nothing of what the connections carry; drivers that pool by
// themselves (database/sql, mongo) use only its Breaker.
package pool

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

var (
	// ErrClosed is returned by Get after Close.
	ErrClosed = errors.New("pool: closed")
	// ErrPoolExhausted is wrapped by the error Get returns when MaxOpen
	// connections stayed in use for all of WaitTimeout.
	ErrPoolExhausted = errors.New("pool: exhausted")
)

// Pool holds connections of type C to one server. It is safe for concurrent
// use. Get blocks at most DialTimeout + WaitTimeout, Redial at most
// DialTimeout; Put and Stats never block on the network, except that Put may
// call Funcs.Close.
type Pool[C any] struct {
	server    string
	cfg       Config
	br        *Breaker
	fn        Funcs[C]
	errClosed error
	done      chan struct{} // closed by Close; ends Run
	epoch     time.Time     // New's time; idle times are read against it on the monotonic clock

	// mu guards idle, waiters and numOpen, and serialises writes to closed.
	// Invariant: while waiters is not empty, idle is empty.
	mu      sync.Mutex
	idle    []idleConn[C]   // LIFO: the most recently used is last
	waiters []chan grant[C] // FIFO of Gets waiting for a connection or a slot
	numOpen int             // connections idle, in use or being dialled; at most cfg.MaxOpen
	closed  atomic.Bool     // read without mu by Get's fast path

	st counters
}

type idleConn[C any] struct {
	c     C
	since time.Duration // when it was last put back, by p.clock
}

// grant is what a waiting Get receives: an idle connection (conn true), a
// slot to dial a new one into (conn false), or the pool's closing (err).
type grant[C any] struct {
	ic   idleConn[C]
	conn bool
	err  error
}

// New returns a pool of connections to server (an address, used in errors
// and stats), guarded by br, which the caller may share with others.
func New[C any](server string, cfg Config, br *Breaker, fn Funcs[C]) (*Pool[C], error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("pool for %s: %w", server, err)
	}
	if err := fn.check(); err != nil {
		return nil, fmt.Errorf("pool for %s: %w", server, err)
	}
	if br == nil {
		return nil, fmt.Errorf("pool for %s: nil Breaker", server)
	}
	if fn.IsBroken == nil {
		fn.IsBroken = IsBroken
	}
	return &Pool[C]{
		server:    server,
		cfg:       cfg,
		br:        br,
		fn:        fn,
		errClosed: fmt.Errorf("%w: %s", ErrClosed, server),
		done:      make(chan struct{}),
		epoch:     time.Now(),
	}, nil
}

// Server returns the server the pool connects to.
func (p *Pool[C]) Server() string { return p.server }

// Breaker returns the pool's breaker.
func (p *Pool[C]) Breaker() *Breaker { return p.br }

// Get returns a connection: the most recently used idle one, or a new one.
// It fails fast with the breaker's error (wrapping ErrCircuitOpen, naming the
// server) while the breaker refuses; with an error wrapping ErrPoolExhausted
// after waiting WaitTimeout while MaxOpen are open; with ctx's error if ctx is
// done first; with ErrClosed after Close. A dial failure counts as a breaker
// failure. Every connection Get returns must be handed back with Put, once,
// or passed to Redial, whose connection then takes its place.
func (p *Pool[C]) Get(ctx context.Context) (C, error) {
	var zero C
	if p.closed.Load() {
		return zero, p.errClosed
	}
	if err := p.br.Allow(); err != nil {
		return zero, err
	}
	c, err := p.get(ctx)
	if err != nil {
		return zero, err
	}
	p.st.inUse.Add(1)
	return c, nil
}

// get obtains a connection for a call the breaker allowed. When it fails, it
// has already told the breaker.
func (p *Pool[C]) get(ctx context.Context) (C, error) {
	g, err := p.acquire(ctx)
	if err != nil {
		p.br.Cancel()
		var zero C
		return zero, err
	}
	if g.conn && !p.expired(g.ic.since) {
		return g.ic.c, nil
	}
	if g.conn {
		// Too old to reuse: close it and dial a replacement into its slot.
		p.st.idleCloses.Add(1)
		p.closeConn(g.ic.c)
	}
	return p.dial(ctx)
}

// acquire pops an idle connection, or reserves a slot, or queues and waits.
func (p *Pool[C]) acquire(ctx context.Context) (grant[C], error) {
	p.mu.Lock()
	if p.closed.Load() {
		p.mu.Unlock()
		return grant[C]{}, p.errClosed
	}
	if n := len(p.idle); n > 0 {
		ic := p.idle[n-1]
		p.idle[n-1] = idleConn[C]{} // drop the reference for the garbage collector
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return grant[C]{ic: ic, conn: true}, nil
	}
	if p.numOpen < p.cfg.MaxOpen {
		p.numOpen++
		p.mu.Unlock()
		return grant[C]{}, nil
	}
	w := make(chan grant[C], 1)
	p.waiters = append(p.waiters, w)
	p.mu.Unlock()
	return p.wait(ctx, w)
}

// wait blocks until w is granted, WaitTimeout passes or ctx is done.
func (p *Pool[C]) wait(ctx context.Context, w chan grant[C]) (grant[C], error) {
	start := time.Now()
	var timeout <-chan time.Time // nil with WaitTimeout 0: only ctx bounds the wait
	if p.cfg.WaitTimeout > 0 {
		t := time.NewTimer(p.cfg.WaitTimeout)
		defer t.Stop()
		timeout = t.C
	}
	defer p.countWait(start)
	var err error
	select {
	case g := <-w:
		return g, g.err
	case <-timeout:
		p.st.exhausted.Add(1)
		err = fmt.Errorf("%w: %s: %d connections open, waited %v",
			ErrPoolExhausted, p.server, p.cfg.MaxOpen, p.cfg.WaitTimeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	p.abandon(w)
	return grant[C]{}, err
}

func (p *Pool[C]) countWait(start time.Time) {
	p.st.waits.Add(1)
	p.st.waitNanos.Add(uint64(time.Since(start)))
}

// abandon takes w off the queue. If a grant reached w first, it is passed on,
// so a Get that gives up never strands a connection or a slot.
func (p *Pool[C]) abandon(w chan grant[C]) {
	p.mu.Lock()
	removed := p.removeWaiterLocked(w)
	p.mu.Unlock()
	if !removed {
		p.release(<-w)
	}
}

func (p *Pool[C]) removeWaiterLocked(w chan grant[C]) bool {
	for i, x := range p.waiters {
		if x == w {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			return true
		}
	}
	return false
}

// release gives back a grant that no Get will use.
func (p *Pool[C]) release(g grant[C]) {
	switch {
	case g.err != nil:
	case g.conn:
		p.putIdle(g.ic)
	default:
		p.freeSlot()
	}
}

// dial opens a connection into a slot acquire reserved.
func (p *Pool[C]) dial(ctx context.Context) (C, error) {
	p.st.dials.Add(1)
	dctx, cancel := withTimeout(ctx, p.cfg.DialTimeout)
	defer cancel()
	c, err := p.fn.Dial(dctx)
	if err == nil {
		return c, nil
	}
	p.st.dialErrors.Add(1)
	p.freeSlot()
	if ctx.Err() != nil {
		// The caller gave up; that says nothing about the server.
		p.br.Cancel()
	} else {
		p.br.Failure(err)
	}
	return c, fmt.Errorf("pool: dial %s: %w", p.server, err)
}

// Put hands back a connection from Get with the outcome of the call made on it.
// A nil err, or one Funcs.IsBroken says is not broken (a user-level error such
// as a cache miss), keeps the connection for reuse and counts as a breaker
// success. A broken err closes the connection and counts as a breaker failure,
// unless it is context.Canceled: the caller gave up, the server is not to
// blame. After Close, every connection put back is closed.
func (p *Pool[C]) Put(c C, err error) {
	p.st.inUse.Add(-1)
	if err != nil && p.fn.IsBroken(err) {
		p.discard(c, err)
		return
	}
	p.br.Success()
	p.putIdle(idleConn[C]{c: c, since: p.clock()})
}

// Redial replaces c, a connection from Get on which a call failed before the
// server can have acted on it, with a newly dialled one in the same slot, so
// that the caller can run the call again. Which failures those are is the
// caller's to know (for one, a connection the server closed while it sat
// idle, as a server restart does). c is closed without blame: the breaker
// hears nothing of it, and the call's outcome is reported when the new
// connection is handed back with Put. If the dial fails, Redial frees the
// slot, counts a breaker failure as Get's dial does, and returns the error;
// nothing is to be Put then. After Close it returns ErrClosed. It blocks at
// most DialTimeout.
func (p *Pool[C]) Redial(ctx context.Context, c C) (C, error) {
	p.st.staleCloses.Add(1)
	p.closeConn(c)
	if p.closed.Load() {
		p.st.inUse.Add(-1)
		p.freeSlot()
		p.br.Cancel()
		var zero C
		return zero, p.errClosed
	}
	c, err := p.dial(ctx)
	if err != nil {
		p.st.inUse.Add(-1) // dial has freed the slot and told the breaker
	}
	return c, err
}

func (p *Pool[C]) discard(c C, err error) {
	p.st.brokenCloses.Add(1)
	p.closeConn(c)
	p.freeSlot()
	if errors.Is(err, context.Canceled) {
		p.br.Cancel()
		return
	}
	p.br.Failure(err)
}

// putIdle hands a healthy connection to the first waiter, or keeps it idle,
// or closes it (pool closed, or MaxIdle already idle).
func (p *Pool[C]) putIdle(ic idleConn[C]) {
	p.mu.Lock()
	kept := p.keepLocked(ic)
	if !kept {
		p.numOpen-- // no waiter to take the slot: keepLocked found none
	}
	p.mu.Unlock()
	if !kept {
		p.st.idleCloses.Add(1)
		p.closeConn(ic.c)
	}
}

func (p *Pool[C]) keepLocked(ic idleConn[C]) bool {
	switch {
	case p.closed.Load():
		return false
	case p.grantLocked(grant[C]{ic: ic, conn: true}):
		return true
	case len(p.idle) >= p.cfg.MaxIdle:
		return false
	}
	p.idle = append(p.idle, ic)
	return true
}

// freeSlot gives up the slot of a connection that was closed or never
// dialled: to the first waiter, who will dial into it, or back to the pool.
func (p *Pool[C]) freeSlot() {
	p.mu.Lock()
	if !p.grantLocked(grant[C]{}) {
		p.numOpen--
	}
	p.mu.Unlock()
}

// grantLocked passes g to the longest waiting Get, if any. It never blocks:
// each waiter's channel has room for its one grant.
func (p *Pool[C]) grantLocked(g grant[C]) bool {
	if len(p.waiters) == 0 {
		return false
	}
	w := p.waiters[0]
	p.waiters[0] = nil
	p.waiters = p.waiters[1:]
	w <- g
	return true
}

func (p *Pool[C]) expired(since time.Duration) bool {
	return p.cfg.IdleTimeout > 0 && p.clock()-since > p.cfg.IdleTimeout
}

// withTimeout is context.WithTimeout, but a zero d arms no deadline.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d == 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// clock is the time since New on the monotonic clock, which is cheaper to
// read than time.Now and never steps.
func (p *Pool[C]) clock() time.Duration { return time.Since(p.epoch) }

func (p *Pool[C]) closeConn(c C) { _ = p.fn.Close(c) }

// Close closes the idle connections, wakes waiting Gets with ErrClosed and
// makes later Gets fail with it; connections in use are closed as they are
// put back. It does not wait for them. Close is idempotent and returns nil.
func (p *Pool[C]) Close() error {
	p.mu.Lock()
	if p.closed.Load() {
		p.mu.Unlock()
		return nil
	}
	p.closed.Store(true)
	idle, waiters := p.idle, p.waiters
	p.idle, p.waiters = nil, nil
	p.numOpen -= len(idle)
	p.mu.Unlock()
	close(p.done)
	for _, w := range waiters {
		w <- grant[C]{err: p.errClosed}
	}
	for _, ic := range idle {
		p.closeConn(ic.c)
	}
	return nil
}
