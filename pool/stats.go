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
	idleCloses        atomic.Uint64
	heartbeatFailures atomic.Uint64
}

// Stats is a pool's state and counters at one instant. Counters run from the
// pool's creation.
type Stats struct {
	Server            string
	Open              int           // idle + in use + being dialled; at most MaxOpen
	Idle              int           // idle and ready (not counting those being pinged)
	InUse             int           // handed out by Get and not yet Put back
	Waits             uint64        // Gets that had to wait because MaxOpen were open
	WaitTime          time.Duration // total time those Gets waited
	Exhausted         uint64        // waits that ended in ErrPoolExhausted
	Dials             uint64
	DialErrors        uint64
	BrokenCloses      uint64 // connections closed by Put because the call's error broke them
	IdleCloses        uint64 // closed past IdleTimeout or beyond MaxIdle
	HeartbeatFailures uint64 // idle connections closed because Ping failed
	Breaker           BreakerSnapshot
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
		IdleCloses:        p.st.idleCloses.Load(),
		HeartbeatFailures: p.st.heartbeatFailures.Load(),
		Breaker:           p.br.Snapshot(),
	}
}
