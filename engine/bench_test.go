package engine

import (
	"context"
	"testing"
)

// BenchmarkNoopUnix is one persistent client calling noop over a unix
// socket: the engine's whole per-call path, client cost included.
func BenchmarkNoopUnix(b *testing.B) {
	s := startServer(b, nil)
	c := dial(b, "unix", s.unix, KindBinary)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := c.Noop(context.Background(), int32(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLcGetUnix is the same with a call that carries a Context and is timed.
func BenchmarkLcGetUnix(b *testing.B) {
	s := startServer(b, nil)
	c := dial(b, "unix", s.unix, KindBinary)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.LcGet(context.Background(), rc, "k"); err != nil {
			b.Fatal(err)
		}
	}
}
