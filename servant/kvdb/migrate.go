package kvdb

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"
	"time"

	"go.etcd.io/bbolt"
)

// Migration from the layout before vbuckets, where bucket "kv" held bare
// keys. It copies "kv" into a fresh "vb" bucket, migrateChunk pairs per
// write transaction, then one last transaction deletes "kv" and records the
// vbucket count. Until that commits, "kv" is whole and is what the file
// means: a crash at any point leaves a file whose next Open starts the copy
// again from nothing (the partial "vb" bucket is deleted first). No call is
// served before Open returns, so nothing writes either bucket meanwhile.

const (
	legacyBucket = "kv"

	// migrateChunk bounds the pairs one migration transaction copies, so
	// a large file never needs one huge transaction's worth of memory.
	migrateChunk = 4096
)

// migrate converts a file in the old layout, and creates the buckets of an
// empty file. A file already in the vbucket layout is left alone.
func (db *DB) migrate(log *slog.Logger) error {
	var legacy bool
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		legacy = tx.Bucket([]byte(legacyBucket)) != nil
		return nil
	})
	if err != nil {
		return err
	}
	if !legacy {
		return db.bolt.Update(db.createLayout)
	}
	start := time.Now()
	n, err := db.copyLegacy()
	if err != nil {
		return fmt.Errorf("migrate to the vbucket layout: %w", err)
	}
	log.Info("kvdb: migrated the file to the vbucket layout", "path", db.path,
		"keys", n, "vbuckets", db.vbuckets, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// createLayout creates the data and meta buckets if the file has none.
func (db *DB) createLayout(tx *bbolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists([]byte(dataBucket)); err != nil {
		return err
	}
	meta, err := tx.CreateBucketIfNotExists([]byte(metaBucket))
	if err != nil {
		return err
	}
	if meta.Get([]byte(metaVBuckets)) != nil {
		return nil
	}
	return meta.Put([]byte(metaVBuckets), binary.BigEndian.AppendUint32(nil, uint32(db.vbuckets)))
}

// copyLegacy copies every pair of "kv" into a new "vb", then swaps the
// layouts in one transaction. It returns the pairs copied.
func (db *DB) copyLegacy() (int, error) {
	err := db.bolt.Update(func(tx *bbolt.Tx) error {
		if tx.Bucket([]byte(dataBucket)) != nil {
			if err := tx.DeleteBucket([]byte(dataBucket)); err != nil {
				return err
			}
		}
		_, err := tx.CreateBucket([]byte(dataBucket))
		return err
	})
	if err != nil {
		return 0, err
	}
	total := 0
	var after []byte
	for {
		n, last, err := db.copyLegacyChunk(after)
		total += n
		if err != nil {
			return total, err
		}
		if last == nil {
			break
		}
		after = last
	}
	return total, db.bolt.Update(func(tx *bbolt.Tx) error {
		if err := tx.DeleteBucket([]byte(legacyBucket)); err != nil {
			return err
		}
		if tx.Bucket([]byte(metaBucket)) != nil {
			// Left by a layout no version wrote; the count is ours now.
			if err := tx.DeleteBucket([]byte(metaBucket)); err != nil {
				return err
			}
		}
		return db.createLayout(tx)
	})
}

// copyLegacyChunk copies up to migrateChunk pairs of "kv" after key after
// (nil: from the first). It returns how many it copied and the last key it
// read, nil when none was left.
func (db *DB) copyLegacyChunk(after []byte) (n int, last []byte, err error) {
	err = db.bolt.Update(func(tx *bbolt.Tx) error {
		dst := tx.Bucket([]byte(dataBucket))
		src := tx.Bucket([]byte(legacyBucket))
		c := src.Cursor()
		k, v := c.First()
		if after != nil {
			if k, v = c.Seek(after); bytes.Equal(k, after) {
				k, v = c.Next()
			}
		}
		for read := 0; k != nil && read < migrateChunk; k, v = c.Next() {
			read++
			last = bytes.Clone(k)
			if v == nil && src.Bucket(k) != nil {
				continue // a nested bucket: the old layout wrote none
			}
			if err := dst.Put(storedKey(db.VBucket(k), k), v); err != nil {
				return fmt.Errorf("copy key %q: %w", k, err)
			}
			n++
		}
		return nil
	})
	return n, last, err
}

// checkLayout verifies that the file's vbucket count is db's.
func (db *DB) checkLayout(tx *bbolt.Tx) error {
	raw := tx.Bucket([]byte(metaBucket)).Get([]byte(metaVBuckets))
	if len(raw) != 4 {
		return fmt.Errorf("%w: meta %q is %d bytes, want 4", ErrVBucketCount, metaVBuckets, len(raw))
	}
	if got := int(binary.BigEndian.Uint32(raw)); got != db.vbuckets {
		return fmt.Errorf("%w: written with %d vbuckets, opened with %d", ErrVBucketCount, got, db.vbuckets)
	}
	return nil
}
