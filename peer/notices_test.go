package peer

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faed/faed/scripts/testserver"
)

// TestNotices publishes a topic through one node of three on a real
// ZooKeeper and checks that every node's handler runs within a second, and
// that the member list hooks run on every node when a member leaves.
func TestNotices(t *testing.T) {
	z := testserver.StartZooKeeper(t)
	addrs := []string{"n1:1", "n2:1", "n3:1"}
	cs := startNodes(t, []string{z.Addr}, "/notices-test", addrs...)
	waitConverged(t, cs, addrs...)

	fired := make([]atomic.Int64, len(cs))
	membersSeen := make([]atomic.Int64, len(cs))
	for i, c := range cs {
		c.Subscribe("lookup", func() { fired[i].Add(1) })
		c.OnMembersChange(func() { membersSeen[i].Add(1) })
	}
	// The first read of a topic fires too: a node cannot know what it missed.
	testserver.EventuallyNil(t, "the first read to fire every handler", 5*time.Second, func() error { return allAtLeast(fired, 1) })
	base := make([]int64, len(cs))
	for i := range fired {
		base[i] = fired[i].Load()
	}

	for round := range 3 {
		start := time.Now()
		if err := cs[round%len(cs)].Publish("lookup"); err != nil {
			t.Fatalf("publish through %s: %v", cs[round%len(cs)].self, err)
		}
		testserver.EventuallyNil(t, "the notice to reach every node", time.Second, func() error {
			for i := range fired {
				if got := fired[i].Load(); got <= base[i] {
					return fmt.Errorf("%s: handler ran %d times, want more than %d", cs[i].self, got, base[i])
				}
			}
			return nil
		})
		t.Logf("round %d: every node notified %v after publishing", round, time.Since(start).Round(time.Microsecond))
		for i := range fired {
			base[i] = fired[i].Load()
		}
	}
	if s := stats(cs[0]); s.Notices.Published != 1 || s.Notices.Received < 4 {
		t.Errorf("%s notice stats %+v, want 1 published and at least 4 received", cs[0].self, s.Notices)
	}

	cs[2].Leave()
	testserver.EventuallyNil(t, "the member change to be seen", 5*time.Second, func() error { return allAtLeast(membersSeen[:2], 1) })
}

func allAtLeast(counts []atomic.Int64, n int64) error {
	for i := range counts {
		if got := counts[i].Load(); got < n {
			return fmt.Errorf("counter %d is %d, want at least %d", i, got, n)
		}
	}
	return nil
}

// TestPublishWithoutZooKeeper: a one-node cluster has nobody to tell.
func TestPublishWithoutZooKeeper(t *testing.T) {
	c, err := New(DefaultConfig(), quietLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Publish("lookup"); err != nil {
		t.Errorf("publish on a one-node cluster: %v, want nil", err)
	}
}
