package testserver

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Memcached is a memcached server on 127.0.0.1 (TCP only, UDP off).
type Memcached struct {
	Addr string // host:port

	p *proc
}

// StartMemcached starts memcached on a free port and returns once it answers "version".
func StartMemcached(t testing.TB) *Memcached {
	t.Helper()
	bin := lookBinary(t, "memcached", "memcached")
	port := freePort(t)
	m := &Memcached{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	m.p = newProc(t, &proc{
		name:    "memcached " + m.Addr,
		path:    bin,
		args:    []string{"-u", "root", "-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0"},
		logPath: filepath.Join(t.TempDir(), "memcached.log"),
		timeout: 10 * time.Second,
		// memcached takes up to 2s to act on SIGTERM, and it keeps nothing worth a clean exit.
		stopSig: syscall.SIGKILL,
		ready:   m.ready,
	})
	m.p.start()
	return m
}

// Stop kills the server; clients see their connections reset. It is idempotent.
func (m *Memcached) Stop() { m.p.stop() }

// Restart stops the server if it runs and starts an empty one on the same address.
func (m *Memcached) Restart() {
	m.p.t.Helper()
	m.p.restart()
}

func (m *Memcached) ready(ctx context.Context) error {
	ctx, cancel := attempt(ctx)
	defer cancel()
	line, err := askLine(ctx, m.Addr, "version\r\n")
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "VERSION ") {
		return fmt.Errorf("%w: version answered %q", errNotReady, line)
	}
	return nil
}
