package peer

import "sync"

// changes wakes whoever waits for the next ring swap, like context.Done():
// next returns a channel that swapped closes. Safe for concurrent use; the
// zero value is not ready: use newChanges.
type changes struct {
	mu sync.Mutex // guards ch
	ch chan struct{}
}

func newChanges() *changes { return &changes{ch: make(chan struct{})} }

// next returns the channel the next swapped closes.
func (c *changes) next() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ch
}

// swapped closes the current channel and makes the next one. Call it after
// the new ring is in place, so that a waiter woken by it reads that ring.
func (c *changes) swapped() {
	c.mu.Lock()
	defer c.mu.Unlock()
	close(c.ch)
	c.ch = make(chan struct{})
}

// Changed returns the version of the ring Owner answers by now, and a
// channel closed when a ring swapped in after that one replaces it: read
// the version again then (it may even have moved before you wait). It does
// not block. A waiter must bound its wait itself (a ctx, a timer): without
// ZooKeeper, or with a stale ring, the channel may stay open for good.
func (c *Cluster) Changed() (version uint64, next <-chan struct{}) {
	// The channel first: a swap after this read closes it, whether or not
	// the version read below already shows that swap.
	next = c.changes.next()
	return c.Ring().Version, next
}

// ringSwapped is the membership's ring hook: the peer pools and the hooks
// registered with OnRingChange (ringChanged), then the waiters of Changed,
// so that a woken waiter finds the caches already in line with the ring.
func (c *Cluster) ringSwapped(r *Ring) {
	c.ringChanged(r)
	c.changes.swapped()
}
