package mysql

import (
	"database/sql"

	"github.com/faed/faed/pool"
)

// Stats is the servant's state and counters at one instant. Counters run
// from New.
type Stats struct {
	// Pools has an entry per configured pool and per sharded name. A
	// sharded name ("user") has only the cache and lookup counters; its
	// shards ("user1", …) carry the connection counters.
	Pools      map[string]PoolStats `json:"pools"`
	QueryCache CacheStats           `json:"query_cache"`
	Lookup     LookupStats          `json:"lookup"`
}

// PoolStats describes one pool, or one sharded name.
type PoolStats struct {
	Server  string               `json:"server"` // host:port; "" for a sharded name
	DB      sql.DBStats          `json:"db"`     // database/sql's pool: open, in use, idle, waits
	Breaker pool.BreakerSnapshot `json:"breaker"`

	Queries uint64         `json:"queries"`    // statements sent, or refused by the breaker
	Errors  uint64         `json:"errors"`     // of those, the ones that failed
	Stmts   StmtCacheStats `json:"stmt_cache"` // prepared statements, for calls with arguments

	// query cache, for calls naming this pool
	CacheHits   uint64 `json:"cache_hits"`
	CacheMisses uint64 `json:"cache_misses"`
	// lookup cache, for calls naming this sharded name
	LookupHits   uint64 `json:"lookup_hits"`
	LookupMisses uint64 `json:"lookup_misses"`
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
			ps.Queries, ps.Errors, ps.Stmts = s.queries.Load(), s.errors.Load(), s.stmts.stats()
		}
		st.Pools[name] = ps
	}
	if c.lookup != nil {
		st.Lookup = c.lookup.stats()
	}
	return st
}
