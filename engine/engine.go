// Package engine is faed's RPC server: listeners, per-connection transport and
// protocol detection, sessions, limits, timeouts, draining, call stats and
// the admin HTTP server. It serves any Thrift processor and knows nothing of
// servants.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
)

// ErrClosed is returned by Listen and Serve after Shutdown.
var ErrClosed = errors.New("engine: closed")

// Untimed lists calls that only count, without a latency measurement: noop
// exists to measure the engine itself.
var untimed = map[string]bool{"noop": true}

// route is what the engine knows of one call name.
type route struct {
	name  string
	fn    thrift.TProcessorFunction
	stats *callStats
	timed bool
}

// Engine serves a Thrift processor on every configured listener.
// Build it with New, open listeners with Listen, run Serve, stop with
// Shutdown. Safe for concurrent use.
type Engine struct {
	// cfg is the configuration the engine started with: its listeners,
	// socket mode and buffer size, which only a restart changes.
	cfg Config
	// live holds what a reload may change, read by each session before
	// each call.
	live   atomic.Pointer[settings]
	routes map[string]*route // read-only after New
	stats  *Stats
	log    *slog.Logger
	errLog logLimiter // failed calls logged per second

	slots    sessionSlots
	bufs     *bufferPools // the sessions' read and write buffers (buffers.go)
	draining atomic.Bool
	done     chan struct{} // closed by Shutdown
	stopOnce sync.Once
	sessWG   sync.WaitGroup

	// ctx is passed to every call; cancelled when a drain runs out of time.
	ctx    context.Context
	cancel context.CancelFunc

	// mu guards listeners and sessions.
	mu        sync.Mutex
	listeners []net.Listener
	sessions  map[*session]struct{}
}

// New builds an engine serving processor. cfg must be valid.
//
// New turns off, process-wide, the connection watch that Thrift's generated
// processors otherwise start per call (a goroutine and a ticker each, a
// third of the cost of a small call): the engine bounds reading a call by
// read_timeout and writing its reply by write_timeout instead, and the
// servants bound running it by the call's deadline.
func New(cfg Config, processor thrift.TProcessor, log *slog.Logger) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if thrift.ServerConnectivityCheckInterval != 0 {
		// Written once, before any engine serves: later engines of the
		// same process (cluster tests) only read it.
		thrift.ServerConnectivityCheckInterval = 0
	}
	pm := processor.ProcessorMap()
	names := make([]string, 0, len(pm))
	for name := range pm {
		names = append(names, name)
	}
	e := &Engine{
		cfg:      cfg,
		routes:   make(map[string]*route, len(pm)),
		stats:    newStats(names),
		log:      log,
		errLog:   logLimiter{perSecond: 10},
		done:     make(chan struct{}),
		sessions: make(map[*session]struct{}),
	}
	e.bufs = newBufferPools(cfg.BufferSize)
	e.live.Store(newSettings(cfg))
	e.stats.callStatsOff.Store(!cfg.CallStats)
	e.slots.setLimit(cfg.MaxOutstandingSessions)
	e.ctx, e.cancel = context.WithCancel(context.Background())
	for name, fn := range pm {
		e.routes[name] = &route{name: name, fn: fn, stats: e.stats.perCall[name], timed: !untimed[name]}
	}
	return e, nil
}

// internName returns name as a string: the route's own string if a route
// has that name, so that reading a known call's name allocates nothing.
func (e *Engine) internName(name []byte) string {
	if r, ok := e.routes[string(name)]; ok {
		return r.name
	}
	return string(name)
}

// Stats returns the engine's live counters.
func (e *Engine) Stats() *Stats { return e.stats }

// Listen opens every configured listener. Call it before Serve so address
// errors surface at start and the node is reachable before it announces
// itself to a cluster.
func (e *Engine) Listen() error {
	mode, _ := e.cfg.socketMode()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.draining.Load() {
		return ErrClosed
	}
	for _, addr := range e.cfg.Listen {
		ln, err := listen(addr, mode)
		if err != nil {
			e.closeListenersLocked()
			return fmt.Errorf("engine: listen %s: %w", addr, err)
		}
		e.listeners = append(e.listeners, ln)
	}
	return nil
}

