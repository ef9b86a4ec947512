package peer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/pool"

	"github.com/apache/thrift/lib/go/thrift"
)

var (
	// ErrUnreachable is wrapped by the error Do and Forward return when the
	// call got no answer from the peer: its breaker is open, it could not be
	// dialled, or the connection failed or timed out midway (in which case
	// the call may still have run there). Only an idempotent call may be
	// retried, and only on the owner under a newer map.
	ErrUnreachable = errors.New("peer: unreachable")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("peer: closed")
)

// Peers keeps pooled, long-lived Thrift connections to other faed nodes: one
// pool and one circuit breaker per peer address, made on first use and
// closed when the peer leaves the member list. It is safe for concurrent use.
type Peers struct {
	cfg  Config
	log  *slog.Logger
	dial func(ctx context.Context, addr string) (*conn, error) // dial, or a test's stand-in

	mu      sync.Mutex // guards remotes, runCtx and closed
	remotes map[string]*remote
	runCtx  context.Context // Run's ctx while it runs, else nil
	closed  bool

	heartbeats sync.WaitGroup // one pool.Run per remote, started by Run
}

// remote is one peer: its pool and its counters.
type remote struct {
	pool      *pool.Pool[*conn]
	forwarded atomic.Uint64
	errors    atomic.Uint64
}

// conn is one connection to a peer: buffered binary Thrift over TCP. It is
// used by one goroutine at a time: whoever got it from the pool.
type conn struct {
	nc       net.Conn
	client   *rpc.FunServantClient
	deadline time.Time // the I/O deadline last set on nc
}

// PeerStats is one peer's state at one instant.
type PeerStats struct {
	Addr      string     `json:"addr"`
	Forwarded uint64     `json:"forwarded"` // calls forwarded to the peer
	Errors    uint64     `json:"errors"`    // of those, the ones that got no answer
	Pool      pool.Stats `json:"pool"`
}

// NewPeers returns an empty set of peer pools sized by cfg.Peer,
// cfg.Breaker and cfg.CallTimeout. If log is nil, slog.Default() is used.
func NewPeers(cfg Config, log *slog.Logger) *Peers {
	return &Peers{cfg: cfg, log: orDefaultLog(log), dial: dial, remotes: map[string]*remote{}}
}

// Do runs fn with a client connected to the peer at addr, on a pooled
// connection whose I/O deadline is at most CallTimeout and at least 7/8 of it
// from now, or ctx's deadline if that is sooner (see conn.arm). fn must make
// at most one call, must not keep the client, and should return the client's
// error as it is (wrapping is fine).
//
// An error that is the peer's answer — a declared exception such as
// TCacheMissed, or a TApplicationException — is returned as is and the
// connection is reused. Any other failure closes the connection, counts
// against the peer's breaker and comes back wrapping ErrUnreachable and
// naming the peer.
func (ps *Peers) Do(ctx context.Context, addr string, fn func(rpc.FunServant) error) error {
	r, err := ps.remote(addr)
	if err != nil {
		return fmt.Errorf("peer %s: %w", addr, err)
	}
	r.forwarded.Add(1)
	err = r.call(ctx, ps.cfg.CallTimeout, fn)
	if errors.Is(err, ErrUnreachable) {
		r.errors.Add(1)
	}
	return err
}

func (r *remote) call(ctx context.Context, timeout time.Duration, fn func(rpc.FunServant) error) error {
	c, err := r.pool.Get(ctx)
	if err != nil {
		return fmt.Errorf("peer %s: %w: %w", r.pool.Server(), ErrUnreachable, err)
	}
	if err := c.arm(ctx, timeout); err != nil {
		r.pool.Put(c, err)
		return fmt.Errorf("peer %s: %w: %w", r.pool.Server(), ErrUnreachable, err)
	}
	err = fn(c.client)
	r.pool.Put(c, err)
	if isBroken(err) {
		return fmt.Errorf("peer %s: %w: %w", r.pool.Server(), ErrUnreachable, err)
	}
	return err
}

