package mysql

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// lookup finds the shard of an entity in the lookup table, through an LRU of
// rows. It is safe for concurrent use.
//
// A cached row is trusted for ttl from the moment its read began, so a row
// changed behind our back is seen within ttl of the change, however long the
// read took. A write to the table through this node purges the whole cache
// at once, and so does a notice from another node that wrote it (see
// Cluster): which rows a statement changed is not known, and such writes are
// rare (migrations).
type lookup struct {
	srv   *server // the lookup pool
	sql   string  // SELECT shardId, shardLock FROM `table` WHERE entityId=?
	table string  // lower case without its db, to spot writes that name it
	ttl   time.Duration
	cache *lru.Cache[int64, lookupRow] // nil: not cached

	// mu guards gen: purge and store take it so that a row read before a
	// purge is never stored after it.
	mu  sync.Mutex
	gen uint64 // purges so far
}

// lookupRow is one row of the lookup table.
type lookupRow struct {
	shardID int
	locked  bool      // shardLock is set: the entity is being moved
	expires time.Time // when a cached copy stops being trusted
}

func newLookup(cfg LookupConfig, srv *server) (*lookup, error) {
	l := &lookup{
		srv:   srv,
		sql:   "SELECT shardId, shardLock FROM " + quoteTable(cfg.Table) + " WHERE entityId=?",
		table: strings.ToLower(bareTable(cfg.Table)),
		ttl:   cfg.CacheTTL,
	}
	if cfg.CacheSize > 0 {
		c, err := lru.New[int64, lookupRow](cfg.CacheSize)
		if err != nil {
			return nil, fmt.Errorf("lookup.cache_size: %w", err)
		}
		l.cache = c
	}
	return l, nil
}

// find returns the lookup row of entity id, and whether it came from the
// cache.
func (l *lookup) find(ctx context.Context, id int64) (lookupRow, bool, error) {
	if row, ok := l.cached(id); ok {
		return row, true, nil
	}
	l.mu.Lock()
	gen := l.gen
	l.mu.Unlock()
	start := time.Now()
	row, err := l.read(ctx, id)
	if err == nil && !row.locked {
		// A locked row is never cached, so clearing the lock works at once.
		l.store(id, row, gen, start)
	}
	return row, false, err
}

func (l *lookup) cached(id int64) (lookupRow, bool) {
	if l.cache == nil {
		return lookupRow{}, false
	}
	row, ok := l.cache.Get(id)
	if ok && time.Now().After(row.expires) {
		l.cache.Remove(id)
		return lookupRow{}, false
	}
	return row, ok
}

// store caches row, read at start, unless a purge happened since gen was
// read.
func (l *lookup) store(id int64, row lookupRow, gen uint64, start time.Time) {
	if l.cache == nil {
		return
	}
	row.expires = start.Add(l.ttl)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gen == gen {
		l.cache.Add(id, row)
	}
}

// read queries the lookup table for entity id.
func (l *lookup) read(ctx context.Context, id int64) (lookupRow, error) {
	r, err := l.srv.query(ctx, l.sql, []any{id})
	if err != nil {
		return lookupRow{}, fmt.Errorf("lookup of entity %d: %w", id, err)
	}
	if len(r.Rows) == 0 {
		return lookupRow{}, fmt.Errorf("%w for entity %d in %s", ErrNoLookupRow, id, l.table)
	}
	shardID, err := strconv.Atoi(r.Rows[0][0])
	if err != nil {
		return lookupRow{}, fmt.Errorf("lookup of entity %d: shardId %q: %w", id, r.Rows[0][0], err)
	}
	lock := r.Rows[0][1]
	return lookupRow{shardID: shardID, locked: lock != Null && lock != "0" && lock != ""}, nil
}

// touches reports whether a write to pool with this table argument and SQL
// may change a row of the lookup table: it goes to the lookup pool, names
// the table (case-insensitively) as its table argument or anywhere in its
// SQL, and is not a plain INSERT. Adding rows needs no purge, as only rows
// found are cached, and skipping it keeps an entity's creation from purging
// every node's lookup cache.
func (l *lookup) touches(pool, table, sql string) bool {
	if pool != l.srv.name || onlyAdds(sql) {
		return false
	}
	return strings.EqualFold(bareTable(table), l.table) ||
		strings.Contains(strings.ToLower(sql), l.table)
}

// onlyAdds reports whether sql can only add rows: its first keyword is
// INSERT and it does not say DUPLICATE (as INSERT … ON DUPLICATE KEY UPDATE
// does) anywhere. In doubt it answers false.
func onlyAdds(sql string) bool {
	return strings.EqualFold(firstKeyword(sql), "INSERT") && !strings.Contains(strings.ToUpper(sql), "DUPLICATE")
}

// bareTable returns "table" from "db.table" or "table".
func bareTable(name string) string {
	if _, t, ok := strings.Cut(name, "."); ok {
		return t
	}
	return name
}

// purge drops every cached row.
func (l *lookup) purge() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gen++
	if l.cache != nil {
		l.cache.Purge()
	}
}

// LookupStats describes the lookup cache at one instant.
type LookupStats struct {
	Items  int    `json:"items"`
	Purges uint64 `json:"purges"` // writes to the lookup table through this node, and notices of others'
}

func (l *lookup) stats() LookupStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := LookupStats{Purges: l.gen}
	if l.cache != nil {
		s.Items = l.cache.Len()
	}
	return s
}
