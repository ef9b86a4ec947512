package mysql

import (
	"context"
	"strconv"
	"testing"
)

// benchClient returns a Client whose only pool points nowhere (New does not
// connect), with key cached: every read of key is a cache hit.
func benchClient(b *testing.B, key string) *Client {
	b.Helper()
	cfg := DefaultConfig()
	cfg.Pools = map[string]PoolConfig{"app": rootPool("127.0.0.1:1", "d")}
	c, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	r := &Result{Cols: []string{"id", "name", "prefs"}, Rows: [][]string{{"1", "alice", `{"a":1}`}, {"2", "bob", Null}}}
	c.cache.settle(key, c.cache.reserve(key), r, nil)
	return c
}

func BenchmarkCachedRead(b *testing.B) {
	c := benchClient(b, "user:1")
	ctx, args := context.Background(), []string{"1"} // as the Thrift decoder hands them over
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Query(ctx, "app", "user", 1, "SELECT id, name, prefs FROM user WHERE id = ?", args, "user:1"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCachedReadParallel(b *testing.B) {
	c := benchClient(b, "user:1")
	ctx, args := context.Background(), []string{"1"} // as the Thrift decoder hands them over
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Query(ctx, "app", "user", 1, "SELECT id, name, prefs FROM user WHERE id = ?", args, "user:1"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkCacheFill measures storing a result in the query cache over a
// working set larger than the cache, so every fill also evicts one entry:
// the cost the cache's upkeep (and its index by vbucket) adds to a miss.
func BenchmarkCacheFill(b *testing.B) {
	c := newQueryCache(CacheConfig{MaxItems: 1000, MaxBytes: 64 << 20, TTL: defaultCacheTTL})
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(i)
	}
	r := &Result{Cols: []string{"id"}, Rows: [][]string{{"1"}}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := keys[i&4095]
		c.settle(k, c.reserve(k), r, nil)
		i++
	}
}
