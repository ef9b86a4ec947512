package mysql

import (
	"container/list"
	"sync"
	"sync/atomic"
	"time"
)

// defaultCacheTTL is query_cache.ttl's default.
const defaultCacheTTL = time.Minute

// queryCache holds Results by cacheKey, least recently used first out,
// bounded by entries and by estimated bytes. It is safe for concurrent use.
//
// A read that misses reserves its key before it queries and fills it after;
// a write or Evict of the key in between cancels the reservation, so the
// fill, which may carry rows older than the write, is dropped.
//
// In a cluster only the key's owner may hold an entry: writes and evictions
// of a key reach its owner alone, so a copy anywhere else would never be
// evicted. owns says whether this node owns a key under the ring in use now;
// get and fill consult it, and dropUnowned, run after every ring change,
// removes what moved away. Because a fill checks owns under mu and
// dropUnowned runs under mu after the new ring is in use, no entry for a key
// that moved away survives the change, so none is served when the key comes
// back.
type queryCache struct {
	maxItems int // 0: the cache is off
	maxBytes int64
	ttl      time.Duration
	owns     func(key string) bool // nil: every key is ours

	hits, misses, fills, drops, evictions, moved atomic.Uint64

	vbuckets int

	// mu guards ll, items, byVB, pending, bytes and lastToken.
	mu        sync.Mutex
	byVB      []*cacheEntry            // by vbucket: the first entry of its list
	ll        *list.List               // of *cacheEntry, most recently used at the front
	items     map[string]*list.Element // by key
	pending   map[string]uint64        // key → token of the fill it waits for
	bytes     int64                    // sum of the entries' sizes
	lastToken uint64
}

type cacheEntry struct {
	key            string
	res            *Result
	size           int64
	expires        time.Time
	vb             int
	vbPrev, vbNext *cacheEntry // in byVB[vb]'s list
}

func newQueryCache(cfg CacheConfig) *queryCache {
	ttl := cfg.TTL
	n := cfg.VBuckets
	if n == 0 {
		n = defaultVBuckets
	}
	return &queryCache{
		maxItems: cfg.MaxItems, maxBytes: cfg.MaxBytes, ttl: ttl, vbuckets: n, byVB: make([]*cacheEntry, n),
		ll: list.New(), items: map[string]*list.Element{}, pending: map[string]uint64{},
	}
}

// ours reports whether this node owns key.
func (c *queryCache) ours(key string) bool { return c.owns == nil || c.owns(key) }

// get returns the Result cached under key, counting a hit or a miss. A key
// another node owns always misses: the call reached us under an older ring.
func (c *queryCache) get(key string) (*Result, bool) {
	if c.maxItems == 0 || !c.ours(key) {
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
// 0 means there is nothing to fill (no key, the cache is off, or another
// node owns the key).
func (c *queryCache) reserve(key string) uint64 {
	if key == "" || c.maxItems == 0 || !c.ours(key) {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastToken++
	c.pending[key] = c.lastToken // a later reader's reservation replaces ours
	return c.lastToken
}

// settle ends a reservation: it stores r under key if err is nil, no write,
// Evict or later reservation came in between, and we still own the key; it
// drops r otherwise.
func (c *queryCache) settle(key string, token uint64, r *Result, err error) {
	if token == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending[key] != token || !c.ours(key) {
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

// dropUnowned removes every entry, and cancels every reservation, whose key
// this node does not own, and returns how many entries it removed. It holds
// mu throughout: a fill cannot slip in between.
func (c *queryCache) dropUnowned() int {
	if c.owns == nil || c.maxItems == 0 {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for key := range c.pending {
		if !c.owns(key) {
			delete(c.pending, key)
		}
	}
	n := 0
	for key, el := range c.items {
		if !c.owns(key) {
			c.removeLocked(el)
			n++
		}
	}
	c.moved.Add(uint64(n))
	return n
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
	c.storeLocked(&cacheEntry{key: key, res: r, size: size, expires: time.Now().Add(c.ttl), vb: c.vbucket(key)})
}

// storeLocked adds e, replacing any entry of its key, and evicts the least
// recently used entries until the bounds hold.
func (c *queryCache) storeLocked(e *cacheEntry) {
	if el, ok := c.items[e.key]; ok {
		c.removeLocked(el)
	}
	c.items[e.key] = c.ll.PushFront(e)
	c.linkLocked(e)
	c.bytes += e.size
	c.fills.Add(1)
	for c.ll.Len() > c.maxItems || c.bytes > c.maxBytes {
		c.removeLocked(c.ll.Back())
	}
}

func (c *queryCache) removeLocked(el *list.Element) {
	e := c.ll.Remove(el).(*cacheEntry)
	delete(c.items, e.key)
	c.unlinkLocked(e)
	c.bytes -= e.size
}

func (c *queryCache) expiredLocked(e *cacheEntry) bool { return time.Now().After(e.expires) }

// CacheStats describes the query cache at one instant. Counters run from
// New.
type CacheStats struct {
	Items     int    `json:"items"`
	Bytes     int64  `json:"bytes"`     // estimated, as bounded by query_cache.max_bytes
	Hits      uint64 `json:"hits"`      // reads answered from the cache
	Misses    uint64 `json:"misses"`    // reads with a cacheKey that went to the database
	Fills     uint64 `json:"fills"`     // results stored
	Drops     uint64 `json:"drops"`     // fills dropped: raced with a write or Evict, too large, or the key moved
	Evictions uint64 `json:"evictions"` // entries dropped by a write or Evict
	Moved     uint64 `json:"moved"`     // entries dropped because a ring change gave their key to another node
}

func (c *queryCache) stats() CacheStats {
	c.mu.Lock()
	items, bytes := c.ll.Len(), c.bytes
	c.mu.Unlock()
	return CacheStats{
		Items: items, Bytes: bytes, Hits: c.hits.Load(), Misses: c.misses.Load(),
		Fills: c.fills.Load(), Drops: c.drops.Load(), Evictions: c.evictions.Load(),
		Moved: c.moved.Load(),
	}
}
