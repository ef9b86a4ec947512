package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"time"
)

// The relay and the delay proxy stand between a client and a server.
//
// The relay (-serve relay) is the floor of a forwarded call: a third
// process that copies bytes both ways and does nothing else, so a client
// -> relay -> echo server call pays what a client -> faed -> faed call pays
// for crossing processes, and only that.
//
// The delay proxy (-serve delay) makes loopback look like a datacenter hop
// for both sides of a backend comparison alike: each direction delivers
// every chunk it reads -delay after reading it, and a new connection pays
// the handshake a network would make it wait for. Over a network a client's
// connect returns after a round trip (SYN, SYN-ACK), so its first bytes
// reach the server at 3×delay, and the server, which accepts when the
// client's ACK comes, is heard from at 4×delay at the soonest. The proxy
// opens the server side at 2×delay, so the client's first bytes, read then,
// arrive at 3×delay, and holds the server's first bytes (a MySQL greeting,
// sent at once) until 4×delay. So a client that connects for every request
// pays the handshake again each time, and a pooled connection pays it once.

// proxyEnds is what every proxied connection needs: where to dial.
type proxyEnds struct{ upstream endpoint }

// dialUpstream opens the server side of one proxied connection.
func (p proxyEnds) dialUpstream() (net.Conn, error) {
	return net.DialTimeout(p.upstream.network, p.upstream.address, 5*time.Second)
}

// serveRelay relays every connection on eps to upstream until ctx is done.
func serveRelay(ctx context.Context, eps []endpoint, upstream endpoint) error {
	p := proxyEnds{upstream}
	return serveAll(ctx, "relay", eps, p.relay)
}

// relay copies c to a new upstream connection and back until either side
// closes.
func (p proxyEnds) relay(c net.Conn) {
	defer c.Close()
	up, err := p.dialUpstream()
	if err != nil {
		fmt.Fprintln(os.Stderr, "faebench: relay:", err)
		return
	}
	defer up.Close()
	pipe(c, up, func(dst, src net.Conn) { io.Copy(dst, src) })
}

// pipe runs copy from a to b and from b to a, each on a goroutine, until
// both have returned. The first to return closes both connections, so the
// other's read ends too.
func pipe(a, b net.Conn, copy func(dst, src net.Conn)) {
	var once sync.Once
	closeBoth := func() { a.Close(); b.Close() }
	var wg sync.WaitGroup
	wg.Go(func() { copy(b, a); once.Do(closeBoth) })
	wg.Go(func() { copy(a, b); once.Do(closeBoth) })
	wg.Wait()
}

// delayProxy is the -serve delay server. It is safe for concurrent use.
type delayProxy struct {
	proxyEnds
	delay time.Duration
	// early is how much sooner than its due time a chunk's sleep ends: the
	// median overshoot of a sleep on this machine, measured at start, so
	// the delays delivered centre on delay.
	early time.Duration

	mu   sync.Mutex
	late []time.Duration // a sample of how late chunks went out, for the report
	seen int
}

// maxProcs is the delay proxy's GOMAXPROCS: more than the chunks it holds
// at once in the benchmark's runs.
const maxProcs = 256

// sampleEvery keeps one lateness in this many for the report.
const sampleEvery = 16

// serveDelay runs a delay proxy to upstream on eps until ctx is done, then
// reports on stderr the delays it delivered.
func serveDelay(ctx context.Context, eps []endpoint, upstream endpoint, delay time.Duration) error {
	if delay <= 0 {
		return fmt.Errorf("-delay %v: want a delay > 0", delay)
	}
	// Every sleeping thread holds one of the runtime's Ps until the
	// runtime's monitor, which polls as seldom as every 10ms when idle,
	// takes it back: with a P per core, two sleeps would stall every other
	// connection. A P per chunk in flight keeps them apart.
	runtime.GOMAXPROCS(maxProcs)
	p := &delayProxy{proxyEnds: proxyEnds{upstream}, delay: delay, early: sleepOvershoot(delay)}
	fmt.Fprintf(os.Stderr, "faebench: delay proxy to %s: %v each way; sleeps end %v early to make up for their measured overshoot\n",
		upstream, delay, p.early)
	err := serveAll(ctx, "delay proxy", eps, p.proxy)
	fmt.Fprintln(os.Stderr, "faebench:", p.report())
	return err
}

func (p *delayProxy) proxy(c net.Conn) {
	defer c.Close()
	accepted := time.Now()
	// Client bytes sent meanwhile wait in the socket, as they would wait
	// for the handshake to finish.
	sleepUntil(accepted.Add(2*p.delay - p.early))
	up, err := p.dialUpstream()
	if err != nil {
		fmt.Fprintln(os.Stderr, "faebench: delay proxy:", err)
		return
	}
	defer up.Close()
	pipe(c, up, func(dst, src net.Conn) {
		var notBefore time.Time
		if src == up {
			notBefore = accepted.Add(4 * p.delay)
		}
		p.copyDelayed(dst, src, notBefore)
	})
}

// copyDelayed delivers to dst every chunk read from src p.delay after it
// was read, and not before notBefore, until src ends or dst fails. It reads the next chunk once the
// last is delivered: a chunk that comes sooner (a client pipelining calls
// on one connection, which neither side of the benchmark's comparisons
// does) waits longer than p.delay.
func (p *delayProxy) copyDelayed(dst, src net.Conn, notBefore time.Time) {
	buf := make([]byte, 16<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			read := time.Now()
			due := read.Add(p.delay)
			if due.Before(notBefore) {
				due = notBefore
			}
			sleepUntil(due.Add(-p.early))
			p.record(time.Since(due))
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *delayProxy) record(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seen%sampleEvery == 0 && len(p.late) < 1<<20 {
		p.late = append(p.late, d)
	}
	p.seen++
}

// report sums up how late the chunks went out: the sleep's overshoot left
// after p.early, and the wait for a CPU on a busy machine.
func (p *delayProxy) report() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.late) == 0 {
		return fmt.Sprintf("delay proxy to %s delivered %d chunks", p.upstream, p.seen)
	}
	d := slices.Clone(p.late)
	slices.Sort(d)
	at := func(q float64) time.Duration { return d[int(q*float64(len(d)-1))] }
	return fmt.Sprintf("delay proxy to %s delivered %d chunks %v late (p50), %v (p99), asked %v each way",
		p.upstream, p.seen, at(0.5).Round(time.Microsecond), at(0.99).Round(time.Microsecond), p.delay)
}

// sleepUntil sleeps until t, if t is ahead. A thread's sleep is exact to
// tens of microseconds where the Go runtime's timers round up to a
// millisecond here, once the thread's timer slack (50us by default) is set
// to the least.
func sleepUntil(t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	setTimerSlack(1) // of the thread this goroutine runs on: it stays there until the sleep ends
	ts := syscall.NsecToTimespec(d.Nanoseconds())
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}

// setTimerSlack sets the calling thread's timer slack in nanoseconds.
func setTimerSlack(ns uintptr) {
	const prSetTimerSlack = 29 // PR_SET_TIMERSLACK, linux/prctl.h
	syscall.Syscall(syscall.SYS_PRCTL, prSetTimerSlack, ns, 0)
}

// sleepOvershoot measures how much later than asked a thread's sleep of d
// ends here (the median of 50), bounded to d/2.
func sleepOvershoot(d time.Duration) time.Duration {
	over := make([]time.Duration, 50)
	for i := range over {
		start := time.Now()
		sleepUntil(start.Add(d))
		over[i] = time.Since(start) - d
	}
	slices.Sort(over)
	return min(max(over[len(over)/2], 0), d/2)
}
