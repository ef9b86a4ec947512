package mongodb

import (
	"context"
	"testing"
)

func BenchmarkFindOne(b *testing.B) {
	c, _ := startClient(b)
	ctx := context.Background()
	if _, err := c.Insert(ctx, "game", "bench", 0, doc(b, "_id", 1, "name", "ann", "score", 42)); err != nil {
		b.Fatal(err)
	}
	q := doc(b, "_id", 1)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.FindOne(ctx, "game", "bench", 0, q, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFindOneParallel(b *testing.B) {
	c, _ := startClient(b)
	ctx := context.Background()
	if _, err := c.Insert(ctx, "game", "bench", 0, doc(b, "_id", 1, "name", "ann", "score", 42)); err != nil {
		b.Fatal(err)
	}
	q := doc(b, "_id", 1)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.FindOne(ctx, "game", "bench", 0, q, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
