// Package kvdb is faed's persistent key-value store: one bbolt B-tree file
// on local disk, its keys grouped by vbucket so a vbucket's keys are one
// range of the file. It knows nothing of peers or of who owns a vbucket;
// the dispatcher routes keys to their owner and moves vbuckets.
//
// # Moving a vbucket
//
// Every servant package that holds owner-routed state (kvdb, lock, lcache,
// the mysql query cache) offers the same calls, so a mover treats them
// alike; only the entry differs:
//
//	VBucket(key) int                       the key's vbucket: crc32.ChecksumIEEE(key) % VBuckets
//	Export(vb, after, Limit) (Batch, error) vb's entries with keys after the cursor, in byte order
//	Import(Batch) error                    stores a batch exported from another node
//	Drop(vb) (int, error)                  removes vb's entries, answers how many
//	VBucketStats(vb) VBucketStats          vb's entries and bytes, for progress
//
// An empty cursor starts at vb's first key; Batch.Cursor continues after the
// batch, and Batch.Done says nothing followed it. A batch holds at least one
// entry and otherwise at most Limit.Keys entries and Limit.Bytes bytes.
// Export reads without stopping writers and is not a snapshot: keys written
// meanwhile ahead of the cursor are seen, behind it are not.
//
// kvdb alone also tracks changes, since it alone is too large to copy while
// writes wait: StartTracking(vb) records every Set, Del and Import in vb
// from then on; TakeChanges hands over and forgets what was recorded so far,
// ExportChanges reads those keys' current values (or their absence) into a
// batch, and EndTracking stops. A move is: StartTracking, Export every batch
// to the new owner while serving, TakeChanges/ExportChanges until the tail
// is small, fence writes to vb (the dispatcher's job), EndTracking and
// ExportChanges of the rest, flip the map, then Drop on the old owner.
//
// # Layout
//
// One bucket "vb" holds every pair under its key prefixed with its vbucket
// (2 bytes, big-endian), and bucket "meta" records the vbucket count. A
// file from before vbuckets (bucket "kv", keys bare) is migrated once at
// Open; see migrate.go. A bucket per vbucket measured the same for Get and
// for a vbucket's scan (100,000 keys, 1024 vbuckets), but costs a bucket
// header per vbucket and pages per vbucket once it outgrows inlining; the
// prefix keeps the file's size independent of the vbucket count.
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

	// dataBucket holds every pair, keyed by vbucket prefix + key.
	dataBucket = "vb"
	// metaBucket holds the layout's parameters (metaVBuckets).
	metaBucket = "meta"
	// metaVBuckets is the vbucket count, 4 bytes big-endian.
	metaVBuckets = "vbuckets"
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
	// ErrVBucketCount is returned by Open for a file written with another
	// vbucket count.
	ErrVBucketCount = errors.New("kvdb: file has another vbucket count")
	// ErrVBucket is returned for a vbucket out of range, or an imported
	// key that is not in its batch's vbucket.
	ErrVBucket = errors.New("kvdb: wrong vbucket")
	// ErrTracking is returned by StartTracking of a vbucket already
	// tracked, and by Drop of a tracked vbucket (its move is not over).
	ErrTracking = errors.New("kvdb: vbucket is tracked")
)

// DB is an open store. It is safe for concurrent use. Writes are durable
// (fsync'd) when they return; concurrent writers share one fsync.
type DB struct {
	bolt     *bbolt.DB
	path     string
	vbuckets int
	maxKey   int
	maxValue int
	closed   atomic.Bool

	keys, sets, gets, dels atomic.Int64

	tracks tracker
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
	db := &DB{bolt: b, path: cfg.Path, vbuckets: cfg.vbuckets(),
		maxKey: cfg.MaxKeyBytes, maxValue: cfg.MaxValueBytes}
	if err := db.init(cfg); err != nil {
		b.Close()
		return nil, fmt.Errorf("kvdb: open %s: %w", cfg.Path, err)
	}
	return db, nil
}

// init brings the file to the vbucket layout and counts the keys stored.
func (db *DB) init(cfg Config) error {
	if err := db.migrate(cfg.log()); err != nil {
		return err
	}
	return db.bolt.Update(func(tx *bbolt.Tx) error {
		if err := db.checkLayout(tx); err != nil {
			return err
		}
		db.keys.Store(int64(tx.Bucket([]byte(dataBucket)).Stats().KeyN))
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
	vb := db.VBucket(key)
	stored := storedKey(vb, key)
	// Batch may run the function more than once; only the last run commits.
	var created bool
	err := db.bolt.Batch(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(dataBucket))
		_, found := lookup(b, stored)
		created = !found
		return b.Put(stored, value)
	})
	if err != nil {
		return db.wrap("set", err)
	}
	db.tracks.record(vb, key, false)
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
	stored := storedKey(db.VBucket(key), key)
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		var v []byte
		v, found = lookup(tx.Bucket([]byte(dataBucket)), stored)
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
	vb := db.VBucket(key)
	stored := storedKey(vb, key)
	err = db.bolt.Batch(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(dataBucket))
		if _, existed = lookup(b, stored); !existed {
			return nil
		}
		return b.Delete(stored)
	})
	if err != nil {
		return false, db.wrap("del", err)
	}
	db.tracks.record(vb, key, true)
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
