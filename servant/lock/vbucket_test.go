package lock

import (
	"errors"
	"fmt"
	"hash/crc32"
	"testing"
	"time"
)

func TestVBucketIsTheMapsCRC32(t *testing.T) {
	tb, _ := newFake(t, Config{Expiry: time.Second, MaxLocks: 10, MaxKeyBytes: 250, VBuckets: 1000})
	for _, k := range []string{"a", "order:1", "ключ", "\x00\xff"} {
		if got, want := tb.VBucket(k), int(crc32.ChecksumIEEE([]byte(k))%1000); got != want {
			t.Errorf("VBucket(%q) = %d, want %d", k, got, want)
		}
	}
}

func TestExportImportDropVBucket(t *testing.T) {
	cfg := Config{Expiry: 10 * time.Second, MaxLocks: 100, MaxKeyBytes: 250, VBuckets: 4}
	src, clock := newFake(t, cfg)
	dst, dclock := newFake(t, cfg)
	var inVB []string
	for i := 0; len(inVB) < 3; i++ {
		k := fmt.Sprintf("k%d", i)
		mustLock(t, src, k, true)
		if src.VBucket(k) == 2 {
			inVB = append(inVB, k)
		}
		clock.Advance(time.Millisecond)
	}
	held, err := src.ExportVBucket(2)
	if err != nil || len(held) != 3 {
		t.Fatalf("ExportVBucket = %v, %v; want the 3 locks of vbucket 2", held, err)
	}
	if err := dst.ImportVBucket(2, held); err != nil {
		t.Fatal(err)
	}
	for _, k := range inVB {
		mustLock(t, dst, k, false) // held on the new owner
	}
	dclock.Advance(held[0].TTL) // the oldest lease ends as it would have on src
	mustLock(t, dst, held[0].Key, true)
	if err := dst.ImportVBucket(1, held); !errors.Is(err, ErrVBucket) {
		t.Fatalf("import into the wrong vbucket: %v, want ErrVBucket", err)
	}
	if n, err := src.DropVBucket(2); n != 3 || err != nil {
		t.Fatalf("DropVBucket = %d, %v; want 3", n, err)
	}
	for _, k := range inVB {
		mustLock(t, src, k, true) // free after the drop
	}
	if _, err := src.ExportVBucket(4); !errors.Is(err, ErrVBucket) {
		t.Fatalf("vbucket 4 of 4: %v, want ErrVBucket", err)
	}
}

// TestImportKeepsExpiryOrder: imported leases shorter than Expiry go
// before the tail, so the sweep still finds expired entries at the front.
func TestImportKeepsExpiryOrder(t *testing.T) {
	tb, clock := newFake(t, Config{Expiry: 10 * time.Second, MaxLocks: 100, MaxKeyBytes: 250, VBuckets: 1})
	mustLock(t, tb, "long", true)
	if err := tb.ImportVBucket(0, []Held{{"short", time.Second}, {"mid", 5 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	var order []string
	for e := tb.list.head; e != nil; e = e.next {
		order = append(order, e.key)
	}
	if fmt.Sprint(order) != "[short mid long]" {
		t.Fatalf("expiry order %v, want [short mid long]", order)
	}
	clock.Advance(time.Second)
	mustLock(t, tb, "short", true)
}
