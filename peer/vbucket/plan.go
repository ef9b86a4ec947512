package vbucket

import (
	"cmp"
	"slices"
)

// Kind says what a move does to its vbucket.
type Kind uint8

const (
	// Failover: the active owner is gone and a replica that is a member
	// becomes active. No data needs to move for the vbucket to be served.
	Failover Kind = iota
	// Create: no member holds the vbucket (it was dead, or every holder is
	// gone); it starts empty on its new active owner.
	Create
	// Transfer: the active owner changes from one member to another; the
	// data is handed off as SPEC §5.3 says.
	Transfer
	// Replicate: the active owner stays; only the replicas change.
	Replicate
)

func (k Kind) String() string {
	switch k {
	case Failover:
		return "failover"
	case Create:
		return "create"
	case Transfer:
		return "transfer"
	case Replicate:
		return "replicate"
	}
	return "kind(?)"
}

// Move changes one vbucket's entry from From to To. To's state is Active;
// the executor of a move sets Pending while it is in flight.
type Move struct {
	VBucket  int
	Kind     Kind
	From, To Entry
}

// Copies returns the nodes of To that held nothing of the vbucket in From:
// the ones its data must be copied to (for Create, none has data to copy).
func (mv Move) Copies() []string {
	var out []string
	for _, n := range append([]string{mv.To.Active}, mv.To.Replicas...) {
		if n != mv.From.Active && !slices.Contains(mv.From.Replicas, n) {
			out = append(out, n)
		}
	}
	return out
}

// Plan takes a map to a balanced placement over a member list in two
// parts: failovers, one map change that moves no data and serves again
// every vbucket whose active owner is gone but a replica lives; then the
// moves, each of which changes one vbucket's holders or their roles.
type Plan struct {
	// From is the version of the map planned from.
	From uint64
	// Members are the members planned for, sorted, without duplicates.
	Members []string
	// Failovers each promote a live replica of a vbucket whose active owner
	// is not a member. Their From is the map's entry; apply them first, at
	// once (Map.Apply).
	Failovers []Move
	// Moves start from the map after the failovers, most urgent first:
	// creates, moves off nodes that are no longer members, then balancing;
	// by vbucket within each. A vbucket moves at most once here (and may have
	// failed over before).
	Moves []Move
	// Target is the map after the failovers and the moves, every vbucket
	// Active, its version one above From (m itself with no members).
	Target *Map
}

// Batches splits the moves into consecutive batches of at most k (all in
// one if k < 1), in order. Moves touch distinct vbuckets, so any prefix
// of batches applied with Map.Apply after the failovers leaves a valid
// map; balance holds once all are applied.
func (p *Plan) Batches(k int) [][]Move {
	if k < 1 {
		k = len(p.Moves)
	}
	var out [][]Move
	for moves := p.Moves; len(moves) > 0; {
		n := min(k, len(moves))
		out = append(out, moves[:n:n])
		moves = moves[n:]
	}
	return out
}

// NewPlan computes the plan that takes m to a placement over members
// (sorted and deduplicated first, "" dropped: their order does not
// matter) where:
//   - every vbucket has an active owner that is a member, and each member
//     is active owner of ⌊n/M⌋ or ⌈n/M⌉ vbuckets;
//   - each vbucket has r = min(m.Replicas(), M−1) replicas on other
//     members, never two copies on one node, and each member holds ⌊rn/M⌋
//     or ⌈rn/M⌉ replicas;
//   - copies are few: a member keeps what it holds up to its two shares,
//     and roles are traded among a vbucket's holders (no data moves)
//     before data is copied to a new one.
//
// NewPlan is a pure function of m's entries and the member set: the same
// input gives the same plan. With no members the plan is empty. It does not
// wait for anything: when to plan after a node went away (its grace
// period) is the caller's decision.
func NewPlan(m *Map, members []string) *Plan {
	best := planWith(m, members, false)
	if m.replicas > 0 && best.cost().copies > newPlanner(m, members).copyFloor() {
		// Which nodes take the larger active shares decides both how many
		// roles change and how many copies are needed; with replicas the
		// two pull apart, so try the other way and keep the cheaper plan.
		if alt := planWith(m, members, true); alt.cost().less(best.cost()) {
			best = alt
		}
	}
	return best
}

