package lcache

import (
	"errors"
	"fmt"
	"hash/crc32"
)

// The entries of a routed lcache move with their vbucket (SPEC §5.3): in
// each shard, each vbucket's entries are linked in a list of their own,
// kept on set, evict and delete, so a move reads or drops them without a
// scan of the cache (a head per vbucket per shard: 8 bytes × vbuckets ×
// shards, 256 KiB at 1024 vbuckets and 32 shards).

// ErrVBucket is returned for a vbucket out of range, or an imported key
// that is not in the vbucket named.
var ErrVBucket = errors.New("lcache: wrong vbucket")

// Entry is one cached pair of a vbucket, as it moves. Value is shared with
// the cache and must not be modified.
type Entry struct {
	Key   string
	Value []byte
}

// VBucket returns key's vbucket: crc32 (IEEE) of key modulo VBuckets,
// computed on the string so it does not allocate.
func (c *Cache) VBucket(key string) int {
	crc := ^uint32(0)
	for i := 0; i < len(key); i++ {
		crc = crc32.IEEETable[byte(crc)^key[i]] ^ crc>>8
	}
	return int(^crc % uint32(c.vbuckets))
}

// ExportVBucket returns vb's entries. It does not change recency.
func (c *Cache) ExportVBucket(vb int) ([]Entry, error) {
	if err := c.checkVBucket(vb); err != nil {
		return nil, err
	}
	var out []Entry
	for i := range c.shards {
		out = c.shards[i].appendVBucket(out, vb)
	}
	return out, nil
}

// ImportVBucket stores entries of vb as Set does. Every key is checked
// first: all of them are stored, or none.
func (c *Cache) ImportVBucket(vb int, entries []Entry) error {
	if err := c.checkVBucket(vb); err != nil {
		return err
	}
	for _, e := range entries {
		if err := c.checkKey(e.Key); err != nil {
			return err
		}
		if got := c.VBucket(e.Key); got != vb {
			return fmt.Errorf("%w: key %q is in vbucket %d, not %d", ErrVBucket, e.Key, got, vb)
		}
		if n := entrySize(e.Key, e.Value); n > c.maxEntry {
			return fmt.Errorf("%w: key %q, %d bytes, limit %d", ErrTooLarge, e.Key, n, c.maxEntry)
		}
	}
	for _, e := range entries {
		_ = c.Set(e.Key, e.Value) // checked above
	}
	return nil
}

// DropVBucket removes every entry of vb and returns how many.
func (c *Cache) DropVBucket(vb int) (int, error) {
	if err := c.checkVBucket(vb); err != nil {
		return 0, err
	}
	n := 0
	for i := range c.shards {
		n += c.shards[i].drop(vb)
	}
	return n, nil
}

func (c *Cache) checkVBucket(vb int) error {
	if vb < 0 || vb >= c.vbuckets {
		return fmt.Errorf("%w: %d, want 0–%d", ErrVBucket, vb, c.vbuckets-1)
	}
	return nil
}
