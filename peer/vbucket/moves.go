package vbucket

import (
	"cmp"
	"slices"
)

// entry returns vbucket v's new entry: its active owner, then its other
// holders in slot order as replicas.
func (p *planner) entry(v int) Entry {
	e := Entry{Active: p.names[p.newA[v]], State: Active}
	for _, y := range p.holders(v) {
		if y != none && y != p.newA[v] {
			e.Replicas = append(e.Replicas, p.names[y])
		}
	}
	return e
}

// failover returns the entry promoting a live replica of v if v's active
// owner is not a member: the new active owner if it held a replica, else
// the first replica that stays a holder, else the first that lives. The
// other live replicas stay; departed ones are dropped.
func (p *planner) failover(v int) (Entry, bool) {
	if p.member[p.oldActive(v)] {
		return Entry{}, false
	}
	var live []int
	for _, r := range p.m.replicaSlots(v) {
		if r != none && p.member[p.old[r]] {
			live = append(live, p.old[r])
		}
	}
	if len(live) == 0 {
		return Entry{}, false
	}
	pick := live[0]
	if i := slices.IndexFunc(live, func(y int) bool { return slices.Contains(p.holders(v), y) }); i >= 0 {
		pick = live[i]
	}
	if slices.Contains(live, p.newA[v]) {
		pick = p.newA[v]
	}
	e := Entry{Active: p.names[pick], State: Active}
	for _, y := range live {
		if y != pick {
			e.Replicas = append(e.Replicas, p.names[y])
		}
	}
	return e, true
}

// changed reports whether vbucket v's holders differ from the map's,
// without building entries: most vbuckets do not move.
func (p *planner) changed(v int) bool {
	if p.newA[v] != p.oldActive(v) {
		return true
	}
	old := 0
	for _, r := range p.m.replicaSlots(v) {
		if r == none {
			continue
		}
		old++
		if y := p.old[r]; y == p.newA[v] || !slices.Contains(p.holders(v), y) {
			return true
		}
	}
	now := 0
	for _, y := range p.holders(v) {
		if y != none && y != p.newA[v] {
			now++
		}
	}
	return old != now
}

// moves returns the failovers and the moves, each most urgent first.
func (p *planner) moves() (failovers, moves []Move) {
	var changed []int
	for v := range p.n {
		if p.changed(v) {
			changed = append(changed, v)
		}
	}
	moves = make([]Move, 0, len(changed))
	urgency := make([]int, 0, len(changed)) // of moves[i]
	for _, v := range changed {
		from, to := p.m.Entry(v), p.entry(v)
		if fe, ok := p.failover(v); ok {
			failovers = append(failovers, Move{VBucket: v, Kind: Failover, From: from, To: fe})
			from = fe
		}
		if from.equalHolders(to) {
			continue // a Pending state with the same holders is the executor's
		}
		mv := Move{VBucket: v, Kind: p.kind(from, to), From: from, To: to}
		moves = append(moves, mv)
		urgency = append(urgency, p.urgency(mv))
	}
	order := make([]int, len(moves))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(urgency[a], urgency[b]) })
	sorted := make([]Move, len(moves))
	for i, j := range order {
		sorted[i] = moves[j]
	}
	return failovers, sorted
}

func (p *planner) kind(from, to Entry) Kind {
	switch {
	case from.Active == "" || !p.member[p.node(from.Active)]:
		return Create
	case from.Active == to.Active:
		return Replicate
	}
	return Transfer
}

// urgency orders moves: serving first, then redundancy lost with a
// departed node, then balance.
func (p *planner) urgency(mv Move) int {
	if mv.Kind == Create {
		return 0
	}
	for _, r := range mv.From.Replicas {
		if !p.member[p.node(r)] {
			return 1
		}
	}
	return 2
}

// target builds the map after every move.
func (p *planner) target() *Map {
	slots := p.m.replicas
	active := make([]uint16, p.n)
	replica := make([]uint16, p.n*slots)
	state := make([]State, p.n)
	for v := range p.n {
		active[v] = uint16(p.newA[v])
		s := 0
		for _, y := range p.holders(v) {
			if y != none && y != p.newA[v] {
				replica[v*slots+s] = uint16(y)
				s++
			}
		}
		state[v] = Active
	}
	return assemble(p.m.version+1, slots, p.names, active, replica, state)
}
