package memcache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	gomc "github.com/bradfitz/gomemcache/memcache"

	"github.com/faed/faed/pool"
	"github.com/faed/faed/scripts/testserver"
)

// Short intervals so fault tests run in seconds; the I/O timeout leaves room
// for the race detector.
const (
	testIOTimeout     = 400 * time.Millisecond
	testRetryInterval = 300 * time.Millisecond
	testThreshold     = 3
)

// testPoolConfig is a pool over servers with short timeouts and a quick breaker.
func testPoolConfig(servers ...string) PoolConfig {
	pc := serversPool(servers...)
	pc.IOTimeout = testIOTimeout
	pc.Pool = pool.Config{
		MaxOpen:           8,
		MaxIdle:           4,
		DialTimeout:       time.Second,
		IdleTimeout:       5 * time.Minute,
		WaitTimeout:       time.Second,
		HeartbeatInterval: 100 * time.Millisecond,
	}
	pc.Breaker = pool.BreakerConfig{FailureThreshold: testThreshold, RetryInterval: testRetryInterval, HalfOpenTrials: 1}
	return pc
}

// serversPool is DefaultPoolConfig over servers, as a section naming only
// servers decodes.
func serversPool(servers ...string) PoolConfig {
	pc := DefaultPoolConfig()
	pc.Servers = servers
	return pc
}

// startMemcached starts n memcached servers.
func startMemcached(t *testing.T, n int) ([]*testserver.Memcached, []string) {
	t.Helper()
	var ms []*testserver.Memcached
	var addrs []string
	for range n {
		m := testserver.StartMemcached(t)
		ms = append(ms, m)
		addrs = append(addrs, m.Addr)
	}
	return ms, addrs
}

// newTestClient builds a Client with the single pool "p", runs its heartbeats,
// and closes it when the test ends.
func newTestClient(t testing.TB, pc PoolConfig) *Client {
	t.Helper()
	c, err := New(Config{Pools: map[string]PoolConfig{"p": pc}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { c.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		c.Close()
		wg.Wait()
	})
	return c
}

// raw is an independent client for one server, to check what landed where.
func raw(addr string) *gomc.Client {
	c := gomc.New(addr)
	c.Timeout = 2 * time.Second
	return c
}

// rawHas reports whether the server at addr holds key with value.
func rawHas(t *testing.T, addr, key string, value []byte) bool {
	t.Helper()
	it, err := raw(addr).Get(key)
	if errors.Is(err, gomc.ErrCacheMiss) {
		return false
	}
	if err != nil {
		t.Fatalf("raw get %q from %s: %v", key, addr, err)
	}
	if string(it.Value) != string(value) {
		t.Fatalf("raw get %q from %s = %q, want %q", key, addr, it.Value, value)
	}
	return true
}

// serverStats returns the stats of the server addr in pool "p".
func serverStats(t testing.TB, c *Client, addr string) ServerStats {
	t.Helper()
	for _, ps := range c.Stats() {
		for _, s := range ps.Servers {
			if s.Server == addr {
				return s
			}
		}
	}
	t.Fatalf("no stats for server %s", addr)
	return ServerStats{}
}

func keyN(prefix string, i int) string { return fmt.Sprintf("%s:%d", prefix, i) }
