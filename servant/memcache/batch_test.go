package memcache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	gomc "github.com/bradfitz/gomemcache/memcache"

	"github.com/faed/faed/scripts/testserver"
)

// TestBatchedGets has 64 callers get 40 stored keys and 10 missing ones,
// many of them the same at once, and checks each answer byte for byte, and
// that the counters count every get once.
func TestBatchedGets(t *testing.T) {
	_, addrs := startMemcached(t, 1)
	pc := testPoolConfig(addrs...)
	pc.Pool.MaxOpen, pc.Pool.MaxIdle = 64, 64
	c := newTestClient(t, pc)
	want := storeBatchKeys(t, c, 40)
	const callers, rounds, missing = 64, 50, 10
	var wg sync.WaitGroup
	for g := range callers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range rounds {
				i := r.IntN(len(want) + missing)
				if err := checkGet(c, keyN("b", i), want[keyN("b", i)]); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	st := serverStats(t, c, addrs[0])
	t.Logf("%d gets in %d multi-gets answering %d; %d connections dialled",
		st.Calls, st.Batches, st.Batched, st.Pool.Dials)
	if calls := uint64(callers*rounds + len(want)); st.Calls != calls || st.Latency.Count != calls || st.Errors != 0 {
		t.Errorf("calls %d, latency count %d, errors %d; want %d (the sets too), %[4]d, 0",
			st.Calls, st.Latency.Count, st.Errors, calls)
	}
	if st.Batches == 0 || st.Batched < 2*st.Batches || st.Batched > st.Calls {
		t.Errorf("%d multi-gets answered %d of %d gets; want some, each answering several", st.Batches, st.Batched, st.Calls)
	}
	if st.Pool.Dials > maxBatchesInFlight {
		t.Errorf("%d connections dialled for at most %d round trips at once", st.Pool.Dials, maxBatchesInFlight)
	}
}

// storeBatchKeys stores n keys b:0 … b:n-1 with values of their own, some
// binary or empty, and distinct flags, and returns them by key.
func storeBatchKeys(t *testing.T, c *Client, n int) map[string]item {
	t.Helper()
	want := make(map[string]item, n)
	for i := range n {
		v := bytes.Repeat([]byte(fmt.Sprintf("%d\r\nEND\r\n\x00", i)), i%7)
		want[keyN("b", i)] = item{value: v, flags: uint32(i * 1000003)}
		if err := c.Set(context.Background(), "p", keyN("b", i), v, uint32(i*1000003), 0); err != nil {
			t.Fatal(err)
		}
	}
	return want
}

// checkGet gets key and compares the answer with want, a miss if want.value
// is nil. It then overwrites the value it was given, so that a value shared
// with another caller shows (and the race detector sees it).
func checkGet(c *Client, key string, want item) error {
	v, f, err := c.Get(context.Background(), "p", key)
	switch {
	case want.value == nil && err != ErrMiss:
		return fmt.Errorf("Get(%s) = %q, %v; want ErrMiss", key, v, err)
	case want.value == nil:
		return nil
	case err != nil || !bytes.Equal(v, want.value) || f != want.flags || v == nil:
		return fmt.Errorf("Get(%s) = %q, %d, %v; want %q, %d", key, v, f, err, want.value, want.flags)
	}
	for i := range v {
		v[i] = 'X'
	}
	return nil
}

// heldClient is a client of memcached through a proxy, whose batcher allows
// one round trip at once, so that a test can hold it and queue gets behind.
func heldClient(t *testing.T, ioTimeout time.Duration) (*Client, *batcher, *testserver.Proxy, *testserver.Memcached) {
	t.Helper()
	ms, addrs := startMemcached(t, 1)
	p := testserver.StartProxy(t, addrs[0])
	pc := testPoolConfig(p.Addr)
	pc.IOTimeout = ioTimeout
	pc.Pool.HeartbeatInterval = time.Hour // no ping on the held connections
	c := newTestClient(t, pc)
	b := c.pools["p"].servers[0].gets
	b.maxInFlight = 1 // before any call
	return c, b, p, ms[0]
}

// result is one background Get's answer.
type result struct {
	value []byte
	flags uint32
	err   error
	took  time.Duration
}

// getAsync starts a Get of key with ctx and returns where its answer comes.
func getAsync(ctx context.Context, c *Client, key string) <-chan result {
	out := make(chan result, 1)
	start := time.Now()
	go func() {
		v, f, err := c.Get(ctx, "p", key)
		out <- result{v, f, err, time.Since(start)}
	}()
	return out
}

// holdRoundTrip stalls the proxy and starts a Get of key, which takes the
// batcher's one round trip and hangs in it until the stall ends.
func holdRoundTrip(t *testing.T, c *Client, b *batcher, p *testserver.Proxy, key string) <-chan result {
	t.Helper()
	p.Stall(true)
	held := getAsync(context.Background(), c, key)
	testserver.Eventually(t, "the held get takes the round trip", 5*time.Second, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.inFlight == 1
	})
	return held
}

