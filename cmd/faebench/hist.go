package main

import (
	"math"
	"math/bits"
	"time"
)

// The histogram is log-linear: values below 2*subCount nanoseconds have a
// bucket each; above, every power of two is split into subCount buckets, so
// a bucket's width is at most 1/subCount (about 3%) of its values.
const (
	subBits    = 5
	subCount   = 1 << subBits
	numBuckets = (64-subBits)*subCount + subCount
)

// histogram records latencies in nanoseconds. It is not safe for concurrent
// use: each client owns one, and they are merged after the run.
type histogram struct {
	counts [numBuckets]uint64
	n      uint64
	min    uint64
	max    uint64
}

// bucketOf returns the bucket index of v.
func bucketOf(v uint64) int {
	if v < 2*subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	return shift*subCount + int(v>>shift)
}

// bucketRange returns the smallest and largest value that fall in bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < 2*subCount {
		return uint64(i), uint64(i)
	}
	shift := i/subCount - 1
	top := uint64(i - shift*subCount)
	return top << shift, (top+1)<<shift - 1
}

// record adds one latency.
func (h *histogram) record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	h.max = max(h.max, v)
	h.n++
}

// merge adds the values recorded in o to h.
func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
}

// quantile returns the value below which a fraction q (0 < q <= 1) of the
// recorded values lie: the middle of the bucket holding that rank, clamped
// to the smallest and largest value seen; the top rank is the largest value
// itself. It returns 0 if h is empty.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	if rank == h.n {
		return time.Duration(h.max)
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketRange(i)
			mid := lo + (hi-lo)/2
			return time.Duration(min(max(mid, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}
