package lcache

import (
	"errors"
	"fmt"
	"hash/crc32"
	"testing"
)

func TestVBucketIndex(t *testing.T) {
	cfg := DefaultConfig()
	cfg.VBuckets = 8
	src, _ := New(cfg)
	dst, _ := New(cfg)
	want := map[string]string{}
	for i := range 200 {
		k := fmt.Sprintf("k%d", i)
		if got, w := src.VBucket(k), int(crc32.ChecksumIEEE([]byte(k))%8); got != w {
			t.Fatalf("VBucket(%q) = %d, want crc32 %% 8 = %d", k, got, w)
		}
		if err := src.Set(k, []byte(k)); err != nil {
			t.Fatal(err)
		}
		if src.VBucket(k) == 3 {
			want[k] = k
		}
	}
	src.Set("k3", []byte("again")) // a replacement stays indexed once
	if src.VBucket("k3") == 3 {
		want["k3"] = "again"
	}
	gone := firstKey(want)
	src.Del(gone)
	delete(want, gone)
	entries, err := src.ExportVBucket(3)
	if err != nil || len(entries) != len(want) {
		t.Fatalf("ExportVBucket = %d entries, %v; want %d", len(entries), err, len(want))
	}
	for _, e := range entries {
		if want[e.Key] != string(e.Value) {
			t.Errorf("exported %s=%q, want %q", e.Key, e.Value, want[e.Key])
		}
	}
	if err := dst.ImportVBucket(3, entries); err != nil {
		t.Fatal(err)
	}
	if err := dst.ImportVBucket(2, entries); !errors.Is(err, ErrVBucket) {
		t.Fatalf("import into the wrong vbucket: %v", err)
	}
	for k, v := range want {
		if got, err := dst.Get(k); err != nil || string(got) != v {
			t.Errorf("dst %s = %q, %v; want %q", k, got, err, v)
		}
	}
	if n, err := src.DropVBucket(3); n != len(want) || err != nil {
		t.Fatalf("DropVBucket = %d, %v; want %d", n, err, len(want))
	}
	if st := src.Stats(); st.Items != int64(200-1-len(want)) {
		t.Fatalf("items after the drop = %d", st.Items)
	}
}

// TestEvictionLeavesTheIndex: an entry the LRU evicts leaves its
// vbucket's list too.
func TestEvictionLeavesTheIndex(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxItems, cfg.VBuckets = 16, 1
	c, _ := New(cfg)
	for i := range 100 {
		c.Set(fmt.Sprint(i), []byte("v"))
	}
	if e, _ := c.ExportVBucket(0); len(e) != 16 {
		t.Fatalf("vbucket 0 lists %d entries, want the 16 the cache holds", len(e))
	}
}

func firstKey(m map[string]string) string {
	for k := range m {
		return k
	}
	return ""
}