// Addrs returns the bound address of every listener, in configured order.
func (e *Engine) Addrs() []net.Addr {
	e.mu.Lock()
	defer e.mu.Unlock()
	addrs := make([]net.Addr, len(e.listeners))
	for i, ln := range e.listeners {
		addrs[i] = ln.Addr()
	}
	return addrs
}

// Serve accepts connections on every listener until Shutdown or until ctx
// is done (which starts a Shutdown with the configured deadline). It
// returns when every session has ended.
func (e *Engine) Serve(ctx context.Context) error {
	e.mu.Lock()
	lns := append([]net.Listener(nil), e.listeners...)
	e.mu.Unlock()
	if len(lns) == 0 {
		return errors.New("engine: Serve before Listen")
	}
	go func() {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), e.live.Load().cfg.ShutdownTimeout)
			defer cancel()
			e.Shutdown(sctx)
		case <-e.done:
		}
	}()
	go e.stats.runRates(e.ctx)
	var wg sync.WaitGroup
	for _, ln := range lns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.acceptLoop(ln)
		}()
	}
	wg.Wait()
	e.sessWG.Wait()
	return nil
}

// acceptLoop serves one listener. Past max_outstanding_sessions it stops
// accepting until a session ends: the connection it holds waits unserved
// and later ones wait in the kernel's backlog, none is dropped.
func (e *Engine) acceptLoop(ln net.Listener) {
	var backoff acceptBackoff
	for {
		conn, err := ln.Accept()
		if err != nil {
			if e.draining.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			d := backoff.next()
			e.log.Warn("accept failed", "listener", ln.Addr().String(), "err", err, "retry_in", d)
			e.sleep(d)
			continue
		}
		backoff.reset()
		if !e.acquireSlot() {
			conn.Close()
			return
		}
		e.startSession(conn)
	}
}

// acquireSlot takes a session slot, waiting while every slot is in use;
// false when a shutdown started meanwhile.
func (e *Engine) acquireSlot() bool {
	for counted := false; ; counted = true {
		ok, retry := e.slots.take()
		if ok {
			return true
		}
		if !counted {
			e.stats.sessionWaits.Inc(1)
		}
		select {
		case <-retry:
		case <-e.done:
			return false
		}
	}
}

func (e *Engine) releaseSlot() { e.slots.release() }

func (e *Engine) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-e.done:
	}
}

func (e *Engine) startSession(conn net.Conn) {
	s := newSession(e, conn)
	e.mu.Lock()
	if e.draining.Load() {
		// Accepted as the drain began: Shutdown has already swept the
		// sessions, so this one would never be told to end.
		e.mu.Unlock()
		conn.Close()
		e.releaseSlot()
		return
	}
	e.sessions[s] = struct{}{}
	e.sessWG.Add(1)
	e.mu.Unlock()
	e.stats.sessionsActive.Add(1)
	e.stats.sessionsTotal.Inc(1)
	go func() {
		defer e.endSession(s)
		s.serve()
	}()
}

func (e *Engine) endSession(s *session) {
	e.mu.Lock()
	delete(e.sessions, s)
	e.mu.Unlock()
	e.stats.sessionsActive.Add(-1)
	e.releaseSlot()
	e.sessWG.Done()
}

// Shutdown drains the engine, in this order: stop accepting; close idle
// sessions; let calls in flight finish and close their sessions after the
// reply; when ctx is done before that, close every remaining connection.
// Idempotent; returns ctx's error if the drain ran out of time.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.stopOnce.Do(func() {
		e.draining.Store(true)
		close(e.done)
	})
	e.mu.Lock()
	e.closeListenersLocked()
	for s := range e.sessions {
		s.interruptIfIdle()
	}
	e.mu.Unlock()

	drained := make(chan struct{})
	go func() {
		e.sessWG.Wait()
		close(drained)
	}()
	select {
	case <-drained:
		e.cancel()
		return nil
	case <-ctx.Done():
	}
	e.cancel()
	e.mu.Lock()
	for s := range e.sessions {
		s.conn.Close()
	}
	e.mu.Unlock()
	<-drained
	return ctx.Err()
}

func (e *Engine) closeListenersLocked() {
	for _, ln := range e.listeners {
		ln.Close()
	}
}
