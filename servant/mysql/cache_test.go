package mysql

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func oneRow(v string) *Result {
	return &Result{Cols: []string{"v"}, Rows: [][]string{{v}}}
}

// fill stores r under key the way a read does.
func fill(c *queryCache, key string, r *Result) {
	c.settle(key, c.reserve(key), r, nil)
}

func TestCacheFillGetEvict(t *testing.T) {
	c := newQueryCache(CacheConfig{MaxItems: 10, MaxBytes: 1 << 20, TTL: defaultCacheTTL})
	if _, ok := c.get("k"); ok {
		t.Fatal("get on an empty cache hit")
	}
	want := &Result{Cols: []string{"a", "b"}, Rows: [][]string{{"1", Null}, {"", "\x00\xff"}}}
	fill(c, "k", want)
	got, ok := c.get("k")
	if !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("get = %v, %v; want %v", got, ok, want)
	}
	c.evict("k")
	if _, ok := c.get("k"); ok {
		t.Fatal("get after evict hit")
	}
	if s := c.stats(); s.Hits != 1 || s.Misses != 2 || s.Fills != 1 || s.Evictions != 1 || s.Items != 0 || s.Bytes != 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestCacheFillRacingWriteIsDropped(t *testing.T) {
	c := newQueryCache(CacheConfig{MaxItems: 10, MaxBytes: 1 << 20, TTL: defaultCacheTTL})
	token := c.reserve("k")
	c.evict("k") // a write committed while the read was in flight
	c.settle("k", token, oneRow("old"), nil)
	if r, ok := c.get("k"); ok {
		t.Fatalf("a fill that raced with a write was stored: %v", r)
	}
	if c.stats().Drops != 1 {
		t.Errorf("drops = %d, want 1", c.stats().Drops)
	}
}

func TestCacheLaterReservationWins(t *testing.T) {
	c := newQueryCache(CacheConfig{MaxItems: 10, MaxBytes: 1 << 20, TTL: defaultCacheTTL})
	first := c.reserve("k")
	second := c.reserve("k")
	c.settle("k", first, oneRow("first"), nil)
	c.settle("k", second, oneRow("second"), nil)
	if r, ok := c.get("k"); !ok || r.Rows[0][0] != "second" {
		t.Fatalf("get = %v, %v; want the second fill", r, ok)
	}
}

func TestCacheFailedReadStoresNothing(t *testing.T) {
	c := newQueryCache(CacheConfig{MaxItems: 10, MaxBytes: 1 << 20, TTL: defaultCacheTTL})
	c.settle("k", c.reserve("k"), nil, fmt.Errorf("boom"))
	if _, ok := c.get("k"); ok {
		t.Fatal("a failed read filled the cache")
	}
	if len(c.pending) != 0 {
		t.Errorf("pending = %v, want empty", c.pending)
	}
}

func TestCacheBoundByItems(t *testing.T) {
	c := newQueryCache(CacheConfig{MaxItems: 3, MaxBytes: 1 << 20, TTL: defaultCacheTTL})
	for i := range 4 {
		fill(c, fmt.Sprint(i), oneRow("v"))
		if i == 2 {
			c.get("0") // 0 is now the most recently used; 1 goes first
		}
	}
	for key, want := range map[string]bool{"0": true, "1": false, "2": true, "3": true} {
		if _, ok := c.get(key); ok != want {
			t.Errorf("get(%s) hit = %v, want %v", key, ok, want)
		}
	}
}

func TestCacheBoundByBytes(t *testing.T) {
	c := newQueryCache(CacheConfig{MaxItems: 1000, MaxBytes: 8 << 10, TTL: defaultCacheTTL})
	for i := range 100 {
		fill(c, fmt.Sprint(i), oneRow(strings.Repeat("x", 500)))
		if s := c.stats(); s.Bytes > 8<<10 {
			t.Fatalf("after %d fills bytes = %d, above max_bytes", i+1, s.Bytes)
		}
	}
	if s := c.stats(); s.Items == 0 || s.Items >= 100 {
		t.Errorf("items = %d, want some but not all", s.Items)
	}
	fill(c, "huge", oneRow(strings.Repeat("x", 2<<10))) // above max_bytes/8
	if _, ok := c.get("huge"); ok {
		t.Error("a result above max_bytes/8 was cached")
	}
}

