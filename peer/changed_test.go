package peer

import (
	"testing"
	"time"
)

// isClosed reports whether ch is closed, without blocking.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestChangesWakeEveryWaiterOnce(t *testing.T) {
	c := newChanges()
	a, b := c.next(), c.next()
	if a != b || isClosed(a) {
		t.Fatal("before a swap: want one open channel for every waiter")
	}
	c.swapped()
	if !isClosed(a) {
		t.Fatal("after a swap: the waiters' channel is still open")
	}
	next := c.next()
	if isClosed(next) {
		t.Fatal("the channel handed out after a swap is already closed: it must wait for the next one")
	}
	c.swapped()
	if !isClosed(next) {
		t.Fatal("after a second swap: its channel is still open")
	}
}

// testChangedWakes checks Changed against a real ring swap: the channel it
// returned before a node joins is closed once the ring that lists the node
// is in place, and the version read then is that ring's.
func testChangedWakes(t *testing.T, zkAddrs []string, root string) {
	addrs := []string{"10.9.7.1:9001", "10.9.7.2:9001"}
	cs := startNodes(t, zkAddrs, root, addrs[0])
	waitConverged(t, cs, addrs[0])
	before, changed := cs[0].Changed()
	if isClosed(changed) {
		t.Fatal("Changed's channel is closed while no ring was swapped in")
	}
	cs = append(cs, startNodes(t, zkAddrs, root, addrs[1])...)
	select {
	case <-changed:
	case <-time.After(15 * time.Second):
		t.Fatal("no wake-up within 15s of a node joining")
	}
	after, _ := cs[0].Changed()
	if after == before || !cs[0].Ring().Has(addrs[1]) {
		t.Fatalf("woken at version %d (was %d), members %v; want a new version listing %s",
			after, before, cs[0].Ring().Members, addrs[1])
	}
}
