package kvdb

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"go.etcd.io/bbolt"
)

const (
	// prefixLen is the vbucket prefix of every stored key.
	prefixLen = 2

	// DefaultLimitKeys and DefaultLimitBytes bound a batch when Limit's
	// fields are zero.
	DefaultLimitKeys  = 1000
	DefaultLimitBytes = 1 << 20

	// dropChunk is how many keys Drop deletes per write transaction, so
	// a large vbucket never makes one huge transaction.
	dropChunk = 10_000
)

// Limit bounds one exported batch. If a field is zero, its default.
type Limit struct {
	Keys  int   // entries per batch; default DefaultLimitKeys
	Bytes int64 // len(key)+len(value) summed over a batch; default DefaultLimitBytes
}

func (l Limit) orDefault() Limit {
	if l.Keys <= 0 {
		l.Keys = DefaultLimitKeys
	}
	if l.Bytes <= 0 {
		l.Bytes = DefaultLimitBytes
	}
	return l
}

// Entry is one key of a batch: its value, or that it was deleted (only in
// batches made by ExportChanges).
type Entry struct {
	Key, Value []byte
	Deleted    bool
}

// Batch is a slice of one vbucket's keys, in byte order.
type Batch struct {
	VBucket int
	Entries []Entry
	Bytes   int64 // len(key)+len(value) summed over Entries
	Done    bool  // no key of VBucket followed the last entry when read
}

// Cursor is the after argument of the Export continuing past b: its last
// key, nil for an empty batch.
func (b Batch) Cursor() []byte {
	if len(b.Entries) == 0 {
		return nil
	}
	return b.Entries[len(b.Entries)-1].Key
}

// VBucketStats counts one vbucket's content.
type VBucketStats struct {
	Keys  int64 `json:"keys"`
	Bytes int64 `json:"bytes"` // len(key)+len(value) summed
}

// VBuckets returns the vbucket count keys are grouped by.
func (db *DB) VBuckets() int { return db.vbuckets }

// VBucket returns key's vbucket: crc32.ChecksumIEEE(key) % VBuckets.
func (db *DB) VBucket(key []byte) int {
	return int(crc32.ChecksumIEEE(key) % uint32(db.vbuckets))
}

// Export returns the keys of vb after the cursor after (nil: from the
// first), bounded by lim. Keys and values are copies the caller may keep.
// Each call is one read transaction; see the package doc for what it sees.
func (db *DB) Export(vb int, after []byte, lim Limit) (Batch, error) {
	if err := db.checkVBucket(vb); err != nil {
		return Batch{}, err
	}
	lim = lim.orDefault()
	b := Batch{VBucket: vb}
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket([]byte(dataBucket)).Cursor()
		k, v := c.Seek(storedKey(vb, after))
		if after != nil && k != nil && bytes.Equal(k[prefixLen:], after) && inVBucket(k, vb) {
			k, v = c.Next()
		}
		for ; inVBucket(k, vb); k, v = c.Next() {
			if len(b.Entries) > 0 && (len(b.Entries) >= lim.Keys || b.Bytes+pairBytes(k, v) > lim.Bytes) {
				return nil
			}
			b.add(k, v)
		}
		b.Done = true
		return nil
	})
	if err != nil {
		return Batch{}, db.wrap("export", err)
	}
	return b, nil
}

// add appends copies of stored key k and its value v.
func (b *Batch) add(k, v []byte) {
	b.Entries = append(b.Entries, Entry{Key: bytes.Clone(k[prefixLen:]), Value: append(make([]byte, 0, len(v)), v...)})
	b.Bytes += pairBytes(k, v)
}

