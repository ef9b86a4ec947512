package kvdb

import (
	"bytes"

	"go.etcd.io/bbolt"
)

// pair is one key-value pair copied out of a read transaction.
type pair struct{ k, v []byte }

// Range calls fn for each key in [start, end) in byte order, until fn
// returns false. A nil start begins at the first key, a nil end runs to the
// last. Keys and values passed to fn are copies fn may keep.
//
// Range reads rangeChunk pairs per transaction and calls fn outside it, so
// a slow fn (sending a vbucket to a peer) never holds a read transaction
// open against writers, and fn may call the DB. Keys written meanwhile
// ahead of the cursor are seen; Range is not a snapshot.
func (db *DB) Range(start, end []byte, fn func(k, v []byte) bool) error {
	if db.closed.Load() {
		return ErrClosed
	}
	from, skipFrom := start, false
	for {
		chunk, err := db.readChunk(from, end, skipFrom)
		if err != nil {
			return db.wrap("range", err)
		}
		for _, p := range chunk {
			if !fn(p.k, p.v) {
				return nil
			}
		}
		if len(chunk) < rangeChunk {
			return nil
		}
		from, skipFrom = chunk[len(chunk)-1].k, true
	}
}

// readChunk copies up to rangeChunk pairs from [from, end), leaving out
// from itself when skipFrom is set (it ended the previous chunk).
func (db *DB) readChunk(from, end []byte, skipFrom bool) ([]pair, error) {
	var chunk []pair
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(db.bucket).Cursor()
		k, v := seek(c, from)
		if skipFrom && bytes.Equal(k, from) {
			k, v = c.Next()
		}
		for ; k != nil && len(chunk) < rangeChunk; k, v = c.Next() {
			if end != nil && bytes.Compare(k, end) >= 0 {
				break
			}
			chunk = append(chunk, pair{bytes.Clone(k), append(make([]byte, 0, len(v)), v...)})
		}
		return nil
	})
	return chunk, err
}

func seek(c *bbolt.Cursor, from []byte) ([]byte, []byte) {
	if from == nil {
		return c.First()
	}
	return c.Seek(from)
}
