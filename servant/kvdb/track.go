package kvdb

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"go.etcd.io/bbolt"
)

// Change is one key of a tracked vbucket written since tracking started
// (or since the last TakeChanges): whether its last change was a delete.
type Change struct {
	Key     []byte
	Deleted bool
}

// tracker records the changed keys of the vbuckets under move.
type tracker struct {
	// active counts tracked vbuckets, so a write to a DB with none skips mu.
	active atomic.Int32

	// mu guards changes.
	mu      sync.Mutex
	changes map[int]map[string]bool // vbucket → key → deleted
}

// record notes a change of key in vb if vb is tracked. A write records
// after its commit and before it returns: a write the mover's Export did
// not see is recorded by the time the fence has waited for it.
func (t *tracker) record(vb int, key []byte, deleted bool) {
	if t.active.Load() == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if m, ok := t.changes[vb]; ok {
		m[string(key)] = deleted
	}
}

func (t *tracker) tracked(vb int) bool {
	if t.active.Load() == 0 {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.changes[vb]
	return ok
}

// StartTracking begins recording every change to vb; call it before the
// first Export of a move. A vbucket already tracked answers ErrTracking.
func (db *DB) StartTracking(vb int) error {
	if err := db.checkVBucket(vb); err != nil {
		return err
	}
	t := &db.tracks
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.changes[vb]; ok {
		return fmt.Errorf("%w: vbucket %d", ErrTracking, vb)
	}
	if t.changes == nil {
		t.changes = map[int]map[string]bool{}
	}
	t.changes[vb] = map[string]bool{}
	t.active.Add(1)
	return nil
}

// TakeChanges returns the changes recorded in vb since tracking started or
// since the last TakeChanges, sorted by key, and forgets them; tracking
// goes on. An untracked vbucket has none.
func (db *DB) TakeChanges(vb int) []Change {
	t := &db.tracks
	t.mu.Lock()
	defer t.mu.Unlock()
	m, ok := t.changes[vb]
	if !ok {
		return nil
	}
	t.changes[vb] = map[string]bool{}
	return sortedChanges(m)
}

// EndTracking stops tracking vb and returns the changes not yet taken,
// sorted by key. Call it once vb's writes are fenced (or its move given
// up); ending an untracked vbucket returns nothing.
func (db *DB) EndTracking(vb int) []Change {
	t := &db.tracks
	t.mu.Lock()
	defer t.mu.Unlock()
	m, ok := t.changes[vb]
	if !ok {
		return nil
	}
	delete(t.changes, vb)
	t.active.Add(-1)
	return sortedChanges(m)
}

func sortedChanges(m map[string]bool) []Change {
	cs := make([]Change, 0, len(m))
	for k, del := range m {
		cs = append(cs, Change{Key: []byte(k), Deleted: del})
	}
	slices.SortFunc(cs, func(a, b Change) int { return bytes.Compare(a.Key, b.Key) })
	return cs
}

// ExportChanges reads, in one read transaction, the current state of each
// changed key of vb: its value, or a Deleted entry if it is gone (whatever
// the Change says: the file is the truth). The batch is Done and not
// bounded by a Limit; split changes to bound it.
func (db *DB) ExportChanges(vb int, changes []Change) (Batch, error) {
	if err := db.checkVBucket(vb); err != nil {
		return Batch{}, err
	}
	b := Batch{VBucket: vb, Done: true}
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		bk := tx.Bucket([]byte(dataBucket))
		for _, c := range changes {
			stored := storedKey(vb, c.Key)
			if v, found := lookup(bk, stored); found {
				b.add(stored, v)
			} else {
				b.Entries = append(b.Entries, Entry{Key: bytes.Clone(c.Key), Deleted: true})
				b.Bytes += int64(len(c.Key))
			}
		}
		return nil
	})
	if err != nil {
		return Batch{}, db.wrap("export changes", err)
	}
	return b, nil
}
