package vbucket

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"
)

// planBound is the time one plan may take in these tests, generous for a
// machine shared with other work and for the first plan of an empty map;
// BenchmarkPlan gives the real figure (goal: under 10 ms for a membership
// change of 200 nodes × 16384 vbuckets).
func planBound() time.Duration {
	if raceEnabled {
		return 10 * time.Second
	}
	return time.Second
}

// simStats sums what a simulation moved against its lower bounds.
type simStats struct {
	plans        int
	moved, bound simCost
	worst        time.Duration
	worstRatio   simCost // the highest cost / bound of one plan, in percent
}

// within reports whether got is within pct percent of bound, plus slack
// (one copy more than the bound is 6% of a plan whose bound is 16).
func within(got, bound, pct, slack int) bool { return got*100 <= bound*pct+slack*100 }

func ratio(got, bound int) int {
	if bound == 0 {
		return 100
	}
	return got * 100 / bound
}

// step plans m over members, checks the plan and its target, applies it
// in batches of 64 and returns the new map.
//
// What it asserts of the plan's cost, per plan: without replicas, active
// changes and copies within 5% of their lower bounds; with replicas,
// copies within 10% plus one, and hand-offs within twice their
// failover-first bound (that bound ignores that a node may have no room
// to hold a vbucket it should be active for, so it is not reachable). The
// simulation's totals are checked against 5% of the bounds in
// runSimulation.
func step(t *testing.T, m *Map, members []string, st *simStats) *Map {
	t.Helper()
	lb := lowerBound(m, members)
	start := time.Now()
	p := NewPlan(m, members)
	took := time.Since(start)
	st.worst = max(st.worst, took)
	if took > planBound() {
		t.Fatalf("plan over %d members took %v", len(members), took)
	}
	checkBalanced(t, p.Target, members)
	c := planCost(m, p)
	switch {
	case m.Replicas() == 0 && !within(c.actives, lb.actives, 105, 0):
		t.Fatalf("plan over %d members changes %d active owners, lower bound %d", len(members), c.actives, lb.actives)
	case m.Replicas() == 0 && !within(c.copies, lb.copies, 105, 0):
		t.Fatalf("plan over %d members copies %d, lower bound %d", len(members), c.copies, lb.copies)
	case !within(c.copies, lb.copies, 110, 1):
		t.Fatalf("plan over %d members copies %d, lower bound %d", len(members), c.copies, lb.copies)
	case !within(c.handoffs, lb.handoffs, 200, 0):
		t.Fatalf("plan over %d members hands off %d, failover-first bound %d", len(members), c.handoffs, lb.handoffs)
	}
	st.plans++
	st.moved.actives += c.actives
	st.moved.copies += c.copies
	st.moved.handoffs += c.handoffs
	st.bound.actives += lb.actives
	st.bound.copies += lb.copies
	st.bound.handoffs += lb.handoffs
	st.worstRatio.actives = max(st.worstRatio.actives, ratio(c.actives, lb.actives))
	st.worstRatio.copies = max(st.worstRatio.copies, ratio(c.copies, lb.copies))
	st.worstRatio.handoffs = max(st.worstRatio.handoffs, ratio(c.handoffs, lb.handoffs))
	next, err := m.Apply(p.Failovers)
	if err != nil {
		t.Fatal(err)
	}
	checkServed(t, m, next, p.Failovers)
	for _, batch := range p.Batches(64) {
		if next, err = next.Apply(batch); err != nil {
			t.Fatal(err)
		}
		checkServed(t, m, next, batch)
	}
	if !sameEntries(next, p.Target) {
		t.Fatal("applying the plan's batches does not give its target")
	}
	return p.Target
}

