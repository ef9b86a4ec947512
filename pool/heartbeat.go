package pool

import (
	"context"
	"time"
)

// Run keeps the idle connections healthy until ctx is done or the pool is
// closed: every HeartbeatInterval it closes those idle longer than IdleTimeout
// (so one may outlive IdleTimeout by up to HeartbeatInterval; Get never reuses
// it) and pings the rest, closing any whose Ping fails. A failed ping is not
// a breaker failure: a server closing an idle connection is not down. Run
// blocks; the caller runs it in a goroutine it owns. With HeartbeatInterval
// 0 it only waits.
func (p *Pool[C]) Run(ctx context.Context) {
	var tick <-chan time.Time // nil: never fires
	if p.cfg.HeartbeatInterval > 0 {
		t := time.NewTicker(p.cfg.HeartbeatInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.done:
			return
		case <-tick:
			p.reap()
			p.heartbeat(ctx)
		}
	}
}

// reap closes the idle connections older than IdleTimeout.
func (p *Pool[C]) reap() {
	p.mu.Lock()
	var old []idleConn[C]
	kept := p.idle[:0]
	for _, ic := range p.idle {
		if p.expired(ic.since) {
			old = append(old, ic)
		} else {
			kept = append(kept, ic)
		}
	}
	clear(p.idle[len(kept):])
	p.idle = kept
	p.numOpen -= len(old) // no waiters: idle was not empty, or old is
	p.mu.Unlock()
	for _, ic := range old {
		p.st.idleCloses.Add(1)
		p.closeConn(ic.c)
	}
}

// heartbeat takes the idle connections out, pings each and puts the live ones
// back as it goes; meanwhile Gets dial new ones or wait for the pinged.
func (p *Pool[C]) heartbeat(ctx context.Context) {
	if p.fn.Ping == nil {
		return
	}
	p.mu.Lock()
	batch := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, ic := range batch {
		if ctx.Err() != nil {
			p.putIdle(ic)
			continue
		}
		p.ping(ctx, ic)
	}
}

func (p *Pool[C]) ping(ctx context.Context, ic idleConn[C]) {
	pctx, cancel := withTimeout(ctx, p.cfg.DialTimeout)
	defer cancel()
	if err := p.fn.Ping(pctx, ic.c); err != nil {
		p.st.heartbeatFailures.Add(1)
		p.closeConn(ic.c)
		p.freeSlot()
		return
	}
	p.putIdle(ic) // since unchanged: a ping is not a use
}
