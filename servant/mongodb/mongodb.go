// Package mongodb serves the mg_* calls against named MongoDB pools;
// queries, changes and documents travel as BSON bytes. It knows nothing of
// peers or the engine.
//
// Each pool is one official-driver client, which pools its connections by
// itself; this package adds per-pool switches (read-only, degraded), a
// circuit breaker, timeouts and stats around it.
//
// Queries, fields, changes and documents are BSON documents. Empty query
// bytes match every document; empty fields return all of them; invalid
// BSON is ErrInvalid naming the argument. A change made of $ operators
// updates the matched document; one made of plain fields replaces it whole,
// keeping its _id, as mgo's Update did; a mix is ErrInvalid. In read-only
// mode the writes (update, upsert, insert, delete, find_and_modify, with
// their _id forms) fail with ErrReadOnly; while a pool is degraded every
// call fails with ErrDegraded.
package mongodb

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/faed/faed/pool"
)

// Client serves mg_* calls on the pools of one Config. It is safe for
// concurrent use. Its set of pools is fixed by New; a new configuration
// means a new Client.
type Client struct {
	pools  map[string]*namedPool // built by New, never changed
	closed atomic.Bool
}

// namedPool is one configured pool: its driver client and what guards it.
type namedPool struct {
	cfg      PoolConfig // defaults applied
	shards   shards
	mc       *mongo.Client
	colls    *collections
	breaker  *pool.Breaker
	degraded atomic.Bool
	readOnly atomic.Bool
	calls    [numOps]callCounter
	conns    connCounter
}

// New validates cfg and builds a driver client per pool. It does not block
// on the network (except to resolve a mongodb+srv URI): the driver
// connects in the background and on first use, so an unreachable server
// shows as failing calls and an opening breaker, not as an error here.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Client{pools: make(map[string]*namedPool, len(cfg.Pools))}
	for _, name := range slices.Sorted(maps.Keys(cfg.Pools)) {
		p, err := newPool(name, cfg.Pools[name], cfg.Breaker)
		if err != nil {
			c.Close(context.Background())
			return nil, fmt.Errorf("mongodb pool %q: %w", name, err)
		}
		c.pools[name] = p
	}
	return c, nil
}

func newPool(name string, pc PoolConfig, bc pool.BreakerConfig) (*namedPool, error) {
	p := &namedPool{cfg: pc.withDefaults(name)}
	p.shards = newShards(p.cfg)
	opts := p.cfg.clientOptions(p.conns.monitor())
	br, err := pool.NewBreaker(strings.Join(opts.Hosts, ","), bc)
	if err != nil {
		return nil, err
	}
	p.breaker = br
	p.degraded.Store(pc.Degraded)
	p.readOnly.Store(pc.ReadOnly)
	if p.mc, err = mongo.Connect(opts); err != nil {
		return nil, err
	}
	p.colls = newCollections(p.mc)
	return p, nil
}

// Close disconnects every pool, waiting for in-flight operations until ctx
// is done. Later calls fail with ErrClosed. Close is idempotent: only the
// first call does anything.
func (c *Client) Close(ctx context.Context) error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(c.pools)) {
		if err := c.pools[name].mc.Disconnect(ctx); err != nil {
			errs = append(errs, fmt.Errorf("mongodb pool %q: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// SetDegraded switches the pool's operator degrade on or off. While on,
// every call fails with ErrDegraded. It takes effect for calls that start
// afterwards.
func (c *Client) SetDegraded(pool string, on bool) error {
	p, err := c.pool(pool)
	if err != nil {
		return err
	}
	p.degraded.Store(on)
	return nil
}

// SetReadOnly switches the pool's read-only mode on or off. While on,
// writes fail with ErrReadOnly and reads go on.
func (c *Client) SetReadOnly(pool string, on bool) error {
	p, err := c.pool(pool)
	if err != nil {
		return err
	}
	p.readOnly.Store(on)
	return nil
}

// Pools returns the configured pool names, sorted.
func (c *Client) Pools() []string { return slices.Sorted(maps.Keys(c.pools)) }

// Stats returns every pool's stats by pool name. It never blocks on the
// network.
func (c *Client) Stats() map[string]PoolStats {
	out := make(map[string]PoolStats, len(c.pools))
	for name, p := range c.pools {
		out[name] = p.stats()
	}
	return out
}

func (c *Client) pool(name string) (*namedPool, error) {
	p, ok := c.pools[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownPool, name)
	}
	return p, nil
}

func (p *namedPool) stats() PoolStats {
	s := PoolStats{
		Servers:  p.breaker.Name(),
		Strategy: p.shards.strategy,
		Database: p.shards.database,
		Degraded: p.degraded.Load(),
		ReadOnly: p.readOnly.Load(),
		PerCall:  make(map[string]CallStats),
		Breaker:  p.breaker.Snapshot(),
		Conns:    p.conns.snapshot(),
	}
	for o := range numOps {
		cs := p.calls[o].snapshot()
		if cs.Calls > 0 {
			s.PerCall[o.String()] = cs
			s.Calls, s.Errors, s.Refused = s.Calls+cs.Calls, s.Errors+cs.Errors, s.Refused+cs.Refused
		}
	}
	return s
}

// call is one mg_* operation on a collection, run under the call's deadline.
type call func(ctx context.Context, coll *mongo.Collection) error

// run admits, times and reports one call of kind o. The order of refusals
// is: closed, operator degrade, read-only (writes), breaker.
func (c *Client) run(ctx context.Context, o op, name, table string, shardID int32, f call) error {
	p, err := c.pool(name)
	if err != nil {
		return err
	}
	db, err := p.shards.databaseFor(shardID)
	if err != nil {
		return err
	}
	start := time.Now()
	err = c.runOn(ctx, p, o, p.colls.get(db, table), f)
	p.calls[o].observe(time.Since(start), err)
	if err != nil {
		return fmt.Errorf("pool %q db %q table %q: %w", name, db, table, err)
	}
	return nil
}

func (c *Client) runOn(ctx context.Context, p *namedPool, o op, coll *mongo.Collection, f call) error {
	if err := c.admit(p, o); err != nil {
		return err
	}
	if err := p.breaker.Allow(); err != nil {
		return fmt.Errorf("%w: %w", ErrDegraded, err)
	}
	ctx, cancel := withTimeout(ctx, p.cfg.IOTimeout)
	defer cancel()
	err := f(ctx, coll)
	p.report(err)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return ErrNotFound
	}
	return err
}

// withTimeout bounds ctx by d, unless the caller's deadline comes first:
// then ctx is kept as it is, which saves a timer. A d of 0 is off.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); d == 0 || ok && time.Until(dl) <= d {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// admit refuses a call the switches forbid.
func (c *Client) admit(p *namedPool, o op) error {
	switch {
	case c.closed.Load():
		return ErrClosed
	case p.degraded.Load():
		return fmt.Errorf("%w: switched by an operator", ErrDegraded)
	case o.writes() && p.readOnly.Load():
		return ErrReadOnly
	}
	return nil
}

// report tells the breaker how the call went.
func (p *namedPool) report(err error) {
	switch classify(err) {
	case answered:
		p.breaker.Success()
	case fault:
		p.breaker.Failure(err)
	default:
		p.breaker.Cancel()
	}
}
