package mysql

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/faed/faed/pool"
)

// Null is how a SQL NULL column value is sent (see the package doc).
const Null = "NULL"

// Result is what one statement returned. For a read, Cols names the columns
// and Rows holds each row's values as MySQL's text, NULL as Null; Rows is
// empty, not nil, when nothing matched. For a write, RowsAffected and
// LastInsertID are set and Cols and Rows are nil. A Result may be shared
// with the query cache: callers must not modify it.
type Result struct {
	RowsAffected int64
	LastInsertID int64
	Cols         []string
	Rows         [][]string
}

// size estimates the bytes r holds, for the query cache's bound: string
// and slice headers plus contents.
func (r *Result) size() int64 {
	n := int64(64 + 16*len(r.Cols))
	for _, c := range r.Cols {
		n += int64(len(c))
	}
	for _, row := range r.Rows {
		n += int64(24 + 16*len(row))
		for _, v := range row {
			n += int64(len(v))
		}
	}
	return n
}

// Client serves the my_* calls. It is safe for concurrent use. Its maps are
// built by New and only read afterwards.
type Client struct {
	servers map[string]*server  // configured pools, by name
	sharded map[string][]shard  // sharded names → their pools by shard id
	names   map[string]*counter // every name a call may give
	lookup  *lookup             // nil when nothing is sharded
	// byVB are the names sharded by vbucket; shardMap routes them.
	byVB     map[string]bool
	shardMap atomic.Pointer[ShardMap]
	vbuckets int // the cluster's, from QueryCache.VBuckets
	shards   int // VBucket.Shards
	cache    *queryCache
	cluster  Cluster // nil: one node (see NewInCluster)

	done      chan struct{} // closed by Close
	closeOnce sync.Once
}

// counter counts the cache traffic of one name a call may give.
type counter struct {
	cacheHits, cacheMisses, lookupHits, lookupMisses atomic.Uint64
}

// call is one statement as the my_* calls give it.
type call struct {
	pool, table string
	hintID      int64
	sql         string
	args        []string
	cacheKey    string
}

// New validates cfg and builds a Client with a pool per configured pool. It
// does not connect: a server that is down shows in the first calls and in
// Run's pings.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Client{
		servers: map[string]*server{}, sharded: map[string][]shard{},
		names: map[string]*counter{}, cache: newQueryCache(cfg.QueryCache),
		done: make(chan struct{}),
	}
	if err := c.build(cfg); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// build opens the pools and sets up sharding.
func (c *Client) build(cfg Config) error {
	if err := c.openServers(cfg); err != nil {
		return err
	}
	for _, name := range cfg.Lookup.Sharded {
		c.sharded[name] = shardPools(name, cfg.Pools)
		c.names[name] = &counter{}
	}
	c.byVB, c.shards = map[string]bool{}, cfg.VBucket.Shards
	c.vbuckets = cmp.Or(cfg.QueryCache.VBuckets, defaultVBuckets)
	for _, name := range cfg.VBucket.Sharded {
		c.byVB[name] = true
		c.names[name] = &counter{}
	}
	m := defaultShardMap(c.vbuckets, max(c.shards, 1))
	c.shardMap.Store(&m)
	if len(cfg.Lookup.Sharded) == 0 {
		return nil
	}
	var err error
	c.lookup, err = newLookup(cfg.Lookup, c.servers[cfg.Lookup.Pool])
	return err
}

// openServers opens every pool, one breaker per server address.
func (c *Client) openServers(cfg Config) error {
	breakers := map[string]*pool.Breaker{}
	for _, name := range sortedKeys(cfg.Pools) {
		pc := cfg.Pools[name]
		br := breakers[pc.address()]
		if br == nil {
			var err error
			if br, err = pool.NewBreaker(pc.address(), cfg.Breaker); err != nil {
				return fmt.Errorf("breaker: %w", err)
			}
			breakers[pc.address()] = br
		}
		srv, err := openServer(name, pc, br)
		if err != nil {
			return err
		}
		c.servers[name] = srv
		c.names[name] = &counter{}
	}
	return nil
}

// Run pings every pool every ping_interval through its breaker until ctx is
// done or Close is called. It blocks; the caller runs it in a goroutine it
// owns.
func (c *Client) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, s := range c.servers {
		wg.Go(func() { s.run(ctx, c.done) })
	}
	select {
	case <-ctx.Done():
	case <-c.done:
	}
	wg.Wait()
}

