package testserver

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy forwards TCP connections from 127.0.0.1 to a server, and makes the
// faults a network makes between the two:
//   - Stall holds every byte both ways, losing none, until resumed;
//   - Cut silences it as a partition does: connections stay open, what
//     arrives either way is dropped, and new connections reach nothing;
//     lifting the cut closes the connections it silenced;
//   - Delay holds each chunk of the server's replies for a while.
//
// Its listener and connections close in t.Cleanup.
type Proxy struct {
	Addr   string // host:port to dial instead of the server's
	target string
	delay  atomic.Int64 // nanoseconds
	isCut  atomic.Bool

	mu      sync.Mutex // guards the fields below
	stalled bool
	resumed *sync.Cond // broadcast when stalled turns false
	conns   []net.Conn
}

// StartProxy starts a proxy to target (host:port).
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target}
	p.resumed = sync.NewCond(&p.mu)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { p.serve(c, &wg) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		p.Stall(false)
		p.closeAll()
		wg.Wait()
	})
	return p
}

// Stall holds every byte both ways (on) or lets them go on (off).
func (p *Proxy) Stall(on bool) {
	p.mu.Lock()
	p.stalled = on
	p.mu.Unlock()
	p.resumed.Broadcast()
}

// Cut silences the proxy (on) or ends the silence, closing the connections
// it silenced (off).
func (p *Proxy) Cut(on bool) {
	p.isCut.Store(on)
	if !on {
		p.closeAll()
	}
}

// Delay holds each chunk of the server's replies for d; 0 ends it.
func (p *Proxy) Delay(d time.Duration) { p.delay.Store(int64(d)) }

func (p *Proxy) serve(c net.Conn, wg *sync.WaitGroup) {
	p.track(c)
	if p.isCut.Load() {
		p.pipe(io.Discard, c, false)
		return
	}
	up, err := net.DialTimeout("tcp", p.target, time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.track(up)
	wg.Go(func() { p.pipe(up, c, false) })
	p.pipe(c, up, true)
}

func (p *Proxy) track(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns = append(p.conns, c)
}

func (p *Proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// pipe copies src to dst until either ends: held while stalled, dropped
// while cut, each chunk of a reply held for the delay.
func (p *Proxy) pipe(dst io.Writer, src net.Conn, reply bool) {
	defer func() {
		src.Close()
		if c, ok := dst.(net.Conn); ok && !p.isCut.Load() {
			c.Close() // while cut, the other side stays open and silent
		}
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		p.mu.Lock()
		for p.stalled {
			p.resumed.Wait()
		}
		p.mu.Unlock()
		if d := time.Duration(p.delay.Load()); reply && d > 0 && n > 0 {
			time.Sleep(d)
		}
		if n > 0 && !p.isCut.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
