package memcache

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	gomc "github.com/bradfitz/gomemcache/memcache"
)

// Bounds of a batch. memcached reads a get line of any length, but one
// batch's keys and values travel together: the bounds keep a round trip
// short enough that the callers it answers do not wait on one another much.
const (
	maxBatchKeys     = 64
	maxBatchKeyBytes = 8 << 10 // the key line, spaces included: 32 keys of 250 bytes
)

// batcher makes the concurrent gets for one server share round trips, as a
// database's group commit makes concurrent commits share a disk flush.
//
// At most maxInFlight round trips to the server are under way at once. A get
// that finds fewer goes out at once, alone, on its caller's goroutine, just as
// without a batcher: a lone caller waits for nobody. A get that finds them all
// under way joins the batch queued behind them; when a round trip ends, its
// slot goes to the oldest queued batch, whose keys go out as one multi-get
// (gomemcache's GetMulti, one "gets k1 k2 ..." line) on one pooled connection,
// while the gets arriving meanwhile form the next batch. Under load one round
// trip so answers up to maxBatchKeys callers, and several run at once, so one
// slow reply does not hold up every caller.
//
// Each caller keeps a single get's contract. A key asked twice in a batch is
// sent once and answered to both, each with a value of its own. A miss is that
// caller's alone. A failed round trip fails every caller in it, and the pool
// and breaker hear of it once (Put); a stale connection is replaced and the
// multi-get sent again, as for any call. A caller whose ctx ends while its
// batch waits or runs returns its ctx's error at once; the batch goes on for
// the others, and if none is left, a queued batch is dropped and a running
// one interrupted (as a cancelled call is, blaming nobody).
//
// Counters (see ServerStats): each caller is one call, with its own outcome
// (hit, miss, or the round trip's error) and the round trip's time as its
// latency, so Calls and Misses count gets as without a batcher; Batches and
// Batched count the multi-gets and the calls they answered. A caller that
// gives up while queued counts as a call that got no connection.
//
// A batcher is safe for concurrent use.
type batcher struct {
	s           *server
	maxInFlight int // at least 1

	mu       sync.Mutex // guards inFlight, queue, and each queued batch's waiters and left
	inFlight int        // round trips under way, lone gets and batches
	queue    []*batch   // waiting for a round trip, oldest first; only the last takes new keys
}

// batch is the gets of one multi-get.
type batch struct {
	keys     []string             // distinct, in the order they came
	keyBytes int                  // the key line's length, a space before each key
	waiters  map[string][]*waiter // by key
	left     int                  // waiters that have not given up

	ctx    context.Context // of the round trip: cancelled when every waiter has given up
	cancel context.CancelFunc
	done   chan struct{} // closed when every waiter still there has its answer
}

// waiter is one caller's get in a batch.
type waiter struct {
	// claimed is set by whoever ends the waiter: the round trip, which then
	// sets the answer below, or the caller giving up. Only that one counts it.
	claimed atomic.Bool
	value   []byte
	flags   uint32
	err     error
}

func newBatcher(s *server, maxInFlight int) *batcher {
	return &batcher{s: s, maxInFlight: maxInFlight}
}

// get returns key's value and flags, or ErrMiss; errors are worded as
// server.do words them.
func (b *batcher) get(ctx context.Context, key string) ([]byte, uint32, error) {
	b.mu.Lock()
	if b.inFlight < b.maxInFlight {
		b.inFlight++
		b.mu.Unlock()
		defer b.finished()
		return b.s.getOne(ctx, key)
	}
	bt, w := b.joinLocked(key)
	b.mu.Unlock()
	select {
	case <-bt.done:
		return w.value, w.flags, w.err
	case <-ctx.Done():
		return b.giveUp(ctx, bt, w)
	}
}

