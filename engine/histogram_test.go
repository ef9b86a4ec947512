package engine

import (
	"testing"
	"time"
)

func TestBucketBounds(t *testing.T) {
	for _, ns := range []uint64{0, 1, 7, 8, 9, 15, 16, 100, 1000, 4242, 1 << 20, 123456789, 1 << 40} {
		i := bucketOf(ns)
		if up := bucketUpper(i); ns > up {
			t.Fatalf("ns %d in bucket %d whose upper bound is %d", ns, i, up)
		}
		if i > 0 && ns <= bucketUpper(i-1) {
			t.Fatalf("ns %d in bucket %d but fits bucket %d (upper %d)", ns, i, i-1, bucketUpper(i-1))
		}
	}
}

func TestQuantiles(t *testing.T) {
	tests := []struct {
		name     string
		samples  map[time.Duration]int
		q        float64
		min, max time.Duration
	}{
		{"empty", nil, 0.5, 0, 0},
		{"one value", map[time.Duration]int{10 * time.Microsecond: 100}, 0.99, 10 * time.Microsecond, 11300 * time.Nanosecond},
		{"median of two groups", map[time.Duration]int{time.Microsecond: 90, time.Millisecond: 10}, 0.5, time.Microsecond, 1130 * time.Nanosecond},
		{"tail of two groups", map[time.Duration]int{time.Microsecond: 90, time.Millisecond: 10}, 0.95, time.Millisecond, 1130 * time.Microsecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h histogram
			for d, n := range tt.samples {
				for range n {
					h.record(d)
				}
			}
			got := h.quantiles(tt.q)[0]
			if got < tt.min || got > tt.max {
				t.Fatalf("q%.2f = %v, want in [%v, %v]", tt.q, got, tt.min, tt.max)
			}
		})
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	b.ReportAllocs()
	var h histogram
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.record(4242 * time.Nanosecond)
		}
	})
}
