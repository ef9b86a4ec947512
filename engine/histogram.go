package engine

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// histogram records latencies in log-linear buckets with atomic counters:
// recording is two atomic adds and never locks or allocates, which keeps
// call stats cheap on the hot path (the original lost about a quarter of its
// CPU to metric updates). Each power of two of nanoseconds is split into
// 2^subBits buckets, so a percentile is accurate to about 12%.
type histogram struct {
	buckets [numBuckets]atomic.Uint64
	sumNs   atomic.Uint64
}

const (
	subBits    = 3
	subCount   = 1 << subBits
	numBuckets = 64 * subCount
)

// bucketOf maps a duration in ns to its bucket index.
func bucketOf(ns uint64) int {
	if ns < subCount {
		return int(ns)
	}
	exp := bits.Len64(ns) - 1 // ns lies in [2^exp, 2^(exp+1))
	mantissa := (ns >> (exp - subBits)) & (subCount - 1)
	return (exp-subBits+1)*subCount + int(mantissa)
}

// bucketUpper is the largest duration in ns that falls into bucket i.
func bucketUpper(i int) uint64 {
	if i < subCount {
		return uint64(i)
	}
	exp := i/subCount + subBits - 1
	mantissa := uint64(i % subCount)
	low := uint64(1)<<exp | mantissa<<(exp-subBits)
	return low + uint64(1)<<(exp-subBits) - 1
}

func (h *histogram) record(d time.Duration) {
	ns := uint64(max(d, 0))
	h.buckets[bucketOf(ns)].Add(1)
	h.sumNs.Add(ns)
}

// quantiles returns the latency below which each fraction q of the recorded
// calls fall, in the order given; zero when nothing was recorded.
func (h *histogram) quantiles(qs ...float64) []time.Duration {
	var counts [numBuckets]uint64
	var total uint64
	for i := range h.buckets {
		counts[i] = h.buckets[i].Load()
		total += counts[i]
	}
	out := make([]time.Duration, len(qs))
	if total == 0 {
		return out
	}
	for j, q := range qs {
		out[j] = time.Duration(bucketUpper(rankBucket(&counts, uint64(q*float64(total)))))
	}
	return out
}

// rankBucket is the bucket holding the call of the given rank (0-based).
func rankBucket(counts *[numBuckets]uint64, rank uint64) int {
	var seen uint64
	for i, c := range counts {
		seen += c
		if seen > rank {
			return i
		}
	}
	return numBuckets - 1
}