// Close stops Run, then closes every pool: idle connections now, those in
// use when their call returns (Close does not wait for them). Calls made
// after Close fail with ErrClosed. Close is idempotent and returns nil.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		close(c.done)
		for _, s := range c.servers {
			s.stmts.close()
			_ = s.db.Close()
		}
	})
	return nil
}

// Query runs one statement (my_query) on pool, or on the shard of hintID if
// pool is sharded; hintID is ignored for a global pool. args bind the
// statement's ? placeholders in order. table names the table the statement
// works on; it is only used to spot writes to the lookup table.
//
// A read (see IsRead) with a cacheKey is answered from the query cache when
// it can be and fills it when it cannot; a write drops cacheKey whether or
// not it succeeds (it may have reached the table). A write for an entity
// whose lookup row has shardLock set fails with ErrShardLocked. Query blocks
// for the statement, bounded by ctx and the pool's driver timeouts.
func (c *Client) Query(ctx context.Context, pool, table string, hintID int64, sql string,
	args []string, cacheKey string) (*Result, error) {
	return c.query(ctx, call{pool, table, hintID, sql, args, cacheKey})
}

// Evict drops cacheKey from the query cache (my_evict), and cancels any
// fill of it under way.
func (c *Client) Evict(cacheKey string) { c.cache.evict(cacheKey) }

func (c *Client) query(ctx context.Context, q call) (*Result, error) {
	if IsRead(q.sql) {
		return c.read(ctx, q)
	}
	return c.write(ctx, q)
}

func (c *Client) read(ctx context.Context, q call) (*Result, error) {
	n, err := c.name(q.pool)
	if err != nil {
		return nil, err
	}
	if q.cacheKey != "" {
		if r, ok := c.cache.get(q.cacheKey); ok {
			n.cacheHits.Add(1)
			return r, nil
		}
		n.cacheMisses.Add(1)
	}
	srv, err := c.route(ctx, q.pool, q.hintID, false)
	if err != nil {
		return nil, err
	}
	token := c.cache.reserve(q.cacheKey)
	r, err := srv.query(ctx, q.sql, anyArgs(q.args))
	c.cache.settle(q.cacheKey, token, r, err)
	return r, err
}

func (c *Client) write(ctx context.Context, q call) (*Result, error) {
	srv, err := c.route(ctx, q.pool, q.hintID, true)
	if err != nil {
		return nil, err
	}
	r, err := srv.exec(ctx, q.sql, anyArgs(q.args))
	// After the write, not before: a read that filled in between is dropped.
	c.cache.evict(q.cacheKey)
	if c.lookup != nil && c.lookup.touches(srv.name, q.table, q.sql) {
		err = c.lookupWritten(err)
	}
	return r, err
}

// name returns the counters of a name a call gave, or ErrClosed or
// ErrUnknownPool.
func (c *Client) name(pool string) (*counter, error) {
	select {
	case <-c.done:
		return nil, ErrClosed
	default:
	}
	n, ok := c.names[pool]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownPool, pool)
	}
	return n, nil
}

// route returns the pool a call to name goes to: name itself if it is a
// pool, else the shard the lookup table gives for hintID. A write to a
// locked entity fails with ErrShardLocked.
func (c *Client) route(ctx context.Context, name string, hintID int64, write bool) (*server, error) {
	n, err := c.name(name)
	if err != nil {
		return nil, err
	}
	if srv, ok := c.servers[name]; ok {
		return srv, nil
	}
	if c.byVB[name] {
		return c.routeVBucket(name, hintID, write)
	}
	row, hit, err := c.lookup.find(ctx, hintID)
	c.countLookup(n, hit)
	if err != nil {
		return nil, fmt.Errorf("pool %q: %w", name, err)
	}
	if write && row.locked {
		return nil, fmt.Errorf("%w: entity %d of pool %q is being moved (shardLock set); "+
			"writes are refused until it is cleared", ErrShardLocked, hintID, name)
	}
	shard := name + strconv.Itoa(row.shardID)
	srv, ok := c.servers[shard]
	if !ok {
		return nil, fmt.Errorf("%w: the lookup table puts entity %d of %q on shard %d, "+
			"but pool %q is not configured", ErrNoShardPool, hintID, name, row.shardID, shard)
	}
	return srv, nil
}

func (c *Client) countLookup(n *counter, hit bool) {
	if hit {
		n.lookupHits.Add(1)
	} else {
		n.lookupMisses.Add(1)
	}
}
