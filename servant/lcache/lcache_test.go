package lcache

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func newCache(t testing.TB, cfg Config) *Cache {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// small returns a one-shard config, where LRU order is exact.
func small(items int, bytes int64) Config {
	return Config{MaxItems: items, MaxBytes: bytes, MaxKeyBytes: 250}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"defaults", func(*Config) {}, ""},
		{"zero items", func(c *Config) { c.MaxItems = 0 }, "max_items: must be at least 1, got 0: the cache would hold nothing"},
		{"zero key bytes", func(c *Config) { c.MaxKeyBytes = 0 }, "max_key_bytes: must be at least 1, got 0: no key would fit"},
		{"too few bytes", func(c *Config) { c.MaxBytes = 100 },
			"max_bytes: must be at least 1402 (max_key_bytes + 1152), got 100"},
		{"smallest bytes", func(c *Config) { c.MaxBytes = 1402 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.mutate(&cfg)
			err := cfg.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Fatalf("Validate() = %q, want %q", got, tt.wantErr)
			}
		})
	}
}

func TestShardCount(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want int
	}{
		{"defaults", DefaultConfig(), 32},
		{"one item", small(1, 64<<20), 1},
		{"100 items", small(100, 64<<20), 4},
		{"4 MiB", small(100_000, 4<<20), 4},
		{"tiny bytes", small(100_000, 2000), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := shardCount(tt.cfg); got != tt.want {
				t.Fatalf("shardCount = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestKeyValidation(t *testing.T) {
	c := newCache(t, DefaultConfig())
	tests := []struct {
		name string
		key  string
		want error
	}{
		{"empty", "", ErrEmptyKey},
		{"too long", strings.Repeat("k", 251), ErrKeyTooLong},
		{"longest", strings.Repeat("k", 250), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := c.Set(tt.key, []byte("v")); !errors.Is(err, tt.want) {
				t.Fatalf("Set error = %v, want %v", err, tt.want)
			}
			if _, err := c.Get(tt.key); tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Get error = %v, want %v", err, tt.want)
			}
			if err := c.Del(tt.key); !errors.Is(err, tt.want) {
				t.Fatalf("Del error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSetGetDel(t *testing.T) {
	tests := []struct {
		name  string
		ops   func(c *Cache)
		key   string
		want  string
		miss  bool
		items int64
	}{
		{"set then get", func(c *Cache) { c.Set("a", []byte("1")) }, "a", "1", false, 1},
		{"replace", func(c *Cache) { c.Set("a", []byte("1")); c.Set("a", []byte("22")) }, "a", "22", false, 1},
		{"empty value", func(c *Cache) { c.Set("a", nil) }, "a", "", false, 1},
		{"never set", func(c *Cache) {}, "a", "", true, 0},
		{"deleted", func(c *Cache) { c.Set("a", []byte("1")); c.Del("a") }, "a", "", true, 0},
		{"del missing", func(c *Cache) { c.Set("b", []byte("1")); c.Del("a") }, "a", "", true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCache(t, DefaultConfig())
			tt.ops(c)
			v, err := c.Get(tt.key)
			if tt.miss != errors.Is(err, ErrMiss) || (!tt.miss && err != nil) {
				t.Fatalf("Get error = %v, want miss=%v", err, tt.miss)
			}
			if string(v) != tt.want {
				t.Fatalf("Get = %q, want %q", v, tt.want)
			}
			if st := c.Stats(); st.Items != tt.items {
				t.Fatalf("Items = %d, want %d", st.Items, tt.items)
			}
		})
	}
}

func TestSetCopiesValue(t *testing.T) {
	c := newCache(t, DefaultConfig())
	buf := []byte("hello")
	if err := c.Set("k", buf); err != nil {
		t.Fatal(err)
	}
	buf[0] = 'J'
	if v, _ := c.Get("k"); string(v) != "hello" {
		t.Fatalf("Get = %q after the caller reused its buffer", v)
	}
}

func TestByteAccounting(t *testing.T) {
	tests := []struct {
		name   string
		values []string // set in order, values[i] under keys[i]
		keys   []string
		want   int64
	}{
		{"one", []string{"abc"}, []string{"k"}, 1 + 3 + EntryOverhead},
		{"grow in place", []string{"a", "abcdef"}, []string{"k", "k"}, 1 + 6 + EntryOverhead},
		{"shrink in place", []string{"abcdef", ""}, []string{"k", "k"}, 1 + EntryOverhead},
		{"two keys", []string{"ab", "cd"}, []string{"k1", "k2"}, 2 * (2 + 2 + EntryOverhead)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCache(t, DefaultConfig())
			for i, v := range tt.values {
				if err := c.Set(tt.keys[i], []byte(v)); err != nil {
					t.Fatal(err)
				}
			}
			if got := c.Stats().Bytes; got != tt.want {
				t.Fatalf("Bytes = %d, want %d", got, tt.want)
			}
			c.Range(func(k string, _ []byte) bool { c.Del(k); return true })
			if st := c.Stats(); st.Bytes != 0 || st.Items != 0 {
				t.Fatalf("after deleting everything: %+v", st)
			}
		})
	}
}

func TestEvictsLeastRecentlyUsedByCount(t *testing.T) {
	c := newCache(t, small(3, 1<<20))
	for _, k := range []string{"a", "b", "c"} {
		mustSet(t, c, k, "v")
	}
	if _, err := c.Get("a"); err != nil { // a is now the newest
		t.Fatal(err)
	}
	mustSet(t, c, "d", "v") // evicts b
	checkKeys(t, c, map[string]bool{"a": true, "b": false, "c": true, "d": true})
	if st := c.Stats(); st.Evictions != 1 || st.Items != 3 {
		t.Fatalf("Stats = %+v, want 1 eviction, 3 items", st)
	}
}

func TestEvictsByBytes(t *testing.T) {
	const value = 1000
	entry := int64(1 + value + EntryOverhead)
	c := newCache(t, small(100, 3*entry))
	for _, k := range []string{"a", "b", "c", "d"} {
		mustSet(t, c, k, strings.Repeat("x", value))
	}
	checkKeys(t, c, map[string]bool{"a": false, "b": true, "c": true, "d": true})
	// One value three entries big pushes out all three.
	mustSet(t, c, "e", strings.Repeat("x", int(3*entry)-1-EntryOverhead))
	checkKeys(t, c, map[string]bool{"b": false, "c": false, "d": false, "e": true})
	if st := c.Stats(); st.Bytes != 3*entry || st.Evictions != 4 {
		t.Fatalf("Stats = %+v, want %d bytes, 4 evictions", st, 3*entry)
	}
}

func TestTooLarge(t *testing.T) {
	c := newCache(t, DefaultConfig())
	limit := c.MaxEntryBytes()
	if limit != 2<<20 {
		t.Fatalf("MaxEntryBytes = %d, want 2 MiB with the defaults", limit)
	}
	fits := make([]byte, limit-1-EntryOverhead)
	if err := c.Set("k", fits); err != nil {
		t.Fatalf("Set of an entry exactly at the limit: %v", err)
	}
	err := c.Set("k", append(fits, 'x'))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Set error = %v, want ErrTooLarge", err)
	}
	if v, _ := c.Get("k"); len(v) != len(fits) {
		t.Fatalf("a refused Set changed the stored value")
	}
}

func TestStatsCounters(t *testing.T) {
	c := newCache(t, DefaultConfig())
	mustSet(t, c, "a", "1")
	c.Get("a")
	c.Get("a")
	c.Get("b")
	st := c.Stats()
	if st.Hits != 2 || st.Misses != 1 || st.Items != 1 {
		t.Fatalf("Stats = %+v, want 2 hits, 1 miss, 1 item", st)
	}
}

func TestRange(t *testing.T) {
	c := newCache(t, DefaultConfig())
	want := map[string]string{}
	for i := range 500 {
		k, v := fmt.Sprintf("key%d", i), fmt.Sprintf("value%d", i)
		mustSet(t, c, k, v)
		want[k] = v
	}
	got := map[string]string{}
	c.Range(func(k string, v []byte) bool { got[k] = string(v); return true })
	if len(got) != len(want) {
		t.Fatalf("Range saw %d entries, want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("Range %q = %q, want %q", k, got[k], v)
		}
	}
	calls := 0
	c.Range(func(string, []byte) bool { calls++; return calls < 10 })
	if calls != 10 {
		t.Fatalf("Range kept going after false: %d calls", calls)
	}
}

func TestGetDoesNotAllocate(t *testing.T) {
	c := newCache(t, DefaultConfig())
	mustSet(t, c, "hot", "value")
	tests := []struct {
		name string
		key  string
	}{
		{"hit", "hot"},
		{"miss", "cold"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(1000, func() { c.Get(tt.key) }); n != 0 {
				t.Fatalf("Get allocates %.1f times per call", n)
			}
		})
	}
}

func TestConcurrentUseKeepsLimits(t *testing.T) {
	cfg := Config{MaxItems: 2000, MaxBytes: 1 << 20, MaxKeyBytes: 250}
	c := newCache(t, cfg)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() { churn(c, g) })
	}
	wg.Wait()
	st := c.Stats()
	var items, bytes int64
	c.Range(func(k string, v []byte) bool { items++; bytes += entrySize(k, v); return true })
	if st.Items != items || st.Bytes != bytes {
		t.Fatalf("Stats say %d items %d bytes, Range counts %d and %d", st.Items, st.Bytes, items, bytes)
	}
	if st.Items > int64(cfg.MaxItems) || st.Bytes > cfg.MaxBytes || st.Evictions == 0 {
		t.Fatalf("limits broken or never reached: %+v", st)
	}
}