// waitQueued waits until n gets wait in b's queue.
func waitQueued(t *testing.T, b *batcher, n int) {
	t.Helper()
	testserver.Eventually(t, fmt.Sprintf("%d gets queued", n), 5*time.Second, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		queued := 0
		for _, bt := range b.queue {
			queued += bt.left
		}
		return queued == n
	})
}

// TestBatchedGetCancelledWhileQueued: a queued caller whose ctx ends returns
// at once with its ctx's error; the batch goes on for the others.
func TestBatchedGetCancelledWhileQueued(t *testing.T) {
	c, b, p, _ := heldClient(t, 5*time.Second)
	for _, k := range []string{"a", "b"} {
		if err := c.Set(context.Background(), "p", k, []byte("value of "+k), 7, 0); err != nil {
			t.Fatal(err)
		}
	}
	held := holdRoundTrip(t, c, b, p, "a")
	ctx, cancel := context.WithCancel(context.Background())
	quitter := getAsync(ctx, c, "b")
	same, other, miss := getAsync(context.Background(), c, "b"), getAsync(context.Background(), c, "a"),
		getAsync(context.Background(), c, "none")
	waitQueued(t, b, 4)

	cancel()
	select {
	case r := <-quitter:
		if !errors.Is(r.err, context.Canceled) || !strings.Contains(r.err.Error(), p.Addr) {
			t.Errorf("cancelled queued Get = %q, %v; want an error naming %s wrapping context.Canceled", r.value, r.err, p.Addr)
		}
	case <-time.After(time.Second):
		t.Fatal("a queued Get did not return when its ctx was cancelled")
	}
	p.Stall(false)
	for name, r := range map[string]result{"held a": <-held, "queued b": <-same, "queued a": <-other} {
		if r.err != nil || !strings.HasPrefix(string(r.value), "value of ") || r.flags != 7 {
			t.Errorf("%s: Get = %q, %d, %v; want its value", name, r.value, r.flags, r.err)
		}
	}
	if r := <-miss; r.err != ErrMiss {
		t.Errorf("queued miss: Get = %q, %v; want ErrMiss", r.value, r.err)
	}
	st := serverStats(t, c, p.Addr)
	if st.Calls != 2+5 || st.Batches != 1 || st.Batched != 3 || st.Errors != 1 {
		t.Errorf("calls %d, multi-gets %d answering %d, errors %d; want 7 (2 sets), 1, 3, 1 (the cancelled one)",
			st.Calls, st.Batches, st.Batched, st.Errors)
	}
}

// TestBatchedGetAbandoned: a batch whose callers all gave up is not sent.
func TestBatchedGetAbandoned(t *testing.T) {
	c, b, p, _ := heldClient(t, 5*time.Second)
	held := holdRoundTrip(t, c, b, p, "a")
	ctx, cancel := context.WithCancel(context.Background())
	quitters := []<-chan result{getAsync(ctx, c, "b"), getAsync(ctx, c, "c")}
	waitQueued(t, b, 2)
	cancel()
	for _, q := range quitters {
		if r := <-q; !errors.Is(r.err, context.Canceled) {
			t.Errorf("cancelled queued Get = %v, want context.Canceled", r.err)
		}
	}
	p.Stall(false)
	if r := <-held; r.err != ErrMiss {
		t.Errorf("held Get = %v, want ErrMiss", r.err)
	}
	b.mu.Lock()
	queued, inFlight := len(b.queue), b.inFlight
	b.mu.Unlock()
	if st := serverStats(t, c, p.Addr); st.Batches != 0 || queued != 0 || inFlight != 0 {
		t.Errorf("%d multi-gets sent, %d batches queued, %d round trips in flight; want none", st.Batches, queued, inFlight)
	}
}

