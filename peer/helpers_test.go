package peer

import (
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/faed/faed/scripts/testserver"
)

// quietLog returns a debug logger whose output is shown only if the test
// fails, or always with PEER_TEST_LOG=1. Writes after the test ends are
// harmless.
func quietLog(t testing.TB) *slog.Logger {
	lb := &testserver.LockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("PEER_TEST_LOG") == "1" {
			t.Logf("log of %s:\n%s", t.Name(), lb.String())
		}
	})
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// tcpProxy forwards loopback connections to target. block cuts every
// connection and refuses new ones until unblock: a network partition.
type tcpProxy struct {
	addr    string
	target  string
	ln      net.Listener
	blocked atomic.Bool
	wg      sync.WaitGroup

	mu    sync.Mutex // guards conns
	conns map[net.Conn]bool
}

func startProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]bool{}}
	p.wg.Go(p.accept)
	t.Cleanup(func() { ln.Close(); p.block(); p.wg.Wait() })
	return p
}

func (p *tcpProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		if !p.track(c, up) {
			c.Close()
			up.Close()
			continue
		}
		p.wg.Go(func() { pipe(c, up) })
		p.wg.Go(func() { pipe(up, c) })
	}
}

// track records the connections, unless the proxy is blocked.
func (p *tcpProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.blocked.Load() {
		return false
	}
	for _, c := range cs {
		p.conns[c] = true
	}
	return true
}

func pipe(dst, src net.Conn) {
	io.Copy(dst, src)
	dst.Close()
	src.Close()
}

func (p *tcpProxy) block() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blocked.Store(true)
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *tcpProxy) unblock() { p.blocked.Store(false) }