// Import stores b's entries (deleting those marked Deleted) in one write
// transaction: all of them or, on error, none. It returns once they are on
// disk. Every key must be valid and in b.VBucket, so two nodes with
// different vbucket counts cannot mix their data.
func (db *DB) Import(b Batch) error {
	if err := db.checkBatch(b); err != nil {
		return err
	}
	var created, removed int64
	err := db.bolt.Update(func(tx *bbolt.Tx) error {
		bk := tx.Bucket([]byte(dataBucket))
		for _, e := range b.Entries {
			stored := storedKey(b.VBucket, e.Key)
			_, found := lookup(bk, stored)
			var err error
			switch {
			case e.Deleted && found:
				removed++
				err = bk.Delete(stored)
			case !e.Deleted:
				if !found {
					created++
				}
				err = bk.Put(stored, e.Value)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return db.wrap("import", err)
	}
	db.keys.Add(created - removed)
	for _, e := range b.Entries {
		db.tracks.record(b.VBucket, e.Key, e.Deleted)
	}
	return nil
}

func (db *DB) checkBatch(b Batch) error {
	if err := db.checkVBucket(b.VBucket); err != nil {
		return err
	}
	for _, e := range b.Entries {
		if err := db.checkKey(e.Key); err != nil {
			return err
		}
		if len(e.Value) > db.maxValue {
			return fmt.Errorf("%w: %d bytes, limit %d", ErrValueTooLarge, len(e.Value), db.maxValue)
		}
		if vb := db.VBucket(e.Key); vb != b.VBucket {
			return fmt.Errorf("%w: key %q is in vbucket %d, batch is for %d", ErrVBucket, e.Key, vb, b.VBucket)
		}
	}
	return nil
}

// Drop deletes every key of vb and returns how many it deleted. It
// deletes dropChunk keys per transaction, so a crash may leave some keys
// behind: call it again. A tracked vbucket answers ErrTracking.
func (db *DB) Drop(vb int) (int, error) {
	if err := db.checkVBucket(vb); err != nil {
		return 0, err
	}
	if db.tracks.tracked(vb) {
		return 0, fmt.Errorf("%w: drop of vbucket %d", ErrTracking, vb)
	}
	total := 0
	for {
		n, err := db.dropChunk(vb)
		total += n
		db.keys.Add(-int64(n))
		if err != nil {
			return total, db.wrap("drop", err)
		}
		if n < dropChunk {
			return total, nil
		}
	}
}

// dropChunk deletes up to dropChunk keys of vb in one transaction.
func (db *DB) dropChunk(vb int) (int, error) {
	n := 0
	err := db.bolt.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(dataBucket))
		// Collect first: deleting under a moving cursor can skip keys.
		var keys [][]byte
		c := b.Cursor()
		for k, _ := c.Seek(storedKey(vb, nil)); inVBucket(k, vb) && len(keys) < dropChunk; k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(keys)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// VBucketStats counts vb's keys and bytes by reading its range.
func (db *DB) VBucketStats(vb int) (VBucketStats, error) {
	if err := db.checkVBucket(vb); err != nil {
		return VBucketStats{}, err
	}
	var st VBucketStats
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket([]byte(dataBucket)).Cursor()
		for k, v := c.Seek(storedKey(vb, nil)); inVBucket(k, vb); k, v = c.Next() {
			st.Keys++
			st.Bytes += pairBytes(k, v)
		}
		return nil
	})
	if err != nil {
		return VBucketStats{}, db.wrap("vbucket stats", err)
	}
	return st, nil
}

// storedKey returns vb's 2-byte big-endian prefix followed by key.
func storedKey(vb int, key []byte) []byte {
	k := make([]byte, prefixLen+len(key))
	binary.BigEndian.PutUint16(k, uint16(vb))
	copy(k[prefixLen:], key)
	return k
}

// inVBucket reports whether stored key k exists and is in vb.
func inVBucket(k []byte, vb int) bool {
	return len(k) >= prefixLen && int(binary.BigEndian.Uint16(k)) == vb
}

// pairBytes is what a stored pair counts in a batch: the key without its
// prefix, and the value.
func pairBytes(k, v []byte) int64 { return int64(len(k) - prefixLen + len(v)) }

func (db *DB) checkVBucket(vb int) error {
	switch {
	case db.closed.Load():
		return ErrClosed
	case vb < 0 || vb >= db.vbuckets:
		return fmt.Errorf("%w: %d, want 0–%d", ErrVBucket, vb, db.vbuckets-1)
	}
	return nil
}
