package engine

import (
	"math/bits"
	"sync"
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
	c := h.counts()
	return c.quantiles(qs...)
}

// histCounts is a histogram's counts at one instant.
type histCounts struct {
	buckets [numBuckets]uint64
	sumNs   uint64
}

func (h *histogram) counts() histCounts {
	var c histCounts
	for i := range h.buckets {
		c.buckets[i] = h.buckets[i].Load()
	}
	c.sumNs = h.sumNs.Load()
	return c
}

// since is what was recorded between before and c.
func (c histCounts) since(before *histCounts) histCounts {
	for i := range c.buckets {
		c.buckets[i] -= before.buckets[i]
	}
	c.sumNs -= before.sumNs
	return c
}

func (c *histCounts) total() uint64 {
	var n uint64
	for _, b := range c.buckets {
		n += b
	}
	return n
}

func (c *histCounts) quantiles(qs ...float64) []time.Duration {
	out := make([]time.Duration, len(qs))
	total := c.total()
	if total == 0 {
		return out
	}
	for j, q := range qs {
		out[j] = time.Duration(bucketUpper(rankBucket(&c.buckets, uint64(q*float64(total)))))
	}
	return out
}

// windowTicks is how many rate ticks the recent window spans: a minute.
const windowTicks = int(time.Minute / tickInterval)

// recentWindow keeps a histogram's counts as they were at each of the last
// windowTicks ticks, so that the last minute's calls are the counts now less
// those of a minute ago. Ticks and reads take its lock, calls never do.
type recentWindow struct {
	mu     sync.Mutex
	ring   *[windowTicks]histCounts // allocated at the first tick that saw a call
	next   int                      // the slot the next tick writes
	filled int
}

// tick records h's counts as they are now.
func (w *recentWindow) tick(h *histogram) {
	c := h.counts()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ring == nil {
		if c.total() == 0 {
			return // a call never made costs no window
		}
		w.ring = new([windowTicks]histCounts)
	}
	w.ring[w.next] = c
	w.next = (w.next + 1) % windowTicks
	w.filled = min(w.filled+1, windowTicks)
}

// last is what h recorded since the oldest tick kept (about a minute ago;
// since the start until a minute of ticks exist).
func (w *recentWindow) last(h *histogram) histCounts {
	c := h.counts()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ring == nil || w.filled < windowTicks {
		return c
	}
	return c.since(&w.ring[w.next])
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