func TestCacheTTL(t *testing.T) {
	c := newQueryCache(CacheConfig{MaxItems: 10, MaxBytes: 1 << 20, TTL: time.Millisecond})
	fill(c, "k", oneRow("v"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := c.get("k"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("entry outlived its ttl by 5s")
		}
		time.Sleep(time.Millisecond)
	}
	if c.stats().Items != 0 {
		t.Errorf("expired entry still counted")
	}
}

func TestCacheOff(t *testing.T) {
	c := newQueryCache(CacheConfig{})
	fill(c, "k", oneRow("v"))
	c.evict("k")
	if _, ok := c.get("k"); ok {
		t.Fatal("a disabled cache hit")
	}
}

// TestCacheOwnership: in a cluster only the owner holds a key. A key another
// node owns is neither served nor filled, and dropUnowned removes entries
// and cancels fills of keys that moved away, keeping the others.
func TestCacheOwnership(t *testing.T) {
	mine := map[string]bool{"stay": true, "go": true, "pending": true}
	c := newQueryCache(CacheConfig{MaxItems: 10, MaxBytes: 1 << 20, TTL: defaultCacheTTL})
	c.owns = func(k string) bool { return mine[k] }
	fill(c, "stay", oneRow("s"))
	fill(c, "go", oneRow("g"))
	fill(c, "theirs", oneRow("t"))
	if _, ok := c.get("theirs"); ok {
		t.Error("a key another node owns was filled and served")
	}
	token := c.reserve("pending")

	mine["go"], mine["pending"] = false, false // the ring changed
	if _, ok := c.get("go"); ok {
		t.Error("an entry whose key moved away was served before the drop")
	}
	if n := c.dropUnowned(); n != 1 {
		t.Errorf("dropUnowned removed %d entries, want 1", n)
	}
	c.settle("pending", token, oneRow("p"), nil)
	mine["go"], mine["pending"] = true, true // and changed back
	for _, tc := range []struct {
		name string
		key  string
		hit  bool
	}{
		{"stayed", "stay", true},
		{"moved away and back", "go", false},
		{"filled across the change", "pending", false},
	} {
		if _, ok := c.get(tc.key); ok != tc.hit {
			t.Errorf("%s: get(%q) hit = %v, want %v", tc.name, tc.key, ok, tc.hit)
		}
	}
	if s := c.stats(); s.Moved != 1 || s.Items != 1 {
		t.Errorf("stats %+v: want 1 moved, 1 item left", s)
	}
}

func TestCacheTTLDefault(t *testing.T) {
	var ps problems
	CacheConfig{MaxItems: 1, MaxBytes: 1 << 20}.validate(&ps, "query_cache.")
	if len(ps) != 1 || !strings.Contains(ps[0].Error(), "query_cache.ttl") {
		t.Errorf("query_cache.ttl = 0 with max_items > 0: %v, want it refused (entries always expire)", ps)
	}
	if got := DefaultConfig().QueryCache.TTL; got != defaultCacheTTL {
		t.Errorf("DefaultConfig().QueryCache.TTL = %v, want %v", got, defaultCacheTTL)
	}
	if got := DefaultConfig().Lookup.CacheTTL; got > time.Second {
		t.Errorf("DefaultConfig().Lookup.CacheTTL = %v; lookup changes must show within 1s", got)
	}
}

// BenchmarkCacheDropUnowned measures the drop after a ring change over a
// full default-sized cache (10,000 entries), a quarter of whose keys moved.
// The ring's own lookup (tens of ns a key) comes on top.
func BenchmarkCacheDropUnowned(b *testing.B) {
	b.ReportAllocs()
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("user:%d:profile", i)
	}
	c := newQueryCache(CacheConfig{MaxItems: len(keys), MaxBytes: 64 << 20, TTL: defaultCacheTTL})
	for b.Loop() {
		b.StopTimer()
		c.owns = nil
		for _, k := range keys {
			fill(c, k, oneRow("v"))
		}
		c.owns = func(k string) bool { return fnv32(k)%4 != 0 } // a quarter moved
		b.StartTimer()
		c.dropUnowned()
	}
}

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}
