package memcache

import (
	"errors"
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/faed/faed/pool"
)

// PoolStats is one named pool's configuration and its servers' stats.
type PoolStats struct {
	Name      string        `json:"name"`
	Selection string        `json:"selection"`
	Replicas  int           `json:"replicas"`
	Servers   []ServerStats `json:"servers"` // in the configured order
}

// ServerStats is one server's state and counters at one instant. Counters run
// from New. A call that falls back to a replica counts on both servers; a call
// run again on a new connection after a stale one (Pool.StaleCloses) counts
// once, with the outcome and the time of both runs. A get answered by a
// multi-get (Batched) counts as one call with its own outcome and the
// multi-get's time; the pool and breaker count the multi-get once.
type ServerStats struct {
	Server string `json:"server"`
	// Pool is the connection pool's state: open, idle and in-use connections,
	// waits, dials, and the breaker's state and the reason of its last change.
	Pool         pool.Stats   `json:"pool"`
	Calls        uint64       `json:"calls"`         // attempts on this server, refused ones included
	Errors       uint64       `json:"errors"`        // attempts that got no answer: refused, dial, I/O or protocol failures
	Refused      uint64       `json:"refused"`       // of Errors, those the breaker refused without trying
	ServerErrors uint64       `json:"server_errors"` // SERVER_ERROR and CLIENT_ERROR answers
	Misses       uint64       `json:"misses"`        // get on a missing key, incr/decr of a missing key
	Batches      uint64       `json:"batches"`       // multi-gets sent for gets that came at once (see batcher)
	Batched      uint64       `json:"batched"`       // of Calls, the gets a multi-get answered
	Latency      LatencyStats `json:"latency"`
}

// LatencyStats summarises the time of the attempts that got a connection,
// from the first byte written to the reply read (the wait for a connection
// is in Pool). P50 and P99 are upper bounds, exact to a factor of two.
type LatencyStats struct {
	Count uint64        `json:"count"`
	Total time.Duration `json:"total_ns"`
	Mean  time.Duration `json:"mean_ns"`
	P50   time.Duration `json:"p50_ns"`
	P99   time.Duration `json:"p99_ns"`
}

// callCounters are a server's counters; they take no lock. A call that gets a
// connection touches two of them (latency's total and bucket) unless it
// fails, which adds one: each is a cache line two CPUs may fight over.
type callCounters struct {
	noConn       atomic.Uint64 // attempts whose Get failed; latency counts the others
	errors       atomic.Uint64
	refused      atomic.Uint64
	serverErrors atomic.Uint64
	misses       atomic.Uint64
	batches      atomic.Uint64
	batched      atomic.Uint64
	latency      latency
}

// batch counts a multi-get that answered n calls, each counted on its own
// by done.
func (c *callCounters) batch(n int) {
	c.batches.Add(1)
	c.batched.Add(uint64(n))
}

// getFailed counts an attempt whose Get failed.
func (c *callCounters) getFailed(err error) {
	c.noConn.Add(1)
	c.errors.Add(1)
	if errors.Is(err, pool.ErrCircuitOpen) {
		c.refused.Add(1)
	}
}

// done counts an attempt that ran on a connection for d and ended with err.
func (c *callCounters) done(d time.Duration, err error) {
	c.latency.add(d)
	switch {
	case err == nil:
	case err == ErrMiss:
		c.misses.Add(1)
	case isBroken(err):
		c.errors.Add(1)
	default:
		c.serverErrors.Add(1)
	}
}

func (c *callCounters) fill(s *ServerStats) {
	s.Latency = c.latency.snapshot()
	s.Calls = c.noConn.Load() + s.Latency.Count
	s.Errors = c.errors.Load()
	s.Refused = c.refused.Load()
	s.ServerErrors = c.serverErrors.Load()
	s.Misses = c.misses.Load()
	s.Batches = c.batches.Load()
	s.Batched = c.batched.Load()
}

// latencyBuckets covers durations up to 2^40 ns (about 18 minutes).
const latencyBuckets = 41

// latency is a histogram of durations in powers of two: bucket i counts
// durations of bits.Len64(ns) == i, that is below 2^i ns. The count is the
// buckets' sum, so that adding costs two atomics, not three.
type latency struct {
	total   atomic.Uint64 // ns
	buckets [latencyBuckets]atomic.Uint64
}

func (l *latency) add(d time.Duration) {
	ns := uint64(max(d, 0))
	l.total.Add(ns)
	l.buckets[min(bits.Len64(ns), latencyBuckets-1)].Add(1)
}

// snapshot reads the buckets before the total, so that a mean taken while
// calls end is, if anything, a little high rather than low.
func (l *latency) snapshot() LatencyStats {
	var counts [latencyBuckets]uint64
	var s LatencyStats
	for i := range l.buckets {
		counts[i] = l.buckets[i].Load()
		s.Count += counts[i]
	}
	s.Total = time.Duration(l.total.Load())
	if s.Count == 0 {
		return s
	}
	s.Mean = s.Total / time.Duration(s.Count)
	s.P50, s.P99 = quantile(counts[:], 0.50), quantile(counts[:], 0.99)
	return s
}

// quantile returns the upper bound of the bucket holding quantile q.
func quantile(counts []uint64, q float64) time.Duration {
	var total uint64
	for _, n := range counts {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total-1)) + 1 // 1-based rank of the sample wanted
	var seen uint64
	for i, n := range counts {
		if seen += n; seen >= rank {
			return time.Duration(uint64(1) << i)
		}
	}
	return time.Duration(uint64(1) << (len(counts) - 1))
}