// TestBatchStalled: memcached stops answering while a batch waits and then
// runs; every caller in it fails with a timeout naming the server, the
// breaker counts the batch once, and gets succeed once memcached answers.
func TestBatchStalled(t *testing.T) {
	c, b, p, _ := heldClient(t, testIOTimeout)
	if err := c.Set(context.Background(), "p", "a", []byte("v"), 0, 0); err != nil {
		t.Fatal(err)
	}
	held := holdRoundTrip(t, c, b, p, "a")
	queued := []<-chan result{getAsync(context.Background(), c, "a"), getAsync(context.Background(), c, "a"),
		getAsync(context.Background(), c, "b")}
	waitQueued(t, b, 3)
	for i, q := range append(queued, held) {
		r := <-q
		if !errors.Is(r.err, os.ErrDeadlineExceeded) || !strings.Contains(r.err.Error(), p.Addr) {
			t.Errorf("get %d while stalled = %q, %v; want a timeout naming %s", i, r.value, r.err, p.Addr)
		}
		if r.took > 3*testIOTimeout {
			t.Errorf("get %d failed after %v, want within two I/O timeouts of %v", i, r.took, testIOTimeout)
		}
	}
	st := serverStats(t, c, p.Addr)
	if st.Batches != 1 || st.Errors != 4 || st.Pool.BrokenCloses != 2 || st.Pool.Breaker.ConsecutiveFailures != 2 {
		t.Errorf("multi-gets %d, errors %d, broken closes %d, breaker failures %d; want 1, 4, 2, 2 (the held get, the batch)",
			st.Batches, st.Errors, st.Pool.BrokenCloses, st.Pool.Breaker.ConsecutiveFailures)
	}
	p.Stall(false)
	testserver.EventuallyNil(t, "gets succeed after the stall", 5*time.Second, func() error {
		_, _, err := c.Get(context.Background(), "p", "a")
		return err
	})
}

// TestBatchRetriesStaleConnection: after a memcached restart, a batch runs
// on an idle connection the restart killed, which is replaced and the
// multi-get sent again: every caller gets its answer, the breaker counts
// nothing.
func TestBatchRetriesStaleConnection(t *testing.T) {
	c, b, _, m := heldClient(t, 5*time.Second)
	fill(t, c.pools["p"].servers[0], 2)
	m.Restart()
	if err := raw(m.Addr).Set(&gomc.Item{Key: "a", Value: []byte("after"), Flags: 3}); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	b.inFlight++ // the one round trip, taken by hand so the batch is the first call after the restart
	b.mu.Unlock()
	hit, miss := getAsync(context.Background(), c, "a"), getAsync(context.Background(), c, "none")
	waitQueued(t, b, 2)
	b.finished() // hands the round trip to the batch
	if r := <-hit; r.err != nil || string(r.value) != "after" || r.flags != 3 {
		t.Errorf("Get after the restart = %q, %d, %v; want %q, 3", r.value, r.flags, r.err, "after")
	}
	if r := <-miss; r.err != ErrMiss {
		t.Errorf("Get of a missing key after the restart = %v, want ErrMiss", r.err)
	}
	st := serverStats(t, c, c.pools["p"].servers[0].addr)
	if st.Batches != 1 || st.Pool.StaleCloses != 1 || st.Errors != 0 {
		t.Errorf("multi-gets %d, stale closes %d, errors %d; want 1, 1, 0", st.Batches, st.Pool.StaleCloses, st.Errors)
	}
	checkUntouched(t, st.Pool.Breaker)
}
