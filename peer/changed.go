package peer

import "sync"

// changes wakes whoever waits for the next swap of a view, like context.Done():
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
// the new view is in place, so that a waiter woken by it reads that view.
func (c *changes) swapped() {
	c.mu.Lock()
	defer c.mu.Unlock()
	close(c.ch)
	c.ch = make(chan struct{})
}

// membersSwapped is the membership's member list hook: the peer pools and
// the hooks registered with OnMembersChange (membersChanged), then the
// coordinator, which replans for the new members.
func (c *Cluster) membersSwapped(l *MemberList) {
	c.membersChanged(l)
	select {
	case c.wake <- struct{}{}:
	default:
	}
}
