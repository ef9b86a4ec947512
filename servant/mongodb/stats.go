package mongodb

import (
	"errors"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/event"

	"github.com/faed/faed/pool"
)

// PoolStats is one pool's state and counters at one instant. Counters run
// from New.
type PoolStats struct {
	Servers  string               `json:"servers"` // the breaker's name: the pool's hosts, comma-separated
	Strategy string               `json:"strategy"`
	Database string               `json:"database"` // legacy: the database; standard: the name prefix
	Degraded bool                 `json:"degraded"` // switched by an operator; an open breaker shows in Breaker
	ReadOnly bool                 `json:"read_only"`
	Calls    uint64               `json:"calls"`   // calls that passed the argument checks
	Errors   uint64               `json:"errors"`  // of those, the ones that failed (ErrNotFound is no failure)
	Refused  uint64               `json:"refused"` // of those errors, refusals: degraded, read-only or breaker open
	PerCall  map[string]CallStats `json:"per_call"`
	Breaker  pool.BreakerSnapshot `json:"breaker"`
	Conns    ConnStats            `json:"conns"`
}

// CallStats counts one mg_* call on one pool.
type CallStats struct {
	Calls   uint64        `json:"calls"`
	Errors  uint64        `json:"errors"`
	Total   time.Duration `json:"total_ns"` // summed latency, for the mean
	Max     time.Duration `json:"max_ns"`
	Refused uint64        `json:"refused"`
}

// ConnStats counts the driver's connection pool events, all servers of the
// pool together.
type ConnStats struct {
	Created        uint64 `json:"created"`
	Closed         uint64 `json:"closed"`
	CheckedOut     uint64 `json:"checked_out"`
	CheckedIn      uint64 `json:"checked_in"`
	CheckOutFailed uint64 `json:"check_out_failed"`
	Cleared        uint64 `json:"cleared"` // the driver emptied a server's pool after an error
	Open           int64  `json:"open"`    // Created - Closed
	InUse          int64  `json:"in_use"`  // CheckedOut - CheckedIn
}

// callCounter is the lock-free counterpart of CallStats.
type callCounter struct {
	calls, errors, refused atomic.Uint64
	nanos, max             atomic.Int64
}

// observe counts one call that took d and ended with err.
func (c *callCounter) observe(d time.Duration, err error) {
	c.calls.Add(1)
	c.nanos.Add(int64(d))
	for m := c.max.Load(); int64(d) > m; m = c.max.Load() {
		if c.max.CompareAndSwap(m, int64(d)) {
			break
		}
	}
	if err == nil || errors.Is(err, ErrNotFound) {
		return
	}
	c.errors.Add(1)
	if errors.Is(err, ErrDegraded) || errors.Is(err, ErrReadOnly) {
		c.refused.Add(1)
	}
}

func (c *callCounter) snapshot() CallStats {
	return CallStats{
		Calls:   c.calls.Load(),
		Errors:  c.errors.Load(),
		Total:   time.Duration(c.nanos.Load()),
		Max:     time.Duration(c.max.Load()),
		Refused: c.refused.Load(),
	}
}

// connCounter counts the driver's pool events. Its handler runs on driver
// goroutines, hence the atomics.
type connCounter struct {
	created, closed, out, in, outFailed, cleared atomic.Uint64
}

// monitor returns the event.PoolMonitor feeding c.
func (c *connCounter) monitor() *event.PoolMonitor {
	return &event.PoolMonitor{Event: c.event}
}

func (c *connCounter) event(e *event.PoolEvent) {
	switch e.Type {
	case event.ConnectionCreated:
		c.created.Add(1)
	case event.ConnectionClosed:
		c.closed.Add(1)
	case event.ConnectionCheckedOut:
		c.out.Add(1)
	case event.ConnectionCheckedIn:
		c.in.Add(1)
	case event.ConnectionCheckOutFailed:
		c.outFailed.Add(1)
	case event.ConnectionPoolCleared:
		c.cleared.Add(1)
	}
}

func (c *connCounter) snapshot() ConnStats {
	s := ConnStats{
		Created:        c.created.Load(),
		Closed:         c.closed.Load(),
		CheckedOut:     c.out.Load(),
		CheckedIn:      c.in.Load(),
		CheckOutFailed: c.outFailed.Load(),
		Cleared:        c.cleared.Load(),
	}
	s.Open = int64(s.Created) - int64(s.Closed)
	s.InUse = int64(s.CheckedOut) - int64(s.CheckedIn)
	return s
}
