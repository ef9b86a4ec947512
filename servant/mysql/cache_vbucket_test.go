package mysql

import (
	"errors"
	"fmt"
	"hash/crc32"
	"testing"
	"time"
)

func TestCacheVBucketIndex(t *testing.T) {
	src := newQueryCache(CacheConfig{MaxItems: 50, MaxBytes: 1 << 20, VBuckets: 4, TTL: defaultCacheTTL})
	dst := newQueryCache(CacheConfig{MaxItems: 50, MaxBytes: 1 << 20, VBuckets: 4, TTL: defaultCacheTTL})
	in := 0
	for i := range 100 { // past MaxItems: evictions leave the index too
		k := fmt.Sprintf("user:%d", i)
		if src.vbucket(k) != int(crc32.ChecksumIEEE([]byte(k))%4) {
			t.Fatalf("vbucket(%q) is not crc32 %% 4", k)
		}
		fill(src, k, oneRow(k))
	}
	src.evict("user:99")
	for k := range src.items {
		if src.vbucket(k) == 1 {
			in++
		}
	}
	got, err := src.exportVBucket(1)
	if err != nil || len(got) != in {
		t.Fatalf("exportVBucket = %d entries, %v; want %d", len(got), err, in)
	}
	if err := dst.importVBucket(1, got); err != nil {
		t.Fatal(err)
	}
	if err := dst.importVBucket(2, got); !errors.Is(err, ErrVBucket) {
		t.Fatalf("import into the wrong vbucket: %v", err)
	}
	for _, r := range got {
		if res, ok := dst.get(r.Key); !ok || res.Rows[0][0] != r.Key || r.TTL <= 0 || r.TTL > time.Minute {
			t.Errorf("dst %s = %v, %v (ttl %v)", r.Key, res, ok, r.TTL)
		}
	}
	token := src.reserve(got[0].Key)
	if n, err := src.dropVBucket(1); n != in || err != nil {
		t.Fatalf("dropVBucket = %d, %v; want %d", n, err, in)
	}
	src.settle(got[0].Key, token, oneRow("late"), nil) // a fill under way when dropped
	if _, ok := src.get(got[0].Key); ok {
		t.Fatal("a fill under way at the drop was stored")
	}
}
