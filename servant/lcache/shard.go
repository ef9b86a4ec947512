package lcache

import (
	"sync"
	"sync/atomic"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// cacheLine pads shards apart so one shard's lock and counters never share
// a CPU cache line with its neighbour's.
const cacheLine = 64

// shard is one independently locked LRU holding a share of the limits.
type shard struct {
	// mu guards lru and bytes. Get takes it too: a hit reorders the LRU list.
	mu    sync.Mutex
	lru   *simplelru.LRU[string, []byte]
	bytes int64

	maxBytes  int64
	hits      atomic.Int64
	misses    atomic.Int64
	evictions atomic.Int64
	_         [cacheLine]byte
}

func (s *shard) init(maxItems int, maxBytes int64) error {
	// The callback runs for every removal (eviction, Del, RemoveOldest),
	// always under mu, and keeps bytes exact.
	lru, err := simplelru.NewLRU(maxItems, func(k string, v []byte) {
		s.bytes -= entrySize(k, v)
	})
	s.lru, s.maxBytes = lru, maxBytes
	return err
}

func (s *shard) get(key string) ([]byte, error) {
	s.mu.Lock()
	v, ok := s.lru.Get(key)
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
func (s *shard) set(key string, value []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.lru.Peek(key); ok {
		// Add replaces in place without calling the eviction callback.
		s.bytes -= entrySize(key, old)
	}
	s.bytes += entrySize(key, value)
	var evicted int64
	if s.lru.Add(key, value) {
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
	return s.lru.Keys(), s.lru.Values()
}
