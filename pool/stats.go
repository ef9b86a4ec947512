package pool

import (
	"sync/atomic"
	"time"
)

// counters are the pool's monotonic counters, and the in-use gauge. Each is an
// atomic, so counting never takes the pool's lock.
type counters struct {
	inUse             atomic.Int64
	waits             atomic.Uint64
	waitNanos         atomic.Uint64
	exhausted         atomic.Uint64
	dials             atomic.Uint64
	dialErrors        atomic.Uint64
	brokenCloses      atomic.Uint64
	staleCloses       atomic.Uint64
	idleCloses        atomic.Uint64
	heartbeatFailures atomic.Uint64
}

// Stats is a pool's state and counters at one instant. Counters run from the
// pool's creation.
type Stats struct {
	Server            string          `json:"server"`
	Open              int             `json:"open"`         // idle + in use + being dialled; at most MaxOpen
	Idle              int             `json:"idle"`         // idle and ready (not counting those being pinged)
	InUse             int             `json:"in_use"`       // handed out by Get and not yet Put back
	Waits             uint64          `json:"waits"`        // Gets that had to wait because MaxOpen were open
	WaitTime          time.Duration   `json:"wait_time_ns"` // total time those Gets waited
	Exhausted         uint64          `json:"exhausted"`    // waits that ended in ErrPoolExhausted
	Dials             uint64          `json:"dials"`
	DialErrors        uint64          `json:"dial_errors"`
	BrokenCloses      uint64          `json:"broken_closes"`      // connections closed by Put because the call's error broke them
	StaleCloses       uint64          `json:"stale_closes"`       // connections closed by Redial, found dead before their call reached the server
	IdleCloses        uint64          `json:"idle_closes"`        // closed past IdleTimeout or beyond MaxIdle
	HeartbeatFailures uint64          `json:"heartbeat_failures"` // idle connections closed because Ping failed
	Breaker           BreakerSnapshot `json:"breaker"`
}

// Stats returns the pool's current stats. It is safe to call at any time.
func (p *Pool[C]) Stats() Stats {
	p.mu.Lock()
	open, idle := p.numOpen, len(p.idle)
	p.mu.Unlock()
	return Stats{
		Server:            p.server,
		Open:              open,
		Idle:              idle,
		InUse:             int(p.st.inUse.Load()),
		Waits:             p.st.waits.Load(),
		WaitTime:          time.Duration(p.st.waitNanos.Load()),
		Exhausted:         p.st.exhausted.Load(),
		Dials:             p.st.dials.Load(),
		DialErrors:        p.st.dialErrors.Load(),
		BrokenCloses:      p.st.brokenCloses.Load(),
		StaleCloses:       p.st.staleCloses.Load(),
		IdleCloses:        p.st.idleCloses.Load(),
		HeartbeatFailures: p.st.heartbeatFailures.Load(),
		Breaker:           p.br.Snapshot(),
	}
}
