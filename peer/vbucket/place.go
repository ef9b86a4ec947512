package vbucket

import (
	"cmp"
	"slices"
)

// placeHolders fills hold: which members hold each vbucket, in any role.
// The shares are set first (the larger active shares to the nodes active
// for most, the larger replica shares to the nodes holding most besides);
// each member keeps what it held up to its two shares together, dropping
// replica roles before active ones; the empty places go to the members
// with room.
func (p *planner) placeHolders() {
	N := len(p.names)
	p.hold = make([]int, p.n*p.h)
	act, held, prom := make([]int, N), make([]int, N), make([]int, N)
	for v := range p.n {
		hs, k := p.holders(v), 0
		a := p.oldActive(v)
		if p.member[a] {
			hs[0], k = a, 1
			act[a]++
			held[a]++
		}
		for _, r := range p.m.replicaSlots(v) {
			if y := p.old[r]; r != none && p.member[y] && k < p.h {
				hs[k] = y
				k++
				held[y]++
				if !p.member[a] {
					prom[y]++
				}
			}
		}
	}
	// A node about to take over orphans by failover counts them as its own.
	// Ties go to the nodes holding most, so that the two shares together
	// also keep most (or holdings first, if heldFirst).
	p.qA = p.quotas(p.n, func(a, b int) int {
		byAct, byHeld := cmp.Compare(act[b]+prom[b], act[a]+prom[a]), cmp.Compare(held[b], held[a])
		if p.heldFirst {
			return cmp.Or(byHeld, byAct)
		}
		return cmp.Or(byAct, byHeld)
	})
	// With h = M every member holds every vbucket, so the larger replica
	// shares must go to the smaller active ones.
	tight := p.h == len(p.members)
	p.qR = p.quotas((p.h-1)*p.n, func(a, b int) int {
		if tight {
			return cmp.Compare(p.qA[a], p.qA[b])
		}
		// By holdings beyond the active share, so that the two shares keep
		// most; but a node over its active share is to drop the extra
		// holding (its new holder takes the active role), not keep it as a
		// replica and pass its active role down a chain of role changes.
		spare := func(x int) int { return held[x] - max(act[x], p.qA[x]) }
		return cmp.Or(cmp.Compare(spare(b), spare(a)), cmp.Compare(held[b]-act[b], held[a]-act[a]))
	})
	capacity := make([]int, N)
	for _, x := range p.members {
		capacity[x] = p.qA[x] + p.qR[x]
	}
	p.dropOver(held, capacity, act)
	room := p.keepActives()
	p.fillHolders(held, capacity, room)
	p.finishActives(room)
}

// dropOver empties the places of members holding more than their
// capacity. A member over its active share drops active roles first (the
// vbucket's new holder can take the role), then replica roles; by vbucket,
// sparing at first the vbuckets that lost a holder already (two new
// holders for one vbucket may find no two members with room).
func (p *planner) dropOver(held, capacity, act []int) {
	dropA := make([]int, len(p.names))
	for _, x := range p.members {
		dropA[x] = min(max(held[x]-capacity[x], 0), max(act[x]-p.qA[x], 0))
	}
	for _, pass := range []struct{ activeRole, spare bool }{{true, true}, {false, true}, {true, false}, {false, false}} {
		for v := range p.n {
			if pass.spare && slices.Contains(p.holders(v), none) {
				continue
			}
			for k, y := range p.holders(v) {
				if y == none || held[y] <= capacity[y] || (y == p.oldActive(v)) != pass.activeRole {
					continue
				}
				if pass.activeRole {
					if dropA[y] == 0 {
						continue
					}
					dropA[y]--
				}
				p.hold[v*p.h+k] = none
				held[y]--
				if pass.spare {
					break
				}
			}
		}
	}
}

