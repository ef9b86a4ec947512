package engine

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
)

// Bounds of the per-reason counts: a reason is a label callers choose, so
// its digits are folded (ids in it would make every call a new one) and the
// number of distinct ones is capped.
const (
	maxReasons     = 1000
	maxReasonBytes = 96 // longer reasons are counted by their start
	otherReasons   = "(other)"
)

// reasonCounts counts calls by folded reason. The common case, a reason
// seen before, takes a read lock and an atomic add and allocates nothing.
type reasonCounts struct {
	mu sync.RWMutex // guards m; the counters themselves are atomic
	m  map[string]*atomic.Int64
}

// ReasonCount is one reason's calls in /stats.
type ReasonCount struct {
	Reason string `json:"reason"`
	Calls  int64  `json:"calls"`
}

// reasonCache is a session's last reason and its counter: the calls of one
// connection mostly share their reason, so most counts skip the folding
// and the lookup.
type reasonCache struct {
	reason string
	c      *atomic.Int64
}

// countCached counts reason through the session's cache.
func (r *reasonCounts) countCached(cache *reasonCache, reason string) {
	if cache.c == nil || cache.reason != reason {
		cache.reason, cache.c = reason, r.counter(reason)
	}
	cache.c.Add(1)
}

func (r *reasonCounts) count(reason string) { r.counter(reason).Add(1) }

// counter returns reason's counter, folded.
func (r *reasonCounts) counter(reason string) *atomic.Int64 {
	var buf [maxReasonBytes]byte
	folded := foldDigits(buf[:0], reason)
	r.mu.RLock()
	c := r.m[string(folded)] // no allocation: the compiler looks the bytes up
	r.mu.RUnlock()
	if c == nil {
		c = r.add(string(folded))
	}
	return c
}

// add returns the counter of a reason not seen yet, or of otherReasons when
// maxReasons are counted already.
func (r *reasonCounts) add(reason string) *atomic.Int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[string]*atomic.Int64)
	}
	if c := r.m[reason]; c != nil {
		return c
	}
	if len(r.m) >= maxReasons {
		reason = otherReasons
		if c := r.m[reason]; c != nil {
			return c
		}
	}
	c := new(atomic.Int64)
	r.m[reason] = c
	return c
}

// foldDigits appends reason to dst with every run of ASCII digits as one
// '?', cut at dst's capacity.
func foldDigits(dst []byte, reason string) []byte {
	digits := false
	for i := 0; i < len(reason) && len(dst) < cap(dst); i++ {
		b := reason[i]
		isDigit := b >= '0' && b <= '9'
		switch {
		case !isDigit:
			dst = append(dst, b)
		case !digits:
			dst = append(dst, '?')
		}
		digits = isDigit
	}
	return dst
}

func (r *reasonCounts) snapshot() []ReasonCount {
	r.mu.RLock()
	out := make([]ReasonCount, 0, len(r.m))
	for reason, c := range r.m {
		out = append(out, ReasonCount{Reason: reason, Calls: c.Load()})
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b ReasonCount) int {
		return cmp.Or(cmp.Compare(b.Calls, a.Calls), cmp.Compare(a.Reason, b.Reason))
	})
	return out
}
