package memcache

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faed/faed/scripts/testserver"
)

// Integration tests of the five calls against a real memcached.

func TestSetGet(t *testing.T) {
	_, addrs := startMemcached(t, 1)
	c := newTestClient(t, testPoolConfig(addrs...))
	tests := []struct {
		name  string
		key   string
		value []byte
		flags uint32
	}{
		{name: "text", key: "greeting", value: []byte("hello"), flags: 0},
		{name: "binary with CRLF", key: "bin", value: []byte("a\r\nEND\r\n\x00\xff"), flags: 7},
		{name: "empty value", key: "empty", value: []byte{}, flags: math.MaxUint32},
		{name: "large", key: "large", value: bytes.Repeat([]byte("x"), 512<<10), flags: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := c.Set(context.Background(), "p", tt.key, tt.value, tt.flags, 0); err != nil {
				t.Fatalf("Set: %v", err)
			}
			v, f, err := c.Get(context.Background(), "p", tt.key)
			if err != nil || !bytes.Equal(v, tt.value) || f != tt.flags {
				t.Fatalf("Get = %.40q, %d, %v; want %.40q, %d", v, f, err, tt.value, tt.flags)
			}
			if !rawHas(t, addrs[0], tt.key, tt.value) {
				t.Fatal("an independent client does not see the value")
			}
		})
	}
}

func TestGetMiss(t *testing.T) {
	_, addrs := startMemcached(t, 1)
	c := newTestClient(t, testPoolConfig(addrs...))
	for range 20 {
		v, _, err := c.Get(context.Background(), "p", "nothing-here")
		if err != ErrMiss || v != nil {
			t.Fatalf("Get of a missing key = %q, %v; want nil, ErrMiss", v, err)
		}
	}
	// A miss is an answer: the connection is reused and the breaker stays calm.
	st := serverStats(t, c, addrs[0])
	if st.Pool.Dials != 1 || st.Misses != 20 || st.Errors != 0 || st.Pool.Breaker.ConsecutiveFailures != 0 {
		t.Errorf("after 20 misses: dials %d, misses %d, errors %d, breaker failures %d; want 1, 20, 0, 0",
			st.Pool.Dials, st.Misses, st.Errors, st.Pool.Breaker.ConsecutiveFailures)
	}
}

func TestAdd(t *testing.T) {
	_, addrs := startMemcached(t, 1)
	c := newTestClient(t, testPoolConfig(addrs...))
	if ok, err := c.Add(context.Background(), "p", "a", []byte("first"), 0, 0); !ok || err != nil {
		t.Fatalf("Add of a new key = %v, %v; want true, nil", ok, err)
	}
	if ok, err := c.Add(context.Background(), "p", "a", []byte("second"), 0, 0); ok || err != nil {
		t.Fatalf("Add of an existing key = %v, %v; want false, nil", ok, err)
	}
	if v, _, _ := c.Get(context.Background(), "p", "a"); string(v) != "first" {
		t.Errorf("after a refused Add the value is %q, want %q", v, "first")
	}
}

func TestDelete(t *testing.T) {
	_, addrs := startMemcached(t, 1)
	c := newTestClient(t, testPoolConfig(addrs...))
	if ok, err := c.Delete(context.Background(), "p", "d"); ok || err != nil {
		t.Fatalf("Delete of a missing key = %v, %v; want false, nil", ok, err)
	}
	c.Set(context.Background(), "p", "d", []byte("v"), 0, 0)
	if ok, err := c.Delete(context.Background(), "p", "d"); !ok || err != nil {
		t.Fatalf("Delete of a present key = %v, %v; want true, nil", ok, err)
	}
	if _, _, err := c.Get(context.Background(), "p", "d"); err != ErrMiss {
		t.Errorf("Get after Delete = %v, want ErrMiss", err)
	}
}

func TestIncrement(t *testing.T) {
	_, addrs := startMemcached(t, 1)
	c := newTestClient(t, testPoolConfig(addrs...))
	if v, err := c.Increment(context.Background(), "p", "n", 1); v != 0 || err != ErrMiss {
		t.Fatalf("Increment of a missing key = %d, %v; want 0, ErrMiss", v, err)
	}
	if _, _, err := c.Get(context.Background(), "p", "n"); err != ErrMiss {
		t.Fatalf("Increment created the missing key: Get = %v", err)
	}
	c.Set(context.Background(), "p", "n", []byte("10"), 0, 0)
	steps := []struct {
		delta, want int64
	}{{5, 15}, {-3, 12}, {-100, 0}, {math.MaxInt64, math.MaxInt64}, {1, math.MinInt64}, {math.MinInt64, 0}}
	for _, s := range steps {
		if v, err := c.Increment(context.Background(), "p", "n", s.delta); v != s.want || err != nil {
			t.Fatalf("Increment(%d) = %d, %v; want %d", s.delta, v, err, s.want)
		}
	}
}