// joinLocked adds a waiter for key to the batch forming at the queue's end,
// or to a new one if that one is full or abandoned.
func (b *batcher) joinLocked(key string) (*batch, *waiter) {
	var bt *batch
	if n := len(b.queue); n > 0 {
		bt = b.queue[n-1]
	}
	if bt == nil || !bt.takes(key) {
		bt = newBatch()
		b.queue = append(b.queue, bt)
	}
	w := new(waiter)
	if _, ok := bt.waiters[key]; !ok {
		bt.keys = append(bt.keys, key)
		bt.keyBytes += 1 + len(key)
	}
	bt.waiters[key] = append(bt.waiters[key], w)
	bt.left++
	return bt, w
}

func newBatch() *batch {
	ctx, cancel := context.WithCancel(context.Background())
	return &batch{waiters: make(map[string][]*waiter), ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// takes reports whether bt may take a waiter for key: it has waiters (one
// whose waiters all gave up has its ctx cancelled), and key is in it already
// or fits in its bounds.
func (bt *batch) takes(key string) bool {
	if bt.left == 0 {
		return false
	}
	if _, ok := bt.waiters[key]; ok {
		return true
	}
	return len(bt.keys) < maxBatchKeys && bt.keyBytes+1+len(key) <= maxBatchKeyBytes
}

// giveUp ends w's wait on bt when its caller's ctx is done. If the round trip
// has claimed w, its answer is a moment away (it is claimed after the reply
// is read), and w takes it.
func (b *batcher) giveUp(ctx context.Context, bt *batch, w *waiter) ([]byte, uint32, error) {
	if !w.claimed.CompareAndSwap(false, true) {
		<-bt.done
		return w.value, w.flags, w.err
	}
	b.mu.Lock()
	if bt.left--; bt.left == 0 {
		bt.cancel()
	}
	b.mu.Unlock()
	return nil, 0, b.s.getFailed(fmt.Errorf("%s: queued get: %w", b.s.addr, ctx.Err()))
}

// finished ends a round trip. Its slot goes to the oldest queued batch that
// has waiters, run on a goroutine of its own: the caller whose get ended has
// its answer and must not wait for others'.
func (b *batcher) finished() {
	b.mu.Lock()
	next := b.nextLocked()
	b.mu.Unlock()
	if next != nil {
		go b.runFrom(next)
	}
}

// nextLocked takes the oldest queued batch that has waiters off the queue,
// dropping the abandoned ones before it. If there is none, it frees the slot
// of the round trip that ended and returns nil.
func (b *batcher) nextLocked() *batch {
	for len(b.queue) > 0 {
		bt := b.queue[0]
		b.queue[0] = nil
		b.queue = b.queue[1:]
		if bt.left > 0 {
			return bt
		}
	}
	b.inFlight--
	return nil
}

// runFrom runs bt, then the batches queued meanwhile, in the slot bt was
// given, until the queue is empty.
func (b *batcher) runFrom(bt *batch) {
	for bt != nil {
		b.run(bt)
		b.mu.Lock()
		bt = b.nextLocked()
		b.mu.Unlock()
	}
}

// run sends bt's multi-get and answers its waiters.
func (b *batcher) run(bt *batch) {
	defer bt.cancel()
	var items map[string]*gomc.Item
	took, err := b.s.attempt(bt.ctx, func(cn *conn) error {
		var err error
		items, err = cn.getMulti(bt.keys, func(key string) bool { return bt.waiters[key] != nil })
		return err
	})
	answered := 0
	for key, ws := range bt.waiters {
		for i, w := range ws {
			if w.claimed.CompareAndSwap(false, true) {
				b.answer(w, items[key], i > 0, took, err)
				answered++
			}
		}
	}
	b.s.st.batch(answered)
	close(bt.done)
}

// answer sets w's answer from it (nil for a miss) and the round trip's
// outcome, and counts it. A duplicate gets a copy of the value: every
// caller owns the value it is given, as after a get of its own.
func (b *batcher) answer(w *waiter, it *gomc.Item, duplicate bool, took time.Duration, err error) {
	switch {
	case err != nil:
	case it == nil:
		err = ErrMiss
	case duplicate:
		w.value, w.flags = bytes.Clone(it.Value), it.Flags
	default:
		w.value, w.flags = it.Value, it.Flags
	}
	w.err = b.s.count(took, err)
}
