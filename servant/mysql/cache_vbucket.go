package mysql

import (
	"errors"
	"fmt"
	"hash/crc32"
	"time"
)

// Query-cache entries move with the vbucket of their cacheKey (SPEC §5.3).
// Each vbucket's entries are linked in a list of their own, kept on fill,
// evict, expiry and LRU eviction, so a move reads or drops them without a
// scan of the cache.

// defaultVBuckets is CacheConfig.VBuckets when zero.
const defaultVBuckets = 1024

// ErrVBucket is returned for a vbucket out of range, or an imported
// cacheKey that is not in the vbucket named.
var ErrVBucket = errors.New("mysql: wrong vbucket")

// CachedResult is one query-cache entry of a vbucket, as it moves. Result
// is shared with the cache and must not be modified.
type CachedResult struct {
	Key    string
	Result *Result
	TTL    time.Duration // what is left of the entry's life, > 0
}

// ExportVBucket returns the live query-cache entries of vb.
func (c *Client) ExportVBucket(vb int) ([]CachedResult, error) { return c.cache.exportVBucket(vb) }

// ImportVBucket stores entries of vb, each living its TTL from now, and
// cancels fills under way of their keys: all of them, or none if one is
// invalid. It does nothing when the cache is off.
func (c *Client) ImportVBucket(vb int, entries []CachedResult) error {
	return c.cache.importVBucket(vb, entries)
}

// DropVBucket removes every query-cache entry of vb, cancels the fills
// under way of its keys, and returns how many entries it removed.
func (c *Client) DropVBucket(vb int) (int, error) { return c.cache.dropVBucket(vb) }

func (c *queryCache) exportVBucket(vb int) ([]CachedResult, error) {
	if err := c.checkVBucket(vb); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	var out []CachedResult
	for e := c.byVB[vb]; e != nil; e = e.vbNext {
		if ttl := e.expires.Sub(now); ttl > 0 {
			out = append(out, CachedResult{Key: e.key, Result: e.res, TTL: ttl})
		}
	}
	return out, nil
}

func (c *queryCache) importVBucket(vb int, entries []CachedResult) error {
	if err := c.checkImport(vb, entries); err != nil || c.maxItems == 0 {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	for _, r := range entries {
		delete(c.pending, r.Key) // a fill started before the move is older
		size := r.Result.size() + int64(len(r.Key))
		if size > c.maxBytes/8 {
			continue // as addLocked: too large to keep
		}
		c.storeLocked(&cacheEntry{key: r.Key, res: r.Result, size: size, expires: now.Add(min(r.TTL, c.ttl)), vb: vb})
	}
	return nil
}

func (c *queryCache) checkImport(vb int, entries []CachedResult) error {
	if err := c.checkVBucket(vb); err != nil {
		return err
	}
	for _, r := range entries {
		switch {
		case r.Key == "" || r.Result == nil || r.TTL <= 0:
			return fmt.Errorf("mysql: query-cache entry %q imported without a key, a result or a ttl", r.Key)
		case c.vbucket(r.Key) != vb:
			return fmt.Errorf("%w: cacheKey %q is in vbucket %d, not %d", ErrVBucket, r.Key, c.vbucket(r.Key), vb)
		}
	}
	return nil
}

func (c *queryCache) dropVBucket(vb int) (int, error) {
	if err := c.checkVBucket(vb); err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for key := range c.pending { // only the reads in flight
		if c.vbucket(key) == vb {
			delete(c.pending, key)
		}
	}
	n := 0
	for e := c.byVB[vb]; e != nil; e = c.byVB[vb] {
		c.removeLocked(c.items[e.key])
		n++
	}
	return n, nil
}

func (c *queryCache) linkLocked(e *cacheEntry) {
	e.vbPrev, e.vbNext = nil, c.byVB[e.vb]
	if e.vbNext != nil {
		e.vbNext.vbPrev = e
	}
	c.byVB[e.vb] = e
}

func (c *queryCache) unlinkLocked(e *cacheEntry) {
	if e.vbPrev != nil {
		e.vbPrev.vbNext = e.vbNext
	} else {
		c.byVB[e.vb] = e.vbNext
	}
	if e.vbNext != nil {
		e.vbNext.vbPrev = e.vbPrev
	}
	e.vbPrev, e.vbNext = nil, nil
}

func (c *queryCache) checkVBucket(vb int) error {
	if vb < 0 || vb >= c.vbuckets {
		return fmt.Errorf("%w: %d, want 0–%d", ErrVBucket, vb, c.vbuckets-1)
	}
	return nil
}

// vbucket is crc32.ChecksumIEEE(key) % vbuckets, computed on the string so
// it does not allocate.
func (c *queryCache) vbucket(key string) int {
	crc := ^uint32(0)
	for i := 0; i < len(key); i++ {
		crc = crc32.IEEETable[byte(crc)^key[i]] ^ crc>>8
	}
	return int(^crc % uint32(c.vbuckets))
}
