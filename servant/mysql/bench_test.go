package mysql

import (
	"context"
	"testing"
)

// benchClient returns a Client whose only pool points nowhere (New does not
// connect), with key cached: every read of key is a cache hit.
func benchClient(b *testing.B, key string) *Client {
	b.Helper()
	cfg := DefaultConfig()
	cfg.Pools = map[string]PoolConfig{"app": {Addr: "127.0.0.1:1", User: "u", Database: "d"}}
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
