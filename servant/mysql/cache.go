package mysql

import (
	"container/list"
	"sync"
	"sync/atomic"
	"time"
)

// queryCache holds Results by cacheKey, least recently used first out,
// bounded by entries and by estimated bytes. It is safe for concurrent use.
//
// A read that misses reserves its key before it queries and fills it after;
// a write or Evict of the key in between cancels the reservation, so the
// fill, which may carry rows older than the write, is dropped.
type queryCache struct {
	maxItems int // 0: the cache is off
	maxBytes int64
	ttl      time.Duration // 0: entries do not expire

	hits, misses, fills, drops, evictions atomic.Uint64

	// mu guards ll, items, pending, bytes and lastToken.
	mu        sync.Mutex
	ll        *list.List               // of *cacheEntry, most recently used at the front
	items     map[string]*list.Element // by key
	pending   map[string]uint64        // key → token of the fill it waits for
	bytes     int64                    // sum of the entries' sizes
	lastToken uint64
}

type cacheEntry struct {
	key     string
	res     *Result
	size    int64
	expires time.Time // zero: never
}

func newQueryCache(cfg CacheConfig) *queryCache {
	return &queryCache{
		maxItems: cfg.MaxItems, maxBytes: cfg.MaxBytes, ttl: cfg.TTL,
		ll: list.New(), items: map[string]*list.Element{}, pending: map[string]uint64{},
	}
}

// get returns the Result cached under key, counting a hit or a miss.
func (c *queryCache) get(key string) (*Result, bool) {
	if c.maxItems == 0 {
		c.misses.Add(1)
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if ok && c.expiredLocked(el.Value.(*cacheEntry)) {
		c.removeLocked(el)
		ok = false
	}
	if !ok {
		c.misses.Add(1)
		return nil, false
	}
	c.hits.Add(1)
	c.ll.MoveToFront(el)
	return el.Value.(*cacheEntry).res, true
}

// reserve marks key as about to be filled and returns the token fill needs;
// 0 means there is nothing to fill (no key, or the cache is off).
func (c *queryCache) reserve(key string) uint64 {
	if key == "" || c.maxItems == 0 {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastToken++
	c.pending[key] = c.lastToken // a later reader's reservation replaces ours
	return c.lastToken
}

// settle ends a reservation: it stores r under key if err is nil and no
// write, Evict or later reservation came in between, and drops it otherwise.
func (c *queryCache) settle(key string, token uint64, r *Result, err error) {
	if token == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending[key] != token {
		c.drops.Add(1)
		return
	}
	delete(c.pending, key)
	if err == nil {
		c.addLocked(key, r)
	}
}

// evict drops key and cancels any reservation of it.
func (c *queryCache) evict(key string) {
	if key == "" || c.maxItems == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.pending, key)
	if el, ok := c.items[key]; ok {
		c.removeLocked(el)
		c.evictions.Add(1)
	}
}

// addLocked stores r, then drops the least recently used entries until the
// bounds hold. A result above an eighth of maxBytes is not stored: it would
// push out many others.
func (c *queryCache) addLocked(key string, r *Result) {
	size := r.size() + int64(len(key))
	if size > c.maxBytes/8 {
		c.drops.Add(1)
		return
	}
	if el, ok := c.items[key]; ok {
		c.removeLocked(el)
	}
	e := &cacheEntry{key: key, res: r, size: size}
	if c.ttl > 0 {
		e.expires = time.Now().Add(c.ttl)
	}
	c.items[key] = c.ll.PushFront(e)
	c.bytes += size
	c.fills.Add(1)
	for c.ll.Len() > c.maxItems || c.bytes > c.maxBytes {
		c.removeLocked(c.ll.Back())
	}
}

func (c *queryCache) removeLocked(el *list.Element) {
	e := c.ll.Remove(el).(*cacheEntry)
	delete(c.items, e.key)
	c.bytes -= e.size
}

func (c *queryCache) expiredLocked(e *cacheEntry) bool {
	return !e.expires.IsZero() && time.Now().After(e.expires)
}

// CacheStats describes the query cache at one instant. Counters run from
// New.
type CacheStats struct {
	Items     int    `json:"items"`
	Bytes     int64  `json:"bytes"`     // estimated, as bounded by query_cache.max_bytes
	Hits      uint64 `json:"hits"`      // reads answered from the cache
	Misses    uint64 `json:"misses"`    // reads with a cacheKey that went to the database
	Fills     uint64 `json:"fills"`     // results stored
	Drops     uint64 `json:"drops"`     // fills dropped: raced with a write or Evict, or too large
	Evictions uint64 `json:"evictions"` // entries dropped by a write or Evict
}

func (c *queryCache) stats() CacheStats {
	c.mu.Lock()
	items, bytes := c.ll.Len(), c.bytes
	c.mu.Unlock()
	return CacheStats{
		Items: items, Bytes: bytes, Hits: c.hits.Load(), Misses: c.misses.Load(),
		Fills: c.fills.Load(), Drops: c.drops.Load(), Evictions: c.evictions.Load(),
	}
}
