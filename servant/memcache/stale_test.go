package memcache

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gomc "github.com/bradfitz/gomemcache/memcache"

	"github.com/faed/faed/pool"
)

// staleConfig keeps idle more connections than the breaker's threshold, with
// a heartbeat too slow to find them dead first.
func staleConfig(addr string) PoolConfig {
	pc := testPoolConfig(addr)
	pc.Pool.MaxIdle, pc.Pool.MaxOpen = 8, 8
	pc.Pool.HeartbeatInterval = time.Hour
	return pc
}

// TestRestartRetriesStaleConnections fills the pool, restarts memcached and
// runs an incr on each of the 8 idle connections, now dead, at once. Each
// fails before the server can have run it, runs again on a new connection,
// and the breaker (threshold 3) counts nothing: every incr applies once.
func TestRestartRetriesStaleConnections(t *testing.T) {
	ms, addrs := startMemcached(t, 1)
	c := newTestClient(t, staleConfig(addrs[0]))
	s := c.pools["p"].servers[0]
	fill(t, s, 8)
	ms[0].Restart()
	if err := raw(addrs[0]).Set(&gomc.Item{Key: "n", Value: []byte("0")}); err != nil {
		t.Fatal(err)
	}
	for i, err := range doAtOnce(s, 8, func(cn *conn) error { _, err := cn.incrDecr((*gomc.Client).Increment, "n", 1); return err }) {
		if err != nil {
			t.Errorf("incr %d after the restart: %v", i, err)
		}
	}
	if it, err := raw(addrs[0]).Get("n"); err != nil || string(it.Value) != "8" {
		t.Errorf("n after 8 incrs = %v, %v; want 8", it, err)
	}
	st := serverStats(t, c, addrs[0])
	if st.Pool.StaleCloses != 8 || st.Pool.BrokenCloses != 0 || st.Errors != 0 {
		t.Errorf("stale closes %d, broken closes %d, errors %d; want 8, 0, 0",
			st.Pool.StaleCloses, st.Pool.BrokenCloses, st.Errors)
	}
	checkUntouched(t, st.Pool.Breaker)
}

// TestRestartCallsSucceedAtOnce is the same through the public calls, from 8
// callers at once, with no wait after the restart.
func TestRestartCallsSucceedAtOnce(t *testing.T) {
	ms, addrs := startMemcached(t, 1)
	c := newTestClient(t, staleConfig(addrs[0]))
	fill(t, c.pools["p"].servers[0], 8)
	ms[0].Restart()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			key := keyN("k", i)
			for range 5 {
				if err := c.Set(context.Background(), "p", key, []byte("v"), 0, 0); err != nil {
					t.Errorf("Set after the restart: %v", err)
				}
				if n, err := c.Increment(context.Background(), "p", key+"n", 1); err != ErrMiss || n != 0 {
					t.Errorf("Increment of a missing key after the restart = %d, %v; want 0, ErrMiss", n, err)
				}
			}
		})
	}
	wg.Wait()
	st := serverStats(t, c, addrs[0])
	if st.Pool.StaleCloses == 0 || st.Errors != 0 {
		t.Errorf("stale closes %d, errors %d; want some stale closes and no error", st.Pool.StaleCloses, st.Errors)
	}
	t.Logf("%d of 8 idle connections found stale and replaced", st.Pool.StaleCloses)
	checkUntouched(t, st.Pool.Breaker)
}

// fill leaves n idle connections in s's pool.
func fill(t *testing.T, s *server, n int) {
	t.Helper()
	for i, err := range doAtOnce(s, n, func(cn *conn) error { _, err := cn.delete("none"); return err }) {
		if err != nil {
			t.Fatalf("call %d filling the pool: %v", i, err)
		}
	}
	if st := s.conns.Stats(); st.Idle != n {
		t.Fatalf("%d idle connections after filling, want %d", st.Idle, n)
	}
}

// doAtOnce runs op through s.do from n goroutines at once, each on its own
// connection: the first run of op in each waits until all n hold one. It
// returns their errors.
func doAtOnce(s *server, n int, op func(*conn) error) []error {
	var holding atomic.Int32
	all := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.do(context.Background(), func(cn *conn) error {
				if holding.Add(1) == int32(n) {
					close(all)
				}
				select {
				case <-all:
				case <-time.After(5 * time.Second):
					return errors.New("doAtOnce: not every goroutine got a connection")
				}
				return op(cn)
			})
		})
	}
	wg.Wait()
	return errs
}

func checkUntouched(t *testing.T, br pool.BreakerSnapshot) {
	t.Helper()
	if br.State != pool.StateClosed || br.ConsecutiveFailures != 0 || br.Opens != 0 {
		t.Errorf("breaker %+v; want closed, never opened, no failures", br)
	}
}

func TestStaleOnlyWhenNothingCameBack(t *testing.T) {
	tests := []struct {
		name    string
		replies []string // what the server answers on each connection before it closes it
		want    error    // the second Get's error, read from its text
		stale   uint64   // connections replaced by Redial
		broken  uint64   // connections closed as broken, each a breaker failure
		dials   uint64
	}{
		{name: "closed while idle: retried", replies: []string{"END\r\n"}, want: ErrMiss, stale: 1, dials: 2},
		{name: "reply cut in its first line: not retried", replies: []string{"END\r\n", "VALUE k"},
			want: io.EOF, broken: 1, dials: 1},
		{name: "reply cut in its value: not retried", replies: []string{"END\r\n", "VALUE k 0 5\r\nab"},
			want: io.ErrUnexpectedEOF, broken: 1, dials: 1},
		{name: "reply cut before END: not retried", replies: []string{"END\r\n", "VALUE k 0 5\r\nhello\r\n"},
			want: io.EOF, broken: 1, dials: 1},
		{name: "fresh connection dropped: not retried", replies: nil, want: errAny, broken: 2, dials: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := fakeServer(t, replyThenClose(tt.replies...))
			c := newTestClient(t, testPoolConfig(addr))
			c.Get(context.Background(), "p", "k") // dials; leaves the connection idle if it was answered
			_, _, err := c.Get(context.Background(), "p", "k")
			if tt.want == errAny && (err == nil || err == ErrMiss) || tt.want != errAny && !errors.Is(err, tt.want) {
				t.Fatalf("second Get = %v, want %v", err, tt.want)
			}
			st := serverStats(t, c, addr).Pool
			if st.StaleCloses != tt.stale || st.BrokenCloses != tt.broken || st.Dials != tt.dials ||
				st.Breaker.ConsecutiveFailures != int(tt.broken) {
				t.Errorf("stale %d, broken %d, dials %d, breaker failures %d; want %d, %d, %d, %d",
					st.StaleCloses, st.BrokenCloses, st.Dials, st.Breaker.ConsecutiveFailures,
					tt.stale, tt.broken, tt.dials, tt.broken)
			}
		})
	}
}

// errAny stands for any connection error in TestStaleOnlyWhenNothingCameBack.
var errAny = errors.New("any connection error")

// replyThenClose answers the first commands on each connection with replies,
// one each, then closes it at once; with no replies, as soon as it is accepted.
func replyThenClose(replies ...string) func(c net.Conn) {
	return func(c net.Conn) {
		defer c.Close()
		r := bufio.NewReader(c)
		for _, reply := range replies {
			if _, err := r.ReadString('\n'); err != nil {
				return
			}
			if _, err := io.WriteString(c, reply); err != nil {
				return
			}
		}
	}
}
