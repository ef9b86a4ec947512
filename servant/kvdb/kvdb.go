// Package kvdb is faed's persistent key-value store: one bbolt B-tree file
// on local disk. It knows nothing of peers or vbuckets; the dispatcher
// routes keys to their owner and uses Range to hand data over.
package kvdb

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

const (
	// openTimeout bounds the wait for the file lock, so a second process
	// opening the same file fails with ErrLocked instead of hanging.
	openTimeout = time.Second

	// batchDelay is how long a Set or Del waits for company before its
	// transaction commits. bbolt's default (10ms) would be added to every
	// lone write; under load, calls arriving during one commit's fsync
	// gather into the next batch anyway.
	batchDelay = time.Millisecond

	// rangeChunk is how many pairs Range copies per read transaction.
	rangeChunk = 256

	bucketName = "kv"
)

var (
	// ErrNotFound is returned by Get for a missing key.
	ErrNotFound = errors.New("kvdb: not found")
	// ErrEmptyKey is returned for a zero-length key.
	ErrEmptyKey = errors.New("kvdb: empty key")
	// ErrKeyTooLong is returned for a key longer than Config.MaxKeyBytes.
	ErrKeyTooLong = errors.New("kvdb: key too long")
	// ErrValueTooLarge is returned for a value longer than Config.MaxValueBytes.
	ErrValueTooLarge = errors.New("kvdb: value too large")
	// ErrLocked is returned by Open when another process holds the file.
	ErrLocked = errors.New("kvdb: database file locked")
	// ErrClosed is returned by calls on a closed DB.
	ErrClosed = errors.New("kvdb: closed")
)

// DB is an open store. It is safe for concurrent use. Writes are durable
// (fsync'd) when they return; concurrent writers share one fsync.
type DB struct {
	bolt     *bbolt.DB
	path     string
	bucket   []byte
	maxKey   int
	maxValue int
	closed   atomic.Bool

	keys, sets, gets, dels atomic.Int64
}

// Stats counts a DB's content and activity since Open.
type Stats struct {
	Keys      int64 `json:"keys"` // keys stored (counted at Open, then kept up to date)
	Sets      int64 `json:"sets"`
	Gets      int64 `json:"gets"`
	Dels      int64 `json:"dels"`       // Del calls that removed a key
	FileBytes int64 `json:"file_bytes"` // size of the database file on disk
}

// Open opens (creating if needed) the database at cfg.Path. It waits at
// most a second for the file lock, then fails with ErrLocked naming the path.
func Open(cfg Config) (*DB, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("kvdb: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o755); err != nil {
		return nil, fmt.Errorf("kvdb: create directory for %s: %w", cfg.Path, err)
	}
	b, err := bbolt.Open(cfg.Path, 0o600, &bbolt.Options{Timeout: openTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s is in use by another process (waited %s)", ErrLocked, cfg.Path, openTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("kvdb: open %s: %w", cfg.Path, err)
	}
	b.MaxBatchDelay = batchDelay
	db := &DB{bolt: b, path: cfg.Path, bucket: []byte(bucketName),
		maxKey: cfg.MaxKeyBytes, maxValue: cfg.MaxValueBytes}
	if err := db.init(); err != nil {
		b.Close()
		return nil, fmt.Errorf("kvdb: open %s: %w", cfg.Path, err)
	}
	return db, nil
}

// init creates the bucket and counts the keys already stored.
func (db *DB) init() error {
	return db.bolt.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(db.bucket)
		if err != nil {
			return err
		}
		db.keys.Store(int64(b.Stats().KeyN))
		return nil
	})
}

// Set stores value under key, replacing any earlier value. It returns once
// the write is on disk. The DB keeps no reference to key or value.
func (db *DB) Set(key, value []byte) error {
	if err := db.checkKey(key); err != nil {
		return err
	}
	if len(value) > db.maxValue {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrValueTooLarge, len(value), db.maxValue)
	}
	// Batch may run the function more than once; only the last run commits.
	var created bool
	err := db.bolt.Batch(func(tx *bbolt.Tx) error {
		b := tx.Bucket(db.bucket)
		_, found := lookup(b, key)
		created = !found
		return b.Put(key, value)
	})
	if err != nil {
		return db.wrap("set", err)
	}
	db.sets.Add(1)
	if created {
		db.keys.Add(1)
	}
	return nil
}

// Get returns a copy of the value stored under key, or ErrNotFound.
func (db *DB) Get(key []byte) ([]byte, error) {
	if err := db.checkKey(key); err != nil {
		return nil, err
	}
	var value []byte
	var found bool
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		var v []byte
		v, found = lookup(tx.Bucket(db.bucket), key)
		// v points into the mmap and is valid only inside the transaction.
		value = append(make([]byte, 0, len(v)), v...)
		return nil
	})
	if err != nil {
		return nil, db.wrap("get", err)
	}
	db.gets.Add(1)
	if !found {
		return nil, ErrNotFound
	}
	return value, nil
}

// Del removes key and reports whether it was there. It returns once the
// removal is on disk.
func (db *DB) Del(key []byte) (existed bool, err error) {
	if err := db.checkKey(key); err != nil {
		return false, err
	}
	err = db.bolt.Batch(func(tx *bbolt.Tx) error {
		b := tx.Bucket(db.bucket)
		if _, existed = lookup(b, key); !existed {
			return nil
		}
		return b.Delete(key)
	})
	if err != nil {
		return false, db.wrap("del", err)
	}
	if existed {
		db.dels.Add(1)
		db.keys.Add(-1)
	}
	return existed, nil
}

// Stats returns a snapshot of the counters and the file's size.
func (db *DB) Stats() Stats {
	st := Stats{Keys: db.keys.Load(), Sets: db.sets.Load(), Gets: db.gets.Load(), Dels: db.dels.Load()}
	if fi, err := os.Stat(db.path); err == nil {
		st.FileBytes = fi.Size()
	}
	return st
}

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// Close closes the file. It waits for running transactions, and is
// idempotent: later calls return nil, other methods return ErrClosed.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return nil
	}
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("kvdb: close %s: %w", db.path, err)
	}
	return nil
}

// lookup finds key in b. A cursor tells an empty value from a missing key.
func lookup(b *bbolt.Bucket, key []byte) (value []byte, found bool) {
	k, v := b.Cursor().Seek(key)
	if !bytes.Equal(k, key) {
		return nil, false
	}
	return v, true
}

func (db *DB) checkKey(key []byte) error {
	switch {
	case db.closed.Load():
		return ErrClosed
	case len(key) == 0:
		return ErrEmptyKey
	case len(key) > db.maxKey:
		return fmt.Errorf("%w: %d bytes, limit %d", ErrKeyTooLong, len(key), db.maxKey)
	}
	return nil
}

// wrap names the operation and the file, and maps a close that raced with
// the call to ErrClosed.
func (db *DB) wrap(op string, err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return fmt.Errorf("kvdb: %s in %s: %w", op, db.path, err)
}
