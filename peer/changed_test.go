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

// testChangedWakes checks Changed against a real plan change: the channel
// it returned is closed once the plan znode was written, and the plan
// version read then is the new one.
func testChangedWakes(t *testing.T, zkAddrs []string, root string) {
	cs := startNodes(t, zkAddrs, root, "10.9.7.1:9001")
	waitMap(t, cs...)
	before, changed := cs[0].Changed()
	plan := cs[0].PlanVersion()
	if isClosed(changed) {
		t.Fatal("Changed's channel is closed while no view was swapped in")
	}
	admin := adminConn(t, zkAddrs)
	if _, err := admin.Set(root+"/plan", []byte(`{"coordinator":"someone"}`), -1); err != nil {
		t.Fatal(err)
	}
	// A view read again unchanged (after a session event, say) may wake
	// the channel first: callers check again, and so does this test, on
	// each wake, until the plan written shows, within 15s.
	deadline := time.After(15 * time.Second)
	for {
		select {
		case <-changed:
		case <-deadline:
			t.Fatal("no wake-up with a newer plan within 15s of a plan change")
		}
		var after uint64
		after, changed = cs[0].Changed()
		if after != before {
			t.Fatalf("woken at map %d (was %d), plan %d (was %d); want the same map", after, before, cs[0].PlanVersion(), plan)
		}
		if cs[0].PlanVersion() > plan {
			return
		}
	}
}
