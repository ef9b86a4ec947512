// Package lcache is faed's in-process LRU cache of string keys to byte
// values, bounded by entry count and by bytes. It knows nothing of peers:
// routing a key to its owner happens in the servant dispatcher.
package lcache

import (
	"errors"
	"fmt"
	"strings"
)

// EntryOverhead is the fixed cost, in bytes, charged per entry on top of
// len(key)+len(value). It approximates the LRU list element (96 bytes) and
// the map slot holding it (about 32 bytes).
const EntryOverhead = 128

// Sharding: the limits are split evenly across shards, so a shard evicts
// when its share is full. A cache never exceeds either limit as a whole,
// but with unevenly hashed keys it may evict a little before reaching them.
const (
	maxShards     = 32
	minShardItems = 16      // fewer shards for small caches keep LRU order exact
	minShardBytes = 1 << 20 // and keep the largest entry at least 1 MiB when possible
)

var (
	// ErrMiss is returned by Get when the key is not cached.
	ErrMiss = errors.New("lcache: miss")
	// ErrEmptyKey is returned for a zero-length key.
	ErrEmptyKey = errors.New("lcache: empty key")
	// ErrKeyTooLong is returned for a key longer than Config.MaxKeyBytes.
	ErrKeyTooLong = errors.New("lcache: key too long")
	// ErrTooLarge is returned by Set when one entry exceeds MaxEntryBytes.
	ErrTooLarge = errors.New("lcache: entry too large")
)

// Cache is a sharded LRU cache. It is safe for concurrent use; calls on keys
// in different shards do not contend. Values handed to Set are copied;
// values returned by Get and Range are shared and must not be modified.
type Cache struct {
	shards   []shard // length is a power of two
	mask     uint32
	vbuckets int
	maxKey   int
	maxEntry int64
}

// Stats is a snapshot of a Cache's counters since New.
type Stats struct {
	Items     int64 `json:"items"` // entries held
	Bytes     int64 `json:"bytes"` // bytes held, as charged against MaxBytes
	Hits      int64 `json:"hits"`
	Misses    int64 `json:"misses"`
	Evictions int64 `json:"evictions"` // entries dropped to respect a limit (not Del or replacement)
}

// New returns an empty Cache for cfg, which must be valid.
func New(cfg Config) (*Cache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("lcache: %w", err)
	}
	n := shardCount(cfg)
	c := &Cache{
		shards:   make([]shard, n),
		mask:     uint32(n - 1),
		vbuckets: cfg.vbuckets(),
		maxKey:   cfg.MaxKeyBytes,
		maxEntry: cfg.MaxBytes / int64(n),
	}
	for i := range c.shards {
		if err := c.shards[i].init(cfg.MaxItems/n, c.maxEntry, c.vbuckets); err != nil {
			return nil, fmt.Errorf("lcache: %w", err)
		}
	}
	return c, nil
}

// shardCount picks the largest power of two up to maxShards that still
// leaves every shard a useful share of both limits.
func shardCount(cfg Config) int {
	minBytes := max(int64(minShardBytes), minEntryBytes(cfg.MaxKeyBytes))
	n := maxShards
	for n > 1 && (cfg.MaxItems/n < minShardItems || cfg.MaxBytes/int64(n) < minBytes) {
		n /= 2
	}
	return n
}

// MaxEntryBytes is the largest entry Set accepts, counted like MaxBytes:
// a shard's share of MaxBytes.
func (c *Cache) MaxEntryBytes() int64 { return c.maxEntry }

// Set stores a copy of value under key, replacing any earlier value and
// evicting least recently used entries of the key's shard to stay within
// the limits.
func (c *Cache) Set(key string, value []byte) error {
	if err := c.checkKey(key); err != nil {
		return err
	}
	if n := entrySize(key, value); n > c.maxEntry {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, n, c.maxEntry)
	}
	// Clone both so the cache never pins a caller's larger buffer.
	v := make([]byte, len(value))
	copy(v, value)
	c.shardFor(key).set(strings.Clone(key), c.VBucket(key), v)
	return nil
}

// Get returns the value cached under key and marks it most recently used,
// or ErrMiss. It does not allocate. The returned slice must not be modified.
func (c *Cache) Get(key string) ([]byte, error) {
	if err := c.checkKey(key); err != nil {
		return nil, err
	}
	return c.shardFor(key).get(key)
}

// Del removes key. Deleting a missing key is not an error.
func (c *Cache) Del(key string) error {
	if err := c.checkKey(key); err != nil {
		return err
	}
	c.shardFor(key).del(key)
	return nil
}

// Stats sums the shards' counters. Each shard is read at its own moment,
// so under concurrent writes the totals are approximate.
func (c *Cache) Stats() Stats {
	var st Stats
	for i := range c.shards {
		c.shards[i].addStats(&st)
	}
	return st
}

// Range calls fn for every entry until fn returns false, shard by shard,
// oldest first within a shard. Each shard is copied under its lock and fn
// runs without any lock held, so fn may call the Cache; entries changed
// meanwhile may or may not be seen. Range does not change recency.
func (c *Cache) Range(fn func(key string, value []byte) bool) {
	for i := range c.shards {
		keys, values := c.shards[i].snapshot()
		for j := range keys {
			if !fn(keys[j], values[j]) {
				return
			}
		}
	}
}

func (c *Cache) checkKey(key string) error {
	if key == "" {
		return ErrEmptyKey
	}
	if len(key) > c.maxKey {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrKeyTooLong, len(key), c.maxKey)
	}
	return nil
}

// shardFor hashes key with 32-bit FNV-1a, inline so it does not allocate.
// Not by vbucket: crc32 costs a Get twice as much, and only Set needs the
// vbucket (for the index).
func (c *Cache) shardFor(key string) *shard {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return &c.shards[h&c.mask]
}

// entrySize is what one entry is charged against MaxBytes.
func entrySize(key string, value []byte) int64 {
	return int64(len(key)) + int64(len(value)) + EntryOverhead
}