// checkServed fails t if an applied batch left one of its vbuckets without
// an owner when it had one in from, or put two copies on one node.
func checkServed(t *testing.T, from, m *Map, batch []Move) {
	t.Helper()
	for _, mv := range batch {
		v := mv.VBucket
		e := m.Entry(v)
		if e.Active == "" && from.Active(v) != "" {
			t.Fatalf("vbucket %d without an owner mid-plan", v)
		}
		if slices.Contains(e.Replicas, e.Active) {
			t.Fatalf("vbucket %d: two copies on %s", v, e.Active)
		}
	}
}

func sameEntries(a, b *Map) bool {
	for v := range a.Len() {
		if !a.Entry(v).equalHolders(b.Entry(v)) {
			return false
		}
	}
	return a.Len() == b.Len()
}

// simulation is a sequence of member lists, each planned for in turn from
// the previous plan's target.
type simulation struct {
	name  string
	start []string // members of a placement built before the run (none: empty map)
	steps func(rng *rand.Rand, start []string) [][]string
}

func grow(_ *rand.Rand, _ []string) [][]string {
	var out [][]string
	for i := 1; i <= 200; i++ {
		out = append(out, nodeNames(0, i))
	}
	return out
}

// shrink removes one random member at a time, 200 → 150.
func shrink(rng *rand.Rand, start []string) [][]string {
	cur := slices.Clone(start)
	var out [][]string
	for len(cur) > 150 {
		i := rng.IntN(len(cur))
		cur = slices.Delete(slices.Clone(cur), i, i+1)
		out = append(out, cur)
	}
	return out
}

// churn mixes joins, leaves and replacements between 50 and 200 members.
func churn(rng *rand.Rand, start []string) [][]string {
	cur, fresh := slices.Clone(start), 1000
	var out [][]string
	for range 150 {
		op := rng.IntN(3)
		if op != 1 && len(cur) > 50 { // leave (or replace)
			i := rng.IntN(len(cur))
			cur = slices.Delete(slices.Clone(cur), i, i+1)
		}
		if op != 0 && len(cur) < 200 { // join (or replace)
			cur = append(slices.Clone(cur), nodeName(fresh))
			fresh++
		}
		// Members arrive in any order; the plan must not care.
		shuffled := slices.Clone(cur)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		out = append(out, shuffled)
	}
	return out
}

func TestSimulation(t *testing.T) {
	sims := []simulation{
		{name: "grow 1 to 200", steps: grow},
		{name: "shrink 200 to 150", start: nodeNames(0, 200), steps: shrink},
		{name: "churn", start: nodeNames(0, 120), steps: churn},
	}
	for _, sim := range sims {
		for _, n := range []int{1024, 16384} {
			for _, r := range []int{0, 1} {
				t.Run(sim.name+"/"+itoa(n)+"vb/"+itoa(r)+"replicas", func(t *testing.T) {
					if testing.Short() && n > 1024 {
						t.Skip("16384 vbuckets skipped in -short")
					}
					runSimulation(t, sim, n, r)
				})
			}
		}
	}
}

func runSimulation(t *testing.T, sim simulation, n, r int) {
	rng := rand.New(rand.NewPCG(uint64(n), uint64(r)+7))
	m, err := New(n, r)
	if err != nil {
		t.Fatal(err)
	}
	if sim.start != nil {
		m = NewPlan(m, sim.start).Target
		checkBalanced(t, m, sim.start)
	}
	var st simStats
	for _, members := range sim.steps(rng, sim.start) {
		m = step(t, m, members, &st)
	}
	t.Logf("%d plans, slowest %v: copies %d (bound %d, worst plan %d%%), active changes %d (bound %d, worst %d%%), hand-offs %d (failover-first bound %d, worst %d%%)",
		st.plans, st.worst, st.moved.copies, st.bound.copies, st.worstRatio.copies,
		st.moved.actives, st.bound.actives, st.worstRatio.actives,
		st.moved.handoffs, st.bound.handoffs, st.worstRatio.handoffs)
	if !within(st.moved.copies, st.bound.copies, 105, 0) {
		t.Errorf("copies %d in all, over 5%% above the bound %d", st.moved.copies, st.bound.copies)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