// fillHolders gives each empty place to a member with room that does not
// hold the vbucket yet: one with room for another active vbucket if the
// vbucket needs an active owner none of its holders can be, else the one
// paired least with the vbucket's first holder, so the vbuckets of a node
// that fails land on many nodes; ties go round-robin. A vbucket that a
// holder of old may take as active gets it first.
func (p *planner) fillHolders(held, capacity, room []int) {
	var open []int // members with room, ascending
	for _, x := range p.members {
		if held[x] < capacity[x] {
			open = append(open, x)
		}
	}
	N := len(p.names)
	pairs := make([]int32, N*N) // [first*N+other]: vbuckets held by both
	for v := range p.n {
		p.pair(pairs, v, 1)
	}
	next := 0
	for v := range p.n {
		if p.newA[v] == none {
			p.takeRoom(v, room, true)
		}
		hs := p.holders(v)
		for k := range hs {
			if hs[k] != none {
				continue
			}
			p.pair(pairs, v, -1)
			var wantRoom []int
			if p.newA[v] == none {
				wantRoom = room
			}
			y, at := p.pickOpen(v, open, next, pairs[p.first(v)*N:(p.first(v)+1)*N], wantRoom)
			if y != none && wantRoom != nil && room[y] > 0 {
				p.newA[v] = y
				room[y]--
			}
			switch {
			case y != none:
				next = at + 1
				if held[y]++; held[y] == capacity[y] {
					open = slices.Delete(open, at, at+1)
					next = at
				}
			case len(open) > 0:
				y = p.swap(v, &open, held, capacity)
			}
			if y == none {
				y = p.leastHeld(v, held) // not seen in tests; keeps the copy
				held[y]++
			}
			hs[k] = y
			p.pair(pairs, v, 1)
		}
	}
}

// first returns vbucket v's first non-empty holder, 0 if none.
func (p *planner) first(v int) int {
	for _, y := range p.holders(v) {
		if y != none {
			return y
		}
	}
	return none
}

// pair adds d to the pair count of v's first holder with each other one.
func (p *planner) pair(pairs []int32, v int, d int32) {
	f, N := p.first(v), len(p.names)
	for _, y := range p.holders(v) {
		if y != none && y != f {
			pairs[f*N+y] += d
		}
	}
}

// pickOpen returns the node of open that does not hold v with the lowest
// pairs count (among those with room, if room is not nil and there are
// any), the first from index from on (wrapping) among equals, and its
// index; 0, -1 if none.
func (p *planner) pickOpen(v int, open []int, from int, pairs []int32, room []int) (int, int) {
	best := -1
	hs := p.holders(v)
	better := func(at int) bool {
		if best < 0 {
			return true
		}
		if room != nil && (room[open[at]] > 0) != (room[open[best]] > 0) {
			return room[open[at]] > 0
		}
		return pairs[open[at]] < pairs[open[best]]
	}
	for i := range open {
		at := (from + i) % len(open)
		if !slices.Contains(hs, open[at]) && better(at) {
			best = at
			if pairs[open[at]] == 0 && (room == nil || room[open[at]] > 0) {
				break
			}
		}
	}
	if best < 0 {
		return none, -1
	}
	return open[best], best
}

// swap frees a place for v when every open node already holds it: a
// holder y of another vbucket w hands that place to an open node z, and
// y is returned to take v (its count unchanged, z's one up). y is not
// w's active owner, if w has one yet. 0 if none.
func (p *planner) swap(v int, open *[]int, held, capacity []int) int {
	hv := p.holders(v)
	for at, z := range *open {
		for w := range p.n {
			hw := p.holders(w)
			if slices.Contains(hw, z) {
				continue
			}
			for k, y := range hw {
				if y != none && y != p.newA[w] && !slices.Contains(hv, y) {
					hw[k] = z
					if held[z]++; held[z] == capacity[z] {
						*open = slices.Delete(*open, at, at+1)
					}
					return y
				}
			}
		}
	}
	return none
}

// leastHeld returns the member holding fewest vbuckets that does not hold v.
func (p *planner) leastHeld(v int, held []int) int {
	best := none
	for _, y := range p.members {
		if !slices.Contains(p.holders(v), y) && (best == none || held[y] < held[best]) {
			best = y
		}
	}
	return best
}

// keepActives starts the choice of active owners, which must make every
// member active for exactly its share: a vbucket whose old active owner
// still holds it and has room stays. It returns the room left by node.
// fillHolders then gives active roles to holders of old with room, and
// finishActives to any holder with room, else along a chain of role
// changes (each vbucket on it passes its active role to another of its
// holders) ending at a node with room. No data moves for a role change.
func (p *planner) keepActives() []int {
	p.newA = make([]int, p.n)
	surplus := slices.Clone(p.qA) // share minus own vbuckets still held
	for v := range p.n {
		if a := p.oldActive(v); p.member[a] && slices.Contains(p.holders(v), a) {
			surplus[a]--
		}
	}
	// A node over its share first passes roles to holders under theirs.
	for v := range p.n {
		a := p.oldActive(v)
		if !p.member[a] || surplus[a] >= 0 || !slices.Contains(p.holders(v), a) {
			continue
		}
		for _, y := range p.holders(v) {
			if y != none && y != a && surplus[y] > 0 {
				p.newA[v] = y
				surplus[a]++
				surplus[y]--
				break
			}
		}
	}
	room := slices.Clone(p.qA)
	for v := range p.n {
		if a := p.newA[v]; a != none {
			room[a]--
		}
	}
	for v := range p.n {
		if a := p.oldActive(v); p.newA[v] == none && p.member[a] && room[a] > 0 && slices.Contains(p.holders(v), a) {
			p.newA[v] = a
			room[a]--
		}
	}
	return room
}

