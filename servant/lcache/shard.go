package lcache

import (
	"sync"
	"sync/atomic"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// cacheLine pads shards apart so one shard's lock and counters never share
// a CPU cache line with its neighbour's.
const cacheLine = 64

// item is one entry, linked into its vbucket's list as well as the LRU.
type item struct {
	key            string
	value          []byte
	vb             int
	vbPrev, vbNext *item
}

// shard is one independently locked LRU holding a share of the limits.
type shard struct {
	// mu guards lru, bytes and heads. Get takes it too: a hit reorders the
	// LRU list.
	mu    sync.Mutex
	lru   *simplelru.LRU[string, *item]
	bytes int64
	heads []*item // by vbucket: the first of this shard's entries of it

	maxBytes  int64
	hits      atomic.Int64
	misses    atomic.Int64
	evictions atomic.Int64
	_         [cacheLine]byte
}

func (s *shard) init(maxItems int, maxBytes int64, vbuckets int) error {
	// The callback runs for every removal (eviction, Del, RemoveOldest),
	// always under mu, and keeps bytes and the vbucket lists exact.
	lru, err := simplelru.NewLRU(maxItems, func(k string, it *item) {
		s.bytes -= entrySize(k, it.value)
		s.unlinkLocked(it)
	})
	s.lru, s.maxBytes, s.heads = lru, maxBytes, make([]*item, vbuckets)
	return err
}

func (s *shard) linkLocked(it *item) {
	it.vbPrev, it.vbNext = nil, s.heads[it.vb]
	if it.vbNext != nil {
		it.vbNext.vbPrev = it
	}
	s.heads[it.vb] = it
}

func (s *shard) unlinkLocked(it *item) {
	if it.vbPrev != nil {
		it.vbPrev.vbNext = it.vbNext
	} else {
		s.heads[it.vb] = it.vbNext
	}
	if it.vbNext != nil {
		it.vbNext.vbPrev = it.vbPrev
	}
	it.vbPrev, it.vbNext = nil, nil
}

func (s *shard) get(key string) ([]byte, error) {
	s.mu.Lock()
	it, ok := s.lru.Get(key)
	var v []byte
	if ok {
		v = it.value // read under mu: a set of the key swaps it
	}
	s.mu.Unlock()
	if !ok {
		s.misses.Add(1)
		return nil, ErrMiss
	}
	s.hits.Add(1)
	return v, nil
}

// set stores value; the caller has checked it fits in maxBytes, so the
// eviction loop stops before reaching the new entry at the front.
func (s *shard) set(key string, vb int, value []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.lru.Peek(key)
	if ok {
		// Add replaces in place without calling the eviction callback; the
		// item stays in its vbucket's list with its new value.
		s.bytes -= entrySize(key, it.value)
		it.value = value
	} else {
		it = &item{key: key, value: value, vb: vb}
		s.linkLocked(it)
	}
	s.bytes += entrySize(key, value)
	var evicted int64
	if s.lru.Add(key, it) {
		evicted++
	}
	for s.bytes > s.maxBytes {
		s.lru.RemoveOldest()
		evicted++
	}
	if evicted > 0 {
		s.evictions.Add(evicted)
	}
}

func (s *shard) del(key string) {
	s.mu.Lock()
	s.lru.Remove(key)
	s.mu.Unlock()
}

func (s *shard) addStats(st *Stats) {
	s.mu.Lock()
	st.Items += int64(s.lru.Len())
	st.Bytes += s.bytes
	s.mu.Unlock()
	st.Hits += s.hits.Load()
	st.Misses += s.misses.Load()
	st.Evictions += s.evictions.Load()
}

// snapshot returns the shard's keys and values, oldest first.
func (s *shard) snapshot() ([]string, [][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	items := s.lru.Values()
	values := make([][]byte, len(items))
	for i, it := range items {
		values[i] = it.value
	}
	return s.lru.Keys(), values
}

// appendVBucket appends this shard's entries of vb to out.
func (s *shard) appendVBucket(out []Entry, vb int) []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	for it := s.heads[vb]; it != nil; it = it.vbNext {
		out = append(out, Entry{Key: it.key, Value: it.value})
	}
	return out
}

// drop removes every entry of vb and returns how many.
func (s *shard) drop(vb int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for it := s.heads[vb]; it != nil; it = s.heads[vb] {
		s.lru.Remove(it.key) // the callback unlinks it
		n++
	}
	return n
}