func churn(c *Cache, g int) {
	val := bytes.Repeat([]byte{byte(g)}, 100+g*50)
	for i := range 20_000 {
		k := fmt.Sprintf("k%d", (i*7+g)%5000)
		switch i % 4 {
		case 0, 1:
			c.Set(k, val)
		case 2:
			c.Get(k)
		default:
			c.Del(k)
		}
	}
}

func mustSet(t *testing.T, c *Cache, k, v string) {
	t.Helper()
	if err := c.Set(k, []byte(v)); err != nil {
		t.Fatal(err)
	}
}

func checkKeys(t *testing.T, c *Cache, present map[string]bool) {
	t.Helper()
	for k, want := range present {
		_, err := c.Get(k)
		if got := err == nil; got != want {
			t.Fatalf("key %q present=%v, want %v (err %v)", k, got, want, err)
		}
	}
}

func benchCache(b *testing.B, n int) (*Cache, []string) {
	c := newCache(b, DefaultConfig())
	keys := make([]string, n)
	val := make([]byte, 100)
	for i := range keys {
		keys[i] = fmt.Sprintf("user:%d:profile", i)
		c.Set(keys[i], val)
	}
	return c, keys
}

func BenchmarkGetHit(b *testing.B) {
	c, keys := benchCache(b, 1024)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := c.Get(keys[i&1023]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkGetMiss(b *testing.B) {
	c, _ := benchCache(b, 1024)
	b.ReportAllocs()
	for b.Loop() {
		c.Get("user:missing:profile")
	}
}

func BenchmarkGetParallel(b *testing.B) {
	c, keys := benchCache(b, 1024)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := c.Get(keys[i&1023]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

func BenchmarkSet(b *testing.B) {
	c, keys := benchCache(b, 1024)
	val := make([]byte, 100)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := c.Set(keys[i&1023], val); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
