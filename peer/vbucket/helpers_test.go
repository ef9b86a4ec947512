package vbucket

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
)

// nodeName is the address of test node i.
func nodeName(i int) string { return fmt.Sprintf("10.0.%d.%d:8888", i/250, i%250+1) }

// nodeNames returns the addresses of nodes from..to-1.
func nodeNames(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, nodeName(i))
	}
	return out
}

// checkBalanced fails t unless m places every vbucket on members as the
// planner promises: a member active owner, min(replicas, M−1) replicas on
// other members, no node twice, each role within one of even.
func checkBalanced(t testing.TB, m *Map, members []string) {
	t.Helper()
	isMember := make(map[string]bool)
	for _, s := range members {
		isMember[s] = true
	}
	r := min(m.Replicas(), len(members)-1)
	act, rep := make(map[string]int), make(map[string]int)
	for v := range m.Len() {
		e := m.Entry(v)
		if e.State != Active || !isMember[e.Active] {
			t.Fatalf("vbucket %d: %v, want an active member owner", v, e)
		}
		if len(e.Replicas) != r {
			t.Fatalf("vbucket %d: %d replicas, want %d", v, len(e.Replicas), r)
		}
		seen := []string{e.Active}
		for _, x := range e.Replicas {
			if !isMember[x] || slices.Contains(seen, x) {
				t.Fatalf("vbucket %d: replica %q not a member or a second copy: %v", v, x, e)
			}
			seen = append(seen, x)
			rep[x]++
		}
		act[e.Active]++
	}
	for _, c := range []struct {
		role string
		n    map[string]int
	}{{"active", act}, {"replica", rep}} {
		lo, hi := spread(c.n, members)
		if hi-lo > 1 {
			t.Fatalf("%s vbuckets per node from %d to %d over %d members", c.role, lo, hi, len(members))
		}
	}
}

// spread returns the fewest and most of count over members.
func spread(count map[string]int, members []string) (lo, hi int) {
	lo = count[members[0]]
	for _, s := range members {
		lo, hi = min(lo, count[s]), max(hi, count[s])
	}
	return lo, hi
}

// simCost is what a plan moves: vbuckets whose active owner changes (by
// failover, role change or transfer), and copies (a node starting to hold
// a vbucket it did not hold).
// handoffs counts every change of active owner, a failover and a later
// transfer of the same vbucket as two.
type simCost struct{ actives, copies, handoffs int }

func planCost(m *Map, p *Plan) simCost {
	c := simCost{handoffs: len(p.Failovers)}
	for v := range m.Len() {
		if m.Active(v) != p.Target.Active(v) {
			c.actives++
		}
	}
	for _, mv := range p.Moves {
		c.copies += len(mv.Copies())
		if mv.From.Active != mv.To.Active {
			c.handoffs++
		}
	}
	return c
}

// lowerBound is the least any balanced placement must move from m over
// members. actives: the vbuckets that must leave departed or over-full
// nodes, with the larger shares on the nodes holding most. copies: holdings
// (active or replica) the members lack, each member keeping at most its
// two shares of what it holds, maximised over how the larger active and
// replica shares may coincide. handoffs: the same as actives once every
// vbucket whose only live replica must take over has (it may then have to
// move on), counting that failover too.
func lowerBound(m *Map, members []string) simCost {
	n, M := m.Len(), len(members)
	r := min(m.Replicas(), M-1)
	isMember := make(map[string]bool)
	for _, s := range members {
		isMember[s] = true
	}
	act, hold := make(map[string]int), make(map[string]int)
	forced := make(map[string]int) // act plus failovers with one choice
	promoted := 0
	for v := range m.Len() {
		e := m.Entry(v)
		if isMember[e.Active] {
			act[e.Active]++
			forced[e.Active]++
			hold[e.Active]++
		} else if live := liveOnly(e.Replicas, isMember); len(live) == 1 {
			forced[live[0]]++
			promoted++
		}
		for _, x := range e.Replicas {
			if isMember[x] {
				hold[x]++
			}
		}
	}
	var lb simCost
	lb.actives = n - keepable(counts(act, members), shares(n, M, 0, n%M))
	lb.handoffs = promoted + n - keepable(counts(forced, members), shares(n, M, 0, n%M))
	best := 0
	eA, eR := n%M, (r*n)%M
	for k := max(0, eA+eR-M); k <= min(eA, eR); k++ {
		caps := shares(n+r*n, M, k, eA+eR-2*k)
		best = max(best, keepable(counts(hold, members), caps))
	}
	lb.copies = (1+r)*n - best
	return lb
}

func liveOnly(nodes []string, isMember map[string]bool) []string {
	var out []string
	for _, s := range nodes {
		if isMember[s] {
			out = append(out, s)
		}
	}
	return out
}

// shares returns M capacities summing to total: twos of them two above
// the base (total−ones−2·twos)/M, ones one above, sorted descending.
func shares(total, M, twos, ones int) []int {
	base := (total - ones - 2*twos) / M
	out := make([]int, M)
	for i := range out {
		out[i] = base
		switch {
		case i < twos:
			out[i] += 2
		case i < twos+ones:
			out[i]++
		}
	}
	return out
}

func counts(c map[string]int, members []string) []int {
	out := make([]int, len(members))
	for i, s := range members {
		out[i] = c[s]
	}
	slices.SortFunc(out, func(a, b int) int { return cmp.Compare(b, a) })
	return out
}

// keepable pairs the largest holdings with the largest capacities.
func keepable(have, caps []int) int {
	kept := 0
	for i := range have {
		kept += min(have[i], caps[i])
	}
	return kept
}