func TestIncrementNonNumeric(t *testing.T) {
	_, addrs := startMemcached(t, 1)
	c := newTestClient(t, testPoolConfig(addrs...))
	c.Set(context.Background(), "p", "s", []byte("abc"), 0, 0)
	_, err := c.Increment(context.Background(), "p", "s", 1)
	if !errors.Is(err, ErrServer) || !strings.Contains(err.Error(), "non-numeric") {
		t.Fatalf("Increment of text = %v, want an ErrServer about a non-numeric value", err)
	}
	if st := serverStats(t, c, addrs[0]); st.Pool.BrokenCloses != 0 {
		t.Errorf("an answered error closed the connection")
	}
}

func TestValueTooLarge(t *testing.T) {
	_, addrs := startMemcached(t, 1)
	c := newTestClient(t, testPoolConfig(addrs...))
	err := c.Set(context.Background(), "p", "big", make([]byte, 2<<20), 0, 0) // memcached's default item limit is 1 MB
	if !errors.Is(err, ErrServer) {
		t.Fatalf("Set of 2 MB = %v, want an ErrServer", err)
	}
	if err := c.Set(context.Background(), "p", "small", []byte("ok"), 0, 0); err != nil {
		t.Fatalf("Set after a refused one: %v", err)
	}
	if st := serverStats(t, c, addrs[0]); st.Pool.BrokenCloses != 0 || st.Pool.Dials != 1 {
		t.Errorf("broken closes %d, dials %d; want the connection kept", st.Pool.BrokenCloses, st.Pool.Dials)
	}
}

func TestExpiration(t *testing.T) {
	_, addrs := startMemcached(t, 1)
	c := newTestClient(t, testPoolConfig(addrs...))
	if err := c.Set(context.Background(), "p", "brief", []byte("v"), 0, 1); err != nil {
		t.Fatal(err)
	}
	testserver.EventuallyNil(t, "key with exp 1 expires", 5*time.Second, func() error {
		if _, _, err := c.Get(context.Background(), "p", "brief"); err != ErrMiss {
			return errors.New("still there")
		}
		return nil
	})
}

func TestBadInput(t *testing.T) {
	_, addrs := startMemcached(t, 1)
	c := newTestClient(t, testPoolConfig(addrs...))
	_, _, err := c.Get(context.Background(), "nope", "k")
	if !errors.Is(err, ErrUnknownPool) || err.Error() != `memcache: unknown pool "nope"` {
		t.Errorf("unknown pool: %v", err)
	}
	for _, key := range []string{"", "a b", strings.Repeat("k", 251)} {
		if err := c.Set(context.Background(), "p", key, nil, 0, 0); !errors.Is(err, ErrBadKey) {
			t.Errorf("Set(%.20q) = %v, want ErrBadKey", key, err)
		}
	}
	if st := serverStats(t, c, addrs[0]); st.Calls != 0 {
		t.Errorf("bad input reached the server: %d calls", st.Calls)
	}
}

func TestConnectionBound(t *testing.T) {
	_, addrs := startMemcached(t, 1)
	pc := testPoolConfig(addrs...)
	pc.Pool.MaxOpen, pc.Pool.MaxIdle = 2, 2
	pc.BatchGets = false // batched gets wait in the batcher, never for the pool (TestBatchedGets)
	c := newTestClient(t, pc)
	c.Set(context.Background(), "p", "k", bytes.Repeat([]byte("v"), 64<<10), 0, 0)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 20 {
				if _, _, err := c.Get(context.Background(), "p", "k"); err != nil {
					t.Errorf("Get: %v", err)
					return
				}
				if open := serverStats(t, c, addrs[0]).Pool.Open; open > 2 {
					t.Errorf("%d connections open, max_open is 2", open)
				}
			}
		})
	}
	wg.Wait()
	if st := serverStats(t, c, addrs[0]); st.Pool.Dials > 2 || st.Pool.Waits == 0 {
		t.Errorf("dials %d, waits %d; want at most 2 dials and some waiting", st.Pool.Dials, st.Pool.Waits)
	}
}

func TestStats(t *testing.T) {
	_, addrs := startMemcached(t, 2)
	c := newTestClient(t, testPoolConfig(addrs...))
	for i := range 50 {
		c.Set(context.Background(), "p", keyN("s", i), []byte("v"), 0, 0)
		c.Get(context.Background(), "p", keyN("s", i))
	}
	ps := c.Stats()
	if len(ps) != 1 || ps[0].Name != "p" || ps[0].Selection != "standard" || len(ps[0].Servers) != 2 {
		t.Fatalf("Stats = %+v", ps)
	}
	var calls uint64
	for i, s := range ps[0].Servers {
		calls += s.Calls
		l := s.Latency
		if s.Server != addrs[i] || l.Count != s.Calls || l.P50 <= 0 || l.P99 < l.P50 || l.Mean <= 0 {
			t.Errorf("server %d stats: %+v", i, s)
		}
		if s.Pool.Breaker.State.String() != "closed" {
			t.Errorf("breaker of %s is %v", s.Server, s.Pool.Breaker.State)
		}
	}
	if calls != 100 {
		t.Errorf("%d calls counted, want 100", calls)
	}
}
