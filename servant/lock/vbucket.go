package lock

import (
	"errors"
	"fmt"
	"hash/crc32"
	"time"
)

// A held lock moves with its vbucket (SPEC §5.3): the old owner exports
// it with what is left of its lease, the new owner imports it with that
// lease, and the old owner drops its copy after the map flips.

// ErrVBucket is returned for a vbucket out of range, or an imported key
// that is not in the vbucket named.
var ErrVBucket = errors.New("lock: wrong vbucket")

// Held is one held lock of a vbucket, as it moves.
type Held struct {
	Key string
	TTL time.Duration // what is left of the lease, > 0
}

// VBucket returns key's vbucket: crc32 (IEEE) of key modulo VBuckets.
func (t *Table) VBucket(key string) int { return vbucketOf(key, t.vbuckets) }

// ExportVBucket returns the live locks of vb with their remaining leases.
// It reads vb's own list, not the table.
func (t *Table) ExportVBucket(vb int) ([]Held, error) {
	if err := t.checkVBucket(vb); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var out []Held
	for e := t.byVB.heads[vb]; e != nil; e = e.vbNext {
		if ttl := e.expires.Sub(now); ttl > 0 {
			out = append(out, Held{Key: e.key, TTL: ttl})
		}
	}
	return out, nil
}

// ImportVBucket installs locks of vb, each held for its TTL from now,
// replacing any entry of the same key: all of them, or none if one is
// invalid. MaxLocks does not refuse them: a held lock is never lost to make
// room.
func (t *Table) ImportVBucket(vb int, locks []Held) error {
	if err := t.checkImport(vb, locks); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for _, h := range locks {
		if old, ok := t.locks[h.Key]; ok {
			t.removeLocked(old, now)
		}
		e := &entry{key: h.Key, expires: now.Add(h.TTL), vb: vb}
		t.locks[h.Key] = e
		t.list.insert(e) // a lease shorter than Expiry may go before the tail
		t.byVB.add(e)
	}
	return nil
}

func (t *Table) checkImport(vb int, locks []Held) error {
	if err := t.checkVBucket(vb); err != nil {
		return err
	}
	for _, h := range locks {
		if err := t.checkKey(h.Key); err != nil {
			return err
		}
		if got := t.VBucket(h.Key); got != vb {
			return fmt.Errorf("%w: key %q is in vbucket %d, not %d", ErrVBucket, h.Key, got, vb)
		}
		if h.TTL <= 0 {
			return fmt.Errorf("lock: key %q imported with a lease of %v", h.Key, h.TTL)
		}
	}
	return nil
}

// DropVBucket removes every lock of vb and returns how many were live.
func (t *Table) DropVBucket(vb int) (int, error) {
	if err := t.checkVBucket(vb); err != nil {
		return 0, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	n := 0
	for e := t.byVB.heads[vb]; e != nil; e = t.byVB.heads[vb] {
		if now.Before(e.expires) {
			n++
		}
		t.removeLocked(e, now)
	}
	return n, nil
}

func (t *Table) checkVBucket(vb int) error {
	if vb < 0 || vb >= t.vbuckets {
		return fmt.Errorf("%w: %d, want 0–%d", ErrVBucket, vb, t.vbuckets-1)
	}
	return nil
}

// vbucketOf is crc32.ChecksumIEEE(key) % n, computed on the string so it
// does not allocate (the vbucket map's own function, peer/vbucket, is the
// same; a test checks they agree).
func vbucketOf(key string, n int) int {
	crc := ^uint32(0)
	for i := 0; i < len(key); i++ {
		crc = crc32.IEEETable[byte(crc)^key[i]] ^ crc>>8
	}
	return int(^crc % uint32(n))
}