// arm sets the I/O deadline of one call: timeout from now, or ctx's deadline
// if sooner. A deadline set by an earlier call is kept while it is 7/8 of
// timeout away or more: each SetDeadline modifies two runtime timers (read
// and write), and on a busy connection the fresh deadline would move by
// microseconds per call. So a call gets between 7/8 of timeout and timeout,
// and the timers change at most once per timeout/8.
func (c *conn) arm(ctx context.Context, timeout time.Duration) error {
	if timeout == 0 { // call_timeout off: only the call's own deadline, if any
		d, _ := ctx.Deadline()
		if d.Equal(c.deadline) {
			return nil
		}
		return c.setDeadline(d)
	}
	now := time.Now()
	if d, ok := ctx.Deadline(); ok && d.Before(now.Add(timeout)) {
		return c.setDeadline(d)
	}
	if left := c.deadline.Sub(now); left >= timeout-timeout/8 && left <= timeout {
		return nil
	}
	return c.setDeadline(now.Add(timeout))
}

func (c *conn) setDeadline(d time.Time) error {
	if err := c.nc.SetDeadline(d); err != nil {
		return err
	}
	c.deadline = d
	return nil
}

// remote returns the peer at addr, making its pool on first use.
func (ps *Peers) remote(addr string) (*remote, error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.closed {
		return nil, ErrClosed
	}
	if r := ps.remotes[addr]; r != nil {
		return r, nil
	}
	r, err := ps.newRemote(addr)
	if err != nil {
		return nil, err
	}
	ps.remotes[addr] = r
	if ps.runCtx != nil {
		ps.startHeartbeatLocked(r)
	}
	return r, nil
}

func (ps *Peers) newRemote(addr string) (*remote, error) {
	br, err := pool.NewBreaker(addr, ps.cfg.Breaker)
	if err != nil {
		return nil, err
	}
	p, err := pool.New(addr, ps.cfg.Peer, br, pool.Funcs[*conn]{
		Dial:     func(ctx context.Context) (*conn, error) { return ps.dial(ctx, addr) },
		Close:    func(c *conn) error { return c.nc.Close() },
		Ping:     ping,
		IsBroken: isBroken,
	})
	if err != nil {
		return nil, err
	}
	return &remote{pool: p}, nil
}

func (ps *Peers) startHeartbeatLocked(r *remote) {
	ctx := ps.runCtx
	ps.heartbeats.Go(func() { r.pool.Run(ctx) })
}

// Run pings the idle connections of every peer until ctx is done, including
// those of peers first used while it runs. It blocks; call it once.
func (ps *Peers) Run(ctx context.Context) {
	ps.mu.Lock()
	ps.runCtx = ctx
	for _, r := range ps.remotes {
		ps.startHeartbeatLocked(r)
	}
	ps.mu.Unlock()
	<-ctx.Done()
	// No heartbeat may start once runCtx is cleared, so Wait cannot race an Add.
	ps.mu.Lock()
	ps.runCtx = nil
	ps.mu.Unlock()
	ps.heartbeats.Wait()
}

// retain closes the pools of the peers that are not members of l.
func (ps *Peers) retain(l *MemberList) {
	ps.mu.Lock()
	var gone []*remote
	for addr, rm := range ps.remotes {
		if !l.Has(addr) {
			gone = append(gone, rm)
			delete(ps.remotes, addr)
		}
	}
	ps.mu.Unlock()
	for _, rm := range gone {
		ps.log.Info("peer: closing connections to a departed member", "peer", rm.pool.Server())
		rm.pool.Close()
	}
}

// Close closes every pool; later calls to Do fail with ErrClosed. It is
// idempotent.
func (ps *Peers) Close() {
	ps.mu.Lock()
	ps.closed = true
	all := ps.remotes
	ps.remotes = map[string]*remote{}
	ps.mu.Unlock()
	for _, r := range all {
		r.pool.Close()
	}
}