// copyFloor is the fewest copies any balanced placement over the members
// needs: the holdings they lack, each member keeping at most its two
// shares of what it holds, however the larger active and replica shares
// may fall together.
func (p *planner) copyFloor() int {
	M := len(p.members)
	if M == 0 {
		return 0
	}
	held := make([]int, len(p.names))
	for v := range p.n {
		k := 0
		if a := p.oldActive(v); p.member[a] {
			held[a]++
			k++
		}
		for _, r := range p.m.replicaSlots(v) {
			if y := p.old[r]; r != none && p.member[y] && k < p.h {
				held[y]++
				k++
			}
		}
	}
	have := make([]int, 0, M)
	for _, x := range p.members {
		have = append(have, held[x])
	}
	slices.SortFunc(have, func(a, b int) int { return cmp.Compare(b, a) })
	total, eA, eR := p.h*p.n, p.n%M, (p.h-1)*p.n%M
	base, best := (total-eA-eR)/M, 0
	for both := max(0, eA+eR-M); both <= min(eA, eR); both++ {
		kept := 0
		for i, h := range have { // the largest shares beside the largest holdings
			c := base
			if i < both {
				c += 2
			} else if i < eA+eR-both {
				c++
			}
			kept += min(h, c)
		}
		best = max(best, kept)
	}
	return total - best
}

// planWith is NewPlan, giving the larger active shares to the nodes active
// for most or, if heldFirst, to those holding most in any role.
func planWith(m *Map, members []string, heldFirst bool) *Plan {
	p := newPlanner(m, members)
	p.heldFirst = heldFirst
	plan := &Plan{From: m.version, Members: p.memberNames(), Target: m}
	if len(p.members) == 0 {
		return plan
	}
	p.placeHolders()
	plan.Failovers, plan.Moves = p.moves()
	plan.Target = p.target()
	return plan
}

// cost is what a plan costs: copies first, then changes of active owner
// (a failover and a later transfer of one vbucket count two).
type cost struct{ copies, handoffs int }

func (c cost) less(o cost) bool {
	return c.copies < o.copies || (c.copies == o.copies && c.handoffs < o.handoffs)
}

func (p *Plan) cost() cost {
	c := cost{handoffs: len(p.Failovers)}
	for _, mv := range p.Moves {
		c.copies += len(mv.Copies())
		if mv.From.Active != mv.To.Active {
			c.handoffs++
		}
	}
	return c
}

// planner holds one NewPlan's working state. Nodes are indices into names,
// the sorted union of the map's nodes and the members; 0 is no node.
type planner struct {
	m         *Map
	heldFirst bool     // rank active shares by holdings (see planWith)
	n, h      int      // vbuckets; holders wanted per vbucket (1 + replicas)
	names     []string // names[0] is ""
	member    []bool   // by node
	members   []int    // member nodes, ascending (so sorted by name)
	old       []int    // map node index → node
	qA, qR    []int    // by node: active and replica shares
	hold      []int    // h per vbucket: new holders, 0 for none
	newA      []int    // per vbucket: new active owner, one of its holders
	bfs       *search  // augment's scratch space
}

func newPlanner(m *Map, members []string) *planner {
	ms := slices.Clone(members)
	slices.Sort(ms)
	ms = slices.Compact(ms)
	ms = slices.DeleteFunc(ms, func(s string) bool { return s == "" })
	p := &planner{m: m, n: m.Len()}
	all := slices.Concat(m.Nodes(), ms)
	slices.Sort(all)
	p.names = append([]string{""}, slices.Compact(all)...)
	p.member = make([]bool, len(p.names))
	for _, s := range ms {
		x := p.node(s)
		p.member[x] = true
		p.members = append(p.members, x)
	}
	p.old = make([]int, len(m.nodes))
	for i, s := range m.nodes[1:] {
		p.old[i+1] = p.node(s)
	}
	p.h = 1 + min(m.replicas, max(len(p.members)-1, 0))
	return p
}

// node returns the index of name, which must be in names.
func (p *planner) node(name string) int {
	i, _ := slices.BinarySearch(p.names[1:], name)
	return i + 1
}

func (p *planner) memberNames() []string {
	out := make([]string, len(p.members))
	for i, x := range p.members {
		out[i] = p.names[x]
	}
	return out
}

// oldActive returns vbucket v's active owner in the map (0 if dead).
func (p *planner) oldActive(v int) int { return p.old[p.m.active[v]] }

// oldHolds reports whether node x held vbucket v in the map, in any role.
func (p *planner) oldHolds(v, x int) bool {
	if p.oldActive(v) == x {
		return true
	}
	for _, r := range p.m.replicaSlots(v) {
		if r != none && p.old[r] == x {
			return true
		}
	}
	return false
}

// holders returns vbucket v's new holders (shared; 0 for an empty slot).
func (p *planner) holders(v int) []int { return p.hold[v*p.h : (v+1)*p.h] }

// quotas shares total among the members: each gets total/M, and the first
// total%M in rank order one more. The result is indexed by node.
func (p *planner) quotas(total int, rank func(a, b int) int) []int {
	q := make([]int, len(p.names))
	order := slices.Clone(p.members)
	slices.SortFunc(order, func(a, b int) int { return cmp.Or(rank(a, b), cmp.Compare(a, b)) })
	base, extra := total/len(order), total%len(order)
	for i, x := range order {
		q[x] = base
		if i < extra {
			q[x]++
		}
	}
	return q
}
