// Package lock is the key owner's local table of faed's cluster-wide
// try-locks: leases that end at Unlock or after a fixed expiry. It knows
// nothing of peers; the dispatcher routes each key to its owner's Table.
package lock

import (
	"cmp"
	"errors"
	"fmt"
	"sync"
	"time"
)

// sweepBatch bounds the expired entries one call removes, so a mass expiry
// costs many calls a little each instead of one call a long pause.
const sweepBatch = 8

var (
	// ErrFull is returned by TryLock of a new key while MaxLocks are held.
	ErrFull = errors.New("lock: table full")
	// ErrEmptyKey is returned for a zero-length key.
	ErrEmptyKey = errors.New("lock: empty key")
	// ErrKeyTooLong is returned for a key longer than Config.MaxKeyBytes.
	ErrKeyTooLong = errors.New("lock: key too long")
)

// Table holds the locks of the keys this node owns. It is safe for
// concurrent use and starts no goroutines: expired entries are removed a
// few at a time by later calls. Locks are never evicted to make room.
//
// When a key's owner changes, its lock moves with its vbucket: the old
// owner reads its entries with Range and the new owner installs them while
// writes are fenced (SPEC §5.3). With replicas, the owner's dispatcher
// installs each lock taken on the vbucket's replicas too (ImportVBucket)
// before granting it, so a replica promoted when the owner dies holds it
// (SPEC §5.4); without, a lock does not survive the node holding it.
type Table struct {
	expiry   time.Duration
	maxLocks int
	maxKey   int
	now      func() time.Time // time.Now outside tests; must be monotonic

	vbuckets int

	// mu guards locks, list, byVB and stats.
	mu    sync.Mutex
	locks map[string]*entry
	list  expiryList
	byVB  vbList
	stats Stats
}

// Expiry is the lease TryLock grants.
func (t *Table) Expiry() time.Duration { return t.expiry }

// Stats counts a Table's activity since New.
type Stats struct {
	Held     int64 `json:"held"`     // entries in the table, including expired ones not yet swept
	Acquired int64 `json:"acquired"` // TryLock calls answered true
	Refused  int64 `json:"refused"`  // TryLock calls answered false: held by someone else
	Expired  int64 `json:"expired"`  // locks whose holder let them expire
	Full     int64 `json:"full"`     // TryLock calls answered ErrFull
}

// New returns an empty Table for cfg, which must be valid.
func New(cfg Config) (*Table, error) {
	return newWithClock(cfg, time.Now)
}

// newWithClock lets tests drive the clock.
func newWithClock(cfg Config, now func() time.Time) (*Table, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	n := cmp.Or(cfg.VBuckets, DefaultVBuckets)
	return &Table{
		expiry:   cfg.Expiry,
		maxLocks: cfg.MaxLocks,
		maxKey:   cfg.MaxKeyBytes,
		vbuckets: n,
		now:      now,
		locks:    make(map[string]*entry),
		byVB:     vbList{heads: make([]*entry, n)},
	}, nil
}

// TryLock takes key for Expiry and answers true if it was free or its
// holder's lease had expired, false if it is held. It never blocks on the
// lock itself. A new key while MaxLocks are held answers ErrFull.
func (t *Table) TryLock(key string) (bool, error) {
	if err := t.checkKey(key); err != nil {
		return false, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now() // read under mu so pushes stay in expiry order
	t.sweepLocked(now)
	if e, ok := t.locks[key]; ok {
		return t.retakeLocked(e, now), nil
	}
	// The sweep removed an expired entry if there was one: the list is
	// ordered, so when the front is live every entry is.
	if len(t.locks) >= t.maxLocks {
		t.stats.Full++
		return false, fmt.Errorf("%w: %d locks held", ErrFull, t.maxLocks)
	}
	e := &entry{key: key, expires: now.Add(t.expiry), vb: vbucketOf(key, t.vbuckets)}
	t.locks[key] = e
	t.list.pushBack(e)
	t.byVB.add(e)
	t.stats.Acquired++
	return true, nil
}

// retakeLocked answers TryLock for a key already in the table.
func (t *Table) retakeLocked(e *entry, now time.Time) bool {
	if now.Before(e.expires) {
		t.stats.Refused++
		return false
	}
	t.stats.Expired++
	t.stats.Acquired++
	t.list.remove(e)
	e.expires = now.Add(t.expiry)
	t.list.pushBack(e)
	return true
}

// Unlock releases key. Any caller may release any key (the protocol carries
// no holder identity), and releasing a free key is not an error.
func (t *Table) Unlock(key string) error {
	if err := t.checkKey(key); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if e, ok := t.locks[key]; ok {
		t.removeLocked(e, now)
	}
	t.sweepLocked(now)
	return nil
}

// Stats returns a snapshot of the counters.
func (t *Table) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.stats
	st.Held = int64(len(t.locks))
	return st
}

// Range calls fn for every live lock, soonest expiry first, until fn
// returns false. It works on a copy taken under the lock, so fn may call the
// Table; changes made meanwhile are not seen.
func (t *Table) Range(fn func(key string, expires time.Time) bool) {
	for _, e := range t.snapshot() {
		if !fn(e.key, e.expires) {
			return
		}
	}
}

func (t *Table) snapshot() []entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	live := make([]entry, 0, len(t.locks))
	for e := t.list.head; e != nil; e = e.next {
		if now.Before(e.expires) {
			live = append(live, entry{key: e.key, expires: e.expires})
		}
	}
	return live
}

// sweepLocked removes up to sweepBatch expired entries from the front.
func (t *Table) sweepLocked(now time.Time) {
	for i := 0; i < sweepBatch; i++ {
		e := t.list.head
		if e == nil || now.Before(e.expires) {
			return
		}
		t.removeLocked(e, now)
	}
}

func (t *Table) removeLocked(e *entry, now time.Time) {
	if !now.Before(e.expires) {
		t.stats.Expired++
	}
	delete(t.locks, e.key)
	t.list.remove(e)
	t.byVB.remove(e)
}

func (t *Table) checkKey(key string) error {
	if key == "" {
		return ErrEmptyKey
	}
	if len(key) > t.maxKey {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrKeyTooLong, len(key), t.maxKey)
	}
	return nil
}