// finishActives gives every vbucket still without one an active owner.
func (p *planner) finishActives(room []int) {
	for v := range p.n {
		if p.newA[v] == none {
			p.takeRoom(v, room, false)
		}
	}
	var actOn [][]int // by node: vbuckets it is active for
	for v := range p.n {
		if p.newA[v] == none {
			if actOn == nil {
				actOn = p.activeLists()
			}
			if !p.augment(v, room, actOn) && !p.trade(v, room, actOn) {
				p.newA[v] = p.first(v) // not seen in tests; serves v unbalanced
				actOn[p.newA[v]] = append(actOn[p.newA[v]], v)
			}
		}
	}
}

// takeRoom makes v active on its holder with most room (that held v in
// the map, if oldOnly).
func (p *planner) takeRoom(v int, room []int, oldOnly bool) {
	best := none
	for _, y := range p.holders(v) {
		if y == none || room[y] == 0 || (oldOnly && !p.oldHolds(v, y)) {
			continue
		}
		if best == none || room[y] > room[best] || (room[y] == room[best] && y < best) {
			best = y
		}
	}
	if best != none {
		p.newA[v] = best
		room[best]--
	}
}

func (p *planner) activeLists() [][]int {
	actOn := make([][]int, len(p.names))
	for v, a := range p.newA {
		if a != none {
			actOn[a] = append(actOn[a], v)
		}
	}
	return actOn
}

// augment finds by breadth-first search the shortest chain v → y1, u1 →
// y2, …, uk → y where each ui was active on the node before it and y has
// room, and shifts the active roles along it.
func (p *planner) augment(v int, room []int, actOn [][]int) bool {
	b := p.searchState()
	b.gen++
	b.from[v], b.vbSeen[v] = -1, b.gen
	b.queue = append(b.queue[:0], v)
	for len(b.queue) > 0 {
		u := b.queue[0]
		b.queue = b.queue[1:]
		for _, y := range p.holders(u) {
			if y == none || y == p.newA[u] || b.nodeSeen[y] == b.gen {
				continue
			}
			b.nodeSeen[y] = b.gen
			if room[y] > 0 {
				room[y]--
				p.shift(u, y, b.from, actOn)
				return true
			}
			for _, w := range actOn[y] {
				if b.vbSeen[w] != b.gen {
					b.from[w], b.vbSeen[w] = u, b.gen
					b.queue = append(b.queue, w)
				}
			}
		}
	}
	return false
}

// search is augment's scratch space, kept across calls: an entry is valid
// only if its seen mark is the current generation.
type search struct {
	gen      int32
	from     []int   // by vbucket: the vbucket that takes its node
	vbSeen   []int32 // by vbucket
	nodeSeen []int32 // by node
	queue    []int
}

func (p *planner) searchState() *search {
	if p.bfs == nil {
		p.bfs = &search{
			from:     make([]int, p.n),
			vbSeen:   make([]int32, p.n),
			nodeSeen: make([]int32, len(p.names)),
		}
	}
	return p.bfs
}

// shift makes u active on y, the vbucket that u displaces active on u's
// old node, and so on back to the chain's start.
func (p *planner) shift(u, y int, from []int, actOn [][]int) {
	for u >= 0 {
		prev := p.newA[u]
		if prev != none {
			actOn[prev] = slices.DeleteFunc(actOn[prev], func(w int) bool { return w == u })
		}
		p.newA[u] = y
		actOn[y] = append(actOn[y], u)
		u, y = from[u], prev
	}
}

// trade makes v active on a node z with room that does not hold it, when
// no chain of role changes reaches one (small clusters, where the kept
// holdings can leave no way): a holder y of v trades places with z in
// another vbucket w that z holds as a replica, so every node keeps its
// count of holdings.
func (p *planner) trade(v int, room []int, actOn [][]int) bool {
	for _, z := range p.members {
		if room[z] == 0 {
			continue
		}
		for k, y := range p.holders(v) {
			if y == none {
				continue
			}
			for w := range p.n {
				hw := p.holders(w)
				i := slices.Index(hw, z)
				if w == v || i < 0 || p.newA[w] == z || slices.Contains(hw, y) {
					continue
				}
				hw[i], p.hold[v*p.h+k] = y, z
				p.newA[v] = z
				room[z]--
				actOn[z] = append(actOn[z], v)
				return true
			}
		}
	}
	return false
}
