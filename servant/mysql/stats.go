package mysql

import (
	"database/sql"

	"faed/pool"
)

// Stats is the servant's state and counters at one instant. Counters run
// from New.
type Stats struct {
	// Pools has an entry per configured pool and per sharded name. A
	// sharded name ("user") has only the cache and lookup counters; its
	// shards ("user1", …) carry the connection counters.
	Pools      map[string]PoolStats
	QueryCache CacheStats
	Lookup     LookupStats
}

// PoolStats describes one pool, or one sharded name.
type PoolStats struct {
	Server  string      // host:port; "" for a sharded name
	DB      sql.DBStats // database/sql's pool: open, in use, idle, waits
	Breaker pool.BreakerSnapshot

	Queries uint64 // statements sent, or refused by the breaker
	Errors  uint64 // of those, the ones that failed

	CacheHits, CacheMisses   uint64 // query cache, for calls naming this pool
	LookupHits, LookupMisses uint64 // lookup cache, for calls naming this sharded name
}

// Stats returns the servant's stats. It is safe to call at any time.
func (c *Client) Stats() Stats {
	st := Stats{Pools: make(map[string]PoolStats, len(c.names)), QueryCache: c.cache.stats()}
	for name, n := range c.names {
		ps := PoolStats{
			CacheHits: n.cacheHits.Load(), CacheMisses: n.cacheMisses.Load(),
			LookupHits: n.lookupHits.Load(), LookupMisses: n.lookupMisses.Load(),
		}
		if s, ok := c.servers[name]; ok {
			ps.Server, ps.DB, ps.Breaker = s.addr, s.db.Stats(), s.br.Snapshot()
			ps.Queries, ps.Errors = s.queries.Load(), s.errors.Load()
		}
		st.Pools[name] = ps
	}
	if c.lookup != nil {
		st.Lookup = c.lookup.stats()
	}
	return st
}
