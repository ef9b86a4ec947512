package peer

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

func memberAddrs(n int) []string {
	m := make([]string, n)
	for i := range m {
		m[i] = fmt.Sprintf("10.0.%d.%d:9001", i/200, 10+i%200)
	}
	return m
}

func testKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(i)
	}
	return keys
}

// Adding member N+1 must move about 1/(N+1) of the keys, every one of them to
// the new member.
func TestRingRemapsOnlyTheNewMembersShare(t *testing.T) {
	keys := testKeys(100_000)
	for n := 3; n <= 9; n++ {
		t.Run(fmt.Sprintf("%d->%d", n, n+1), func(t *testing.T) {
			all := memberAddrs(n + 1)
			before := NewRing(all[:n], 0, 1)
			after := NewRing(all, 0, 2)
			moved := 0
			for _, k := range keys {
				was, is := before.Owner(k), after.Owner(k)
				if was == is {
					continue
				}
				moved++
				if is != all[n] {
					t.Fatalf("key %q moved from %s to %s, not to the new member %s", k, was, is, all[n])
				}
			}
			got, want := float64(moved)/float64(len(keys)), 1/float64(n+1)
			t.Logf("moved %.4f of the keys, ideal %.4f", got, want)
			if got < want*0.75 || got > want*1.25 {
				t.Errorf("moved %.4f of the keys, want %.4f ± 25%%", got, want)
			}
		})
	}
}

// Every member of a ten-node ring gets its fair share, within 25%.
func TestRingBalance(t *testing.T) {
	members := memberAddrs(10)
	r := NewRing(members, 0, 1)
	keys := testKeys(100_000)
	count := map[string]int{}
	for _, k := range keys {
		count[r.Owner(k)]++
	}
	mean := float64(len(keys)) / float64(len(members))
	for _, m := range members {
		share := float64(count[m]) / mean
		if share < 0.75 || share > 1.25 {
			t.Errorf("%s owns %d keys, %.2f of the mean %.0f; want 0.75 to 1.25", m, count[m], share, mean)
		}
	}
}

// Nodes that list the members in different orders, with duplicates or empty
// names, must route every key the same way.
func TestRingIgnoresListOrder(t *testing.T) {
	members := memberAddrs(7)
	ref := NewRing(members, 0, 1)
	rng := rand.New(rand.NewPCG(1, 2))
	keys := testKeys(20_000)
	for i := range 10 {
		list := slices.Clone(members)
		rng.Shuffle(len(list), func(a, b int) { list[a], list[b] = list[b], list[a] })
		list = append(list, list[0], "")
		r := NewRing(list, 0, 1)
		if !slices.Equal(r.Members, ref.Members) {
			t.Fatalf("order %d: members %v, want %v", i, r.Members, ref.Members)
		}
		for _, k := range keys {
			if got, want := r.Owner(k), ref.Owner(k); got != want {
				t.Fatalf("order %d: key %q owned by %s, want %s", i, k, got, want)
			}
		}
	}
}

// Placement must never change between releases: nodes of mixed versions in
// one cluster have to agree. These owners were computed when the hash was
// chosen; a change here breaks rolling upgrades.
func TestRingPlacementIsStable(t *testing.T) {
	r := NewRing([]string{"10.0.0.1:9001", "10.0.0.2:9001", "10.0.0.3:9001"}, 160, 1)
	golden := map[string]string{
		"user:1":      "10.0.0.2:9001",
		"user:2":      "10.0.0.1:9001",
		"lock:order9": "10.0.0.3:9001",
		"":            "10.0.0.1:9001",
		"a":           "10.0.0.2:9001",
		"b":           "10.0.0.3:9001",
		"c":           "10.0.0.3:9001",
	}
	for k, want := range golden {
		if got := r.Owner(k); got != want {
			t.Errorf("Owner(%q) = %s, want %s", k, got, want)
		}
	}
}

func TestRingEdges(t *testing.T) {
	tests := []struct {
		name    string
		members []string
		vnodes  int
		key     string
		want    string
	}{
		{name: "no members", members: nil, key: "k", want: ""},
		{name: "only empty names", members: []string{"", ""}, key: "k", want: ""},
		{name: "one member", members: []string{"a:1"}, key: "k", want: "a:1"},
		{name: "one vnode each", members: []string{"a:1"}, vnodes: 1, key: "k", want: "a:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NewRing(tt.members, tt.vnodes, 0).Owner(tt.key); got != tt.want {
				t.Errorf("Owner(%q) = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
	if n := len(NewRing(memberAddrs(2), 0, 0).points); n != 2*DefaultVirtualNodes {
		t.Errorf("vnodes 0 gave %d points for 2 members, want %d", n, 2*DefaultVirtualNodes)
	}
}

func TestRingIsImmutable(t *testing.T) {
	list := memberAddrs(3)
	r := NewRing(list, 0, 5)
	list[0] = "changed:1"
	if r.Members[0] == "changed:1" || r.Version != 5 {
		t.Fatalf("ring shares the caller's slice: %v (version %d)", r.Members, r.Version)
	}
	if !r.Has("10.0.0.10:9001") || r.Has("changed:1") {
		t.Fatalf("Has disagrees with Members %v", r.Members)
	}
}

func TestRingOwnerDoesNotAllocate(t *testing.T) {
	r := NewRing(memberAddrs(5), 0, 1)
	if n := testing.AllocsPerRun(1000, func() { r.Owner("user:12345") }); n != 0 {
		t.Fatalf("Owner allocates %v times per call", n)
	}
}

func BenchmarkRingOwner(b *testing.B) {
	for _, n := range []int{3, 10, 50} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			r := NewRing(memberAddrs(n), 0, 1)
			keys := testKeys(1024)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				r.Owner(keys[i&1023])
			}
		})
	}
}