// Stats returns every peer's counters and pool, sorted by address.
func (ps *Peers) Stats() []PeerStats {
	ps.mu.Lock()
	all := make(map[string]*remote, len(ps.remotes))
	maps.Copy(all, ps.remotes)
	ps.mu.Unlock()
	// Pool stats are read outside ps.mu: each takes its own pool's lock.
	out := make([]PeerStats, 0, len(all))
	for addr, r := range all {
		out = append(out, PeerStats{Addr: addr, Forwarded: r.forwarded.Load(),
			Errors: r.errors.Load(), Pool: r.pool.Stats()})
	}
	slices.SortFunc(out, func(a, b PeerStats) int { return cmp.Compare(a.Addr, b.Addr) })
	return out
}

// dial connects to a peer over TCP. Go turns Nagle's algorithm off on every
// TCP connection (TCP_NODELAY), which a request/reply protocol needs; a test
// checks that this one has it off too.
func dial(ctx context.Context, addr string) (*conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return newConn(nc), nil
}

// newConn speaks buffered binary Thrift on nc. The client flushes once per
// call, so a request that fits the 4 KiB write buffer leaves in one write.
func newConn(nc net.Conn) *conn {
	trans := thrift.NewStreamTransportRW(expiring{nc})
	proto := thrift.NewTBinaryProtocolConf(trans, &thrift.TConfiguration{})
	return &conn{nc: nc, client: rpc.NewFunServantClient(thrift.NewTStandardClient(proto, proto))}
}

// expiring reports a read past the connection's deadline as an error that
// is no timeout. The Thrift protocol reads again after a timeout with
// nothing read for as long as the call's ctx lives (TBinaryProtocol.readAll),
// while a peer call is bounded by call_timeout, which may end first (see
// conn.arm): retried, every read would fail at once on the passed deadline,
// spinning until the ctx ended, with the peer's answer unread.
type expiring struct{ net.Conn }

func (c expiring) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		err = deadlinePassed{err.Error()}
	}
	return n, err
}

// deadlinePassed is the error of a read past the connection's deadline.
type deadlinePassed struct{ msg string }

func (e deadlinePassed) Error() string { return "peer call timed out: " + e.msg }

// ping is the heartbeat: noop(x) must answer x.
func ping(ctx context.Context, c *conn) error {
	if d, ok := ctx.Deadline(); ok {
		if err := c.setDeadline(d); err != nil {
			return err
		}
	}
	const x = 0x5eed
	got, err := c.client.Noop(ctx, x)
	if err == nil && got != x {
		err = fmt.Errorf("peer: noop(%d) answered %d", x, got)
	}
	return err
}

// isBroken decides whether a connection survives a call's error. The peer's
// own answers keep it: a declared exception, or an application exception
// read whole from a stream still in step. Everything else — transport and
// protocol errors, and the client's complaints about a reply it could not
// match to its request, after which the stream is out of step — closes it.
func isBroken(err error) bool {
	if err == nil {
		return false
	}
	// errors.AsType, unlike errors.As, does not move its target to the heap:
	// a peer's declared exceptions (a cache miss) come through here often.
	te, ok := errors.AsType[thrift.TException](err)
	if !ok {
		return true
	}
	switch te.TExceptionType() {
	case thrift.TExceptionTypeCompiled:
		return false
	case thrift.TExceptionTypeApplication:
		ae, ok := errors.AsType[thrift.TApplicationException](err)
		return !ok || !answered(ae.TypeId())
	}
	return true
}

// answered reports whether an application exception of this type came from
// the peer as a complete reply, rather than from the client on reading a
// reply it could not match.
func answered(typeID int32) bool {
	switch typeID {
	case thrift.UNKNOWN_APPLICATION_EXCEPTION, thrift.UNKNOWN_METHOD, thrift.MISSING_RESULT,
		thrift.INTERNAL_ERROR, thrift.VALIDATION_FAILED:
		return true
	}
	return false
}
