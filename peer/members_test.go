package peer

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/go-zookeeper/zk"
)

// newTestMembership returns a membership whose apply the tests drive
// directly, as Run would after reading the members, without a ZooKeeper
// server. It records the member lists it swaps in.
func newTestMembership(t *testing.T) (*Membership, *[]*MemberList) {
	t.Helper()
	var swaps []*MemberList
	m, err := newMembership(withTestDefaults(Config{ZooKeeper: []string{"127.0.0.1:1"}, Advertise: "a:1"}), quietLog(t),
		func(l *MemberList) { swaps = append(swaps, l) })
	if err != nil {
		t.Fatal(err)
	}
	m.state = zk.StateHasSession // as if connected
	return m, &swaps
}

func TestMembershipStartsWithItselfAndStale(t *testing.T) {
	m, _ := newTestMembership(t)
	if l := m.MemberList(); !slices.Equal(l.Members, []string{"a:1"}) || l.Version != 0 {
		t.Fatalf("initial member list %v version %d, want [a:1] version 0", l.Members, l.Version)
	}
	if s := m.Stats(); !s.Stale || s.StaleReason == "" || s.StaleSince.IsZero() {
		t.Fatalf("initial stats %+v: want stale with a reason and a time", s)
	}
}

func TestMembershipNeverAppliesAnEmptyList(t *testing.T) {
	m, swaps := newTestMembership(t)
	if err := m.apply([]string{"b:1", "a:1"}, &zk.Stat{Cversion: 4}, false); err != nil {
		t.Fatal(err)
	}
	if err := m.apply(nil, &zk.Stat{Cversion: 5}, false); err != nil {
		t.Fatal(err)
	}
	l := m.MemberList()
	if l.Version != 4 || !slices.Equal(l.Members, []string{"a:1", "b:1"}) {
		t.Fatalf("after an empty list: member list %v version %d, want the last one kept", l.Members, l.Version)
	}
	if s := m.Stats(); !s.Stale || !strings.Contains(s.StaleReason, "no members") {
		t.Fatalf("after an empty list: stats %+v, want stale saying why", s)
	}
	if err := m.apply([]string{"a:1", "c:1"}, &zk.Stat{Cversion: 6}, false); err != nil {
		t.Fatal(err)
	}
	if s := m.Stats(); s.Stale || s.MembersVersion != 6 {
		t.Fatalf("after a real list: stats %+v, want fresh at version 6", s)
	}
	if len(*swaps) != 2 {
		t.Fatalf("%d member list swaps reported, want 2", len(*swaps))
	}
}

func TestMembershipRefusesAListWithoutItselfOnceJoined(t *testing.T) {
	m, swaps := newTestMembership(t)
	err := m.apply([]string{"b:1"}, &zk.Stat{Cversion: 2}, true)
	if !errors.Is(err, errNotListed) {
		t.Fatalf("apply without this node: err = %v, want errNotListed", err)
	}
	if len(*swaps) != 0 || m.MemberList().Version != 0 {
		t.Fatalf("the list without this node was applied")
	}
}

func TestMembershipSameListNewVersion(t *testing.T) {
	m, swaps := newTestMembership(t)
	list := []string{"a:1", "b:1"}
	for _, v := range []int32{3, 3, 5} {
		if err := m.apply(list, &zk.Stat{Cversion: v}, false); err != nil {
			t.Fatal(err)
		}
	}
	// A node that missed a leave-and-rejoin must still end on the version the
	// others have.
	if got := len(*swaps); got != 2 || m.MemberList().Version != 5 {
		t.Fatalf("%d swaps, version %d; want 2 swaps ending at version 5", got, m.MemberList().Version)
	}
}

// A list read just before the session was lost must not clear the stale mark.
func TestMembershipStaysStaleWithoutASession(t *testing.T) {
	m, _ := newTestMembership(t)
	m.onEvent(zk.Event{Type: zk.EventSession, State: zk.StateDisconnected})
	if err := m.apply([]string{"a:1", "b:1"}, &zk.Stat{Cversion: 2}, true); err != nil {
		t.Fatal(err)
	}
	s := m.Stats()
	if !s.Stale || !strings.Contains(s.StaleReason, "Disconnected") || s.MembersVersion != 2 {
		t.Fatalf("stats %+v: want the new member list, still marked stale for the lost session", s)
	}
	if m.WorkerHeld() {
		t.Fatalf("worker id held without a session")
	}
}
