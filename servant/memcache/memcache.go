// Package memcache serves the mc_* calls against named memcached pools. It
// knows nothing of peers or the engine.
//
// Each pool lists its servers in order, and a key's server is chosen per pool
// (PoolConfig.Selection): "standard" and "php-consistent" as the PHP memcache
// extension chooses, so PHP code and faed sharing servers agree on where a key
// lives; "consistent" on an evenly spread ring. Each server has its own
// pool.Pool of connections, bounded in number, checked by a heartbeat and
// guarded by a circuit breaker. gomemcache speaks memcached's text protocol
// over them: each pooled connection carries a gomemcache Client bound to it
// alone, whose dial hook hands back that one connection, so gomemcache's own
// pool (unbounded in total, with no heartbeat, idle limit or breaker) never
// opens one. What gomemcache does not do is done around it, in conn.go: the
// call's deadline (ctx's, if sooner than IOTimeout) holds in place of its
// per-step timeout; the error's class, not gomemcache's closing after any
// error but a miss, decides whether a connection survives (a SERVER_ERROR
// answer keeps it); a reply may not announce a value over 1 GB.
//
// With replicas, a read asks the key's servers in order, primary first, and
// stops at the first that answers; a miss is an answer, so only a server that
// gives none (breaker open, dial or I/O failure, pool exhausted) sends the read
// on to a replica. A write goes to every server of the key, in order, and
// returns the first answer: the primary's while it is up, else a replica's; it
// fails only when no server answered, with the primary's error. Replicas are
// written independently, so they can drift: a server that was down misses the
// writes made meanwhile and serves its older values when it is back (mind the
// expirations), and counters on different servers count separately.
package memcache

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
)

var (
	// ErrMiss is returned by Get for a missing key, and by Increment when the
	// key to change is missing.
	ErrMiss = errors.New("memcache: miss")
	// ErrUnknownPool is wrapped by the error for a pool name that is not
	// configured; the error names the pool.
	ErrUnknownPool = errors.New("memcache: unknown pool")
)

// Client serves calls on the configured pools. It is safe for concurrent use.
// Every call blocks for at most, per server tried, the pool's WaitTimeout plus
// DialTimeout plus IOTimeout, and no longer than its ctx: the wait for a
// connection ends with ctx, and an attempt's I/O deadline is ctx's when that
// is sooner than IOTimeout. A call to a server whose breaker is open fails at
// once.
type Client struct {
	pools map[string]*namedPool // built by New, never changed
}

// namedPool is one configured pool: its servers and how keys map to them.
type namedPool struct {
	name    string
	cfg     PoolConfig // with defaults
	sel     selector
	servers []*server // in the configured order
}

// New validates cfg and builds a Client. It opens no connection: they are
// dialled on first use. Run must be running for idle connections to be
// checked and recycled.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("memcache config: %w", err)
	}
	c := &Client{pools: make(map[string]*namedPool, len(cfg.Pools))}
	for name, pc := range cfg.Pools {
		p, err := newNamedPool(name, pc.withDefaults())
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("memcache pools.%s: %w", name, err)
		}
		c.pools[name] = p
	}
	return c, nil
}

func newNamedPool(name string, pc PoolConfig) (*namedPool, error) {
	p := &namedPool{name: name, cfg: pc, sel: newSelector(pc)}
	for _, addr := range pc.Servers {
		s, err := newServer(addr, pc)
		if err != nil {
			p.close()
			return nil, err
		}
		p.servers = append(p.servers, s)
	}
	return p, nil
}

// Run runs the heartbeat of every server's connections: it pings idle ones
// and closes those idle too long. It blocks until ctx is done or Close has
// been called.
func (c *Client) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, p := range c.pools {
		for _, s := range p.servers {
			wg.Go(func() { s.conns.Run(ctx) })
		}
	}
	wg.Wait()
}

// Close closes every server's idle connections and makes later calls fail;
// calls in flight finish, and their connections are closed as they come
// back. Stop sending calls first, then Close; Run returns once Close is done.
// Close is idempotent.
func (c *Client) Close() {
	for _, p := range c.pools {
		p.close()
	}
}

func (p *namedPool) close() {
	for _, s := range p.servers {
		s.conns.Close()
	}
}

// Servers returns the servers that hold key in pool, primary first: where
// operators should look for it.
func (c *Client) Servers(pool, key string) ([]string, error) {
	p, err := c.lookup(pool, key)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, i := range p.sel.pick(key) {
		out = append(out, p.servers[i].addr)
	}
	return out, nil
}

// Stats returns every pool's stats, sorted by pool name.
func (c *Client) Stats() []PoolStats {
	var out []PoolStats
	for _, name := range slices.Sorted(maps.Keys(c.pools)) {
		out = append(out, c.pools[name].stats())
	}
	return out
}

func (p *namedPool) stats() PoolStats {
	ps := PoolStats{Name: p.name, Selection: p.cfg.Selection, Replicas: p.cfg.Replicas}
	for _, s := range p.servers {
		ps.Servers = append(ps.Servers, s.stats())
	}
	return ps
}

// lookup finds the pool and checks the key against it.
func (c *Client) lookup(pool, key string) (*namedPool, error) {
	p, ok := c.pools[pool]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownPool, pool)
	}
	if err := checkKey(key, p.cfg.MaxKeyBytes); err != nil {
		return nil, err
	}
	return p, nil
}
