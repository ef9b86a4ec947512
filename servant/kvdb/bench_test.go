package kvdb

import (
	"fmt"
	"testing"
)

// keysIn returns n distinct keys of vbucket vb under db's count.
func keysIn(db *DB, vb, n int) [][]byte {
	keys := make([][]byte, 0, n)
	for i := 0; len(keys) < n; i++ {
		if k := fmt.Appendf(nil, "user:session:%d", i); db.VBucket(k) == vb {
			keys = append(keys, k)
		}
	}
	return keys
}

// BenchmarkMoveVBucket moves one vbucket of 10,000 keys of 100 B from one
// file to another as a mover would: tracked export in default batches,
// import of each, the (empty) tail, then the source's drop, refilled
// outside the timer. The goal is one move under a second.
func BenchmarkMoveVBucket(b *testing.B) {
	const vb, n = 7, 10_000
	src := openDB(b, testConfig(b))
	keys := keysIn(src, vb, n)
	load := Batch{VBucket: vb}
	for _, k := range keys {
		load.Entries = append(load.Entries, Entry{Key: k, Value: make([]byte, 100)})
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		dst := openDB(b, testConfig(b))
		if err := src.Import(load); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if moved := moveVBucket(b, src, dst, vb); moved != n {
			b.Fatalf("moved %d keys, want %d", moved, n)
		}
	}
	b.ReportMetric(float64(n), "keys/move")
}

func moveVBucket(b *testing.B, src, dst *DB, vb int) int {
	if err := src.StartTracking(vb); err != nil {
		b.Fatal(err)
	}
	moved := 0
	var after []byte
	for {
		batch, err := src.Export(vb, after, Limit{})
		if err != nil {
			b.Fatal(err)
		}
		if err := dst.Import(batch); err != nil {
			b.Fatal(err)
		}
		moved += len(batch.Entries)
		if batch.Done {
			break
		}
		after = batch.Cursor()
	}
	tail, err := src.ExportChanges(vb, src.EndTracking(vb))
	if err != nil {
		b.Fatal(err)
	}
	if err := dst.Import(tail); err != nil {
		b.Fatal(err)
	}
	if _, err := src.Drop(vb); err != nil {
		b.Fatal(err)
	}
	return moved
}

// BenchmarkGetFull reads from a file holding 100,000 keys spread over
// every vbucket, where the prefix's effect on the tree shows.
func BenchmarkGetFull(b *testing.B) {
	db := openDB(b, testConfig(b))
	byVB := map[int]*Batch{}
	for i := range 100_000 {
		k := fmt.Appendf(nil, "key%06d", i)
		vb := db.VBucket(k)
		if byVB[vb] == nil {
			byVB[vb] = &Batch{VBucket: vb}
		}
		byVB[vb].Entries = append(byVB[vb].Entries, Entry{Key: k, Value: make([]byte, 100)})
	}
	for _, batch := range byVB {
		if err := db.Import(*batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := db.Get(fmt.Appendf(nil, "key%06d", (i*7919)%100_000)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
