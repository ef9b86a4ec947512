package memcache

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	gomc "github.com/bradfitz/gomemcache/memcache"

	"github.com/faed/faed/pool"
	"github.com/faed/faed/scripts/testserver"
)

func BenchmarkPick(b *testing.B) {
	servers := ringServers(10)
	for _, sel := range []string{SelectStandard, SelectConsistent, SelectPHPConsistent} {
		b.Run(sel, func(b *testing.B) {
			s := newSelector(PoolConfig{Servers: servers, Selection: sel, Replicas: 2}.withDefaults())
			keys := make([]string, 1024)
			for i := range keys {
				keys[i] = keyN("user:session", i)
			}
			b.ReportAllocs()
			n := 0
			for i := 0; b.Loop(); i++ {
				n += s.pick(keys[i%len(keys)])[0]
			}
			_ = n
		})
	}
}

// BenchmarkGet measures a 100-byte hit through Client against a real
// memcached: from one caller, and from 64 at once as in make bench (their
// gets batched, as by default: see BenchmarkGetBatched), beside
// the floor of the same gets on bare connections and beside gomemcache on its
// own (its own pool, no breaker, no counters) as a yardstick. cpu-ns/op is this process's CPU time per get, the client side
// only: memcached runs in a process of its own.
func BenchmarkGet(b *testing.B) {
	m := testserver.StartMemcached(b)
	pc := testPoolConfig(m.Addr)
	pc.Pool.MaxOpen, pc.Pool.MaxIdle = benchCallers, benchCallers
	c := newTestClient(b, pc)
	value := make([]byte, 100)
	if err := c.Set(context.Background(), "p", "bench", value, 0, 0); err != nil {
		b.Fatal(err)
	}
	get := func() error { _, _, err := c.Get(context.Background(), "p", "bench"); return err }
	b.Run("client", func(b *testing.B) { benchSerial(b, get) })
	b.Run("client-64", func(b *testing.B) { benchCallers64(b, func() func() error { return get }) })
	b.Run("floor-64", func(b *testing.B) {
		benchCallers64(b, func() func() error { return bareGetter(b, m.Addr, "bench") })
	})
	b.Run("gomemcache", func(b *testing.B) {
		r := raw(m.Addr)
		benchSerial(b, func() error { _, err := r.Get("bench"); return err })
	})
}

// benchCallers is how many goroutines call at once in the -64 benchmarks.
const benchCallers = 64

// benchSerial runs call b.N times from one goroutine.
func benchSerial(b *testing.B, call func() error) {
	b.ReportAllocs()
	defer measureCPU(b)()
	for b.Loop() {
		if err := call(); err != nil {
			b.Fatal(err)
		}
	}
}

// benchCallers64 runs b.N calls from benchCallers goroutines, each with the
// call newCall returns it.
func benchCallers64(b *testing.B, newCall func() func() error) {
	b.ReportAllocs()
	b.SetParallelism((benchCallers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	defer measureCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		call := newCall()
		for pb.Next() {
			if err := call(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// measureCPU starts measuring; the function it returns reports the process's
// CPU time per iteration since then as cpu-ns/op.
func measureCPU(b *testing.B) (report func()) {
	start, ok := processCPU()
	return func() {
		end, _ := processCPU()
		if ok && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

// bareGetter returns a get of key on a connection of its own, with nothing
// around the round trip: no pool, deadline, counters or value copy. It is the
// floor a client's get cannot beat.
func bareGetter(b *testing.B, addr, key string) func() error {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() })
	req, r := []byte("get "+key+"\r\n"), bufio.NewReader(nc)
	return func() error {
		if _, err := nc.Write(req); err != nil {
			return err
		}
		for {
			line, err := r.ReadSlice('\n')
			if err != nil || string(line) == "END\r\n" {
				return err
			}
		}
	}
}

func BenchmarkSet(b *testing.B) {
	m := testserver.StartMemcached(b)
	c := newTestClient(b, testPoolConfig(m.Addr))
	value := make([]byte, 100)
	benchSerial(b, func() error { return c.Set(context.Background(), "p", "bench", value, 0, 0) })
}

// BenchmarkGetInMemory measures the client's own cost of a get, from two
// callers at once: Client.Get with its pool, breaker and counters, over
// connections that answer from memory, so no syscall hides it. Setting the
// deadline is a no-op there; on a socket it costs about 0.1µs more.
func BenchmarkGetInMemory(b *testing.B) {
	c, err := New(Config{Pools: map[string]PoolConfig{"p": serversPool("mem:1")}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	s := c.pools["p"].servers[0]
	s.conns.Close() // never dialled; replaced before any call or Run
	reply := "VALUE bench 0 100\r\n" + string(make([]byte, 100)) + "\r\nEND\r\n"
	s.conns, err = pool.New("mem:1", pool.DefaultConfig(), s.conns.Breaker(), pool.Funcs[*conn]{
		Dial:     func(context.Context) (*conn, error) { return newMemConn(reply), nil },
		Close:    (*conn).close,
		IsBroken: isBroken,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	defer measureCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := c.Get(context.Background(), "p", "bench"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// memConn is a net.Conn that answers every write with the same reply.
type memConn struct {
	net.Conn // nil: methods not defined here are not to be called
	reply    string
	unread   string
}

func newMemConn(reply string) *conn { return newConn(&memConn{reply: reply}, "mem:1") }

func (m *memConn) Write(p []byte) (int, error) { m.unread = m.reply; return len(p), nil }

func (m *memConn) Read(p []byte) (int, error) {
	n := copy(p, m.unread)
	m.unread = m.unread[n:]
	return n, nil
}

func (m *memConn) SetDeadline(time.Time) error { return nil }
func (m *memConn) Close() error                { return nil }

// BenchmarkGetBatched measures 100-byte hits from 64 callers at once, each
// asking a key of its own or all asking one, with gets sent alone (off) and
// batched with several bounds on the round trips in flight; in-flight-2 is
// the default (maxBatchesInFlight). cpu-ns/op is this process's CPU time per
// get; memcached's own is spared by batching too, but not measured here.
func BenchmarkGetBatched(b *testing.B) {
	m := testserver.StartMemcached(b)
	value := make([]byte, 100)
	for i := range benchCallers {
		if err := raw(m.Addr).Set(&gomc.Item{Key: keyN("bench", i), Value: value}); err != nil {
			b.Fatal(err)
		}
	}
	for _, keys := range []int{benchCallers, 1} {
		for _, inFlight := range []int{0, 1, 2, 4, 8} {
			name := fmt.Sprintf("keys-%d/in-flight-%d", keys, inFlight)
			if inFlight == 0 {
				name = fmt.Sprintf("keys-%d/off", keys)
			}
			b.Run(name, func(b *testing.B) {
				c := batchedClient(b, m.Addr, inFlight)
				var next atomic.Int64
				benchCallers64(b, func() func() error {
					key := keyN("bench", int(next.Add(1))%keys)
					return func() error { _, _, err := c.Get(context.Background(), "p", key); return err }
				})
			})
		}
	}
}

// batchedClient is a client of addr with 64 connections, whose batcher keeps
// at most inFlight round trips under way; with 0, gets are not batched.
func batchedClient(b *testing.B, addr string, inFlight int) *Client {
	pc := testPoolConfig(addr)
	pc.Pool.MaxOpen, pc.Pool.MaxIdle = benchCallers, benchCallers
	pc.BatchGets = inFlight > 0
	c := newTestClient(b, pc)
	if s := c.pools["p"].servers[0]; s.gets != nil {
		s.gets.maxInFlight = inFlight // before any call
	}
	return c
}
