package main

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketRangeHoldsValue(t *testing.T) {
	values := []uint64{0, 1, 63, 64, 65, 127, 128, 1000, 4095, 4096, 1 << 40, 1<<63 + 12345, 1<<64 - 1}
	for range 10000 {
		values = append(values, rand.Uint64()>>rand.IntN(64))
	}
	for _, v := range values {
		i := bucketOf(v)
		if i < 0 || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d, out of [0,%d)", v, i, numBuckets)
		}
		lo, hi := bucketRange(i)
		if v < lo || v > hi {
			t.Fatalf("value %d in bucket %d = [%d,%d]", v, i, lo, hi)
		}
		if width := hi - lo; float64(width) > float64(lo)/subCount+1 {
			t.Fatalf("bucket %d = [%d,%d] is wider than 1/%d of its values", i, lo, hi, subCount)
		}
	}
}

func TestBucketsAreContiguous(t *testing.T) {
	for i := 1; i < numBuckets; i++ {
		_, prevHi := bucketRange(i - 1)
		lo, _ := bucketRange(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ends at %d", i, lo, prevHi)
		}
	}
}

func TestQuantile(t *testing.T) {
	tests := []struct {
		name   string
		values []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"single", []time.Duration{7 * time.Microsecond}, 0.99, 7 * time.Microsecond},
		{"small exact", []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.5, 5},
		{"p90 of 1..50", seq(1, 50, time.Nanosecond), 0.9, 45},
		{"bucket middle", seq(98, 99, time.Nanosecond), 0.5, 98},
		{"max", seq(1, 100, time.Microsecond), 1, 100 * time.Microsecond},
		{"min", seq(1, 100, time.Microsecond), 0.0001, time.Microsecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h histogram
			for _, v := range tt.values {
				h.record(v)
			}
			if got := h.quantile(tt.q); got != tt.want {
				t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}

func TestQuantileRelativeError(t *testing.T) {
	var h histogram
	var all []time.Duration
	for range 100000 {
		d := time.Duration(rand.ExpFloat64() * float64(50*time.Microsecond))
		h.record(d)
		all = append(all, d)
	}
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := all[int(q*float64(len(all)))-1]
		got := h.quantile(q)
		if rel := float64(got-exact) / float64(exact); rel > 0.04 || rel < -0.04 {
			t.Errorf("q=%v: got %v, exact %v (%.1f%% off)", q, got, exact, 100*rel)
		}
	}
}

func TestMerge(t *testing.T) {
	var a, b, all histogram
	for i := range 1000 {
		d := time.Duration(i) * time.Microsecond
		all.record(d)
		if i%3 == 0 {
			a.record(d)
		} else {
			b.record(d)
		}
	}
	var m histogram
	m.merge(&a)
	m.merge(&b)
	m.merge(&histogram{})
	if m.n != all.n || m.min != all.min || m.max != all.max || m.counts != all.counts {
		t.Fatalf("merged n=%d min=%d max=%d, want n=%d min=%d max=%d", m.n, m.min, m.max, all.n, all.min, all.max)
	}
	if m.quantile(0.5) != all.quantile(0.5) {
		t.Errorf("merged p50 %v, want %v", m.quantile(0.5), all.quantile(0.5))
	}
}

func seq(from, to int, unit time.Duration) []time.Duration {
	var s []time.Duration
	for i := from; i <= to; i++ {
		s = append(s, time.Duration(i)*unit)
	}
	return s
}
