package peer

import (
	"encoding/json"
	"fmt"
	"slices"
)

// The rebalance plan lives in the znode Root+"/plan" as JSON (planDoc). Only
// the coordinator writes it; every node reads it to learn which of its
// vbuckets are moving and whether they are fenced. Its version is the
// znode's Mzxid, which only grows.

// Phases of a move in the plan. A move that is done leaves the plan: the map
// then names its new owner.
const (
	PhasePending = "pending" // planned, not started: nobody acts on it
	PhaseCopying = "copying" // the source serves and records changes; the destination keeps what arrives
	PhaseFenced  = "fenced"  // the source serves none of the vbucket's calls until the flip or a rollback
)

// PlanMove is one vbucket move of the plan.
type PlanMove struct {
	VBucket int    `json:"vbucket"`
	From    string `json:"from"`
	To      string `json:"to"`
	Phase   string `json:"phase"`
	// Copies are the nodes the move copies the vbucket's state to: those of
	// its new entry (active owner and replicas) that hold none of it yet,
	// and the new active owner always, even from a replica: the caches are
	// not replicated. Absent (a plan of before replicas): To alone.
	Copies []string `json:"copies"`
	// Attempt numbers this try of the move (planDoc.Attempts when it
	// entered copying): a destination that finds a new attempt where it
	// was importing an older one drops that copy, though it never saw the
	// rollback in between.
	Attempt uint64 `json:"attempt,omitempty"`
	// Since is the plan version this attempt was started after: every
	// vb_pull and vb_push of the attempt names a later one, while a
	// stalled coordinator of before it (which can write nothing since,
	// its election znode gone) names no later one, and is refused.
	Since uint64 `json:"since,omitempty"`
}

// copies returns the nodes the move copies to (see Copies).
func (mv PlanMove) copies() []string {
	if mv.Copies == nil {
		return []string{mv.To}
	}
	return mv.Copies
}

// copiesTo reports whether the move copies to node. It does not allocate.
func (mv PlanMove) copiesTo(node string) bool {
	if mv.Copies == nil {
		return mv.To == node
	}
	return slices.Contains(mv.Copies, node)
}

// inFlight reports whether the move has started and not ended.
func (mv PlanMove) inFlight() bool { return mv.Phase == PhaseCopying || mv.Phase == PhaseFenced }

// planDoc is the plan znode's content. The counters add up over every plan
// since the znode was created: moves left = MovesTotal - MovesDone.
type planDoc struct {
	Coordinator string     `json:"coordinator"`
	Moves       []PlanMove `json:"moves"`
	MovesTotal  int        `json:"moves_total"`
	MovesDone   int        `json:"moves_done"`
	KeysCopied  uint64     `json:"keys_copied"`
	BytesCopied uint64     `json:"bytes_copied"`
	Attempts    uint64     `json:"attempts"` // moves started so far: the last PlanMove.Attempt
}

func decodePlan(data []byte) (*planDoc, error) {
	d := &planDoc{}
	if len(data) == 0 {
		return d, nil
	}
	if err := json.Unmarshal(data, d); err != nil {
		return nil, fmt.Errorf("peer: plan znode: %w", err)
	}
	return d, nil
}

func (d *planDoc) encode() []byte {
	b, _ := json.Marshal(d) // plain values only: it cannot fail
	return b
}

// clone returns a deep copy, so a writer never edits a doc readers hold.
func (d *planDoc) clone() *planDoc {
	c := *d
	c.Moves = slices.Clone(d.Moves)
	return &c
}

// find returns the index of vbucket vb's move, or -1.
func (d *planDoc) find(vb int) int {
	return slices.IndexFunc(d.Moves, func(mv PlanMove) bool { return mv.VBucket == vb })
}

// without returns a copy lacking vbucket vb's move.
func (d *planDoc) without(vb int) *planDoc {
	c := d.clone()
	c.Moves = slices.DeleteFunc(c.Moves, func(mv PlanMove) bool { return mv.VBucket == vb })
	return c
}

// current returns the moves in flight.
func (d *planDoc) current() []PlanMove {
	return slices.DeleteFunc(slices.Clone(d.Moves), func(mv PlanMove) bool { return !mv.inFlight() })
}

// planView is a plan as read, indexed by vbucket for Owner: immutable once
// built.
type planView struct {
	version uint64 // the plan znode's Mzxid; 0 if it does not exist
	doc     *planDoc
	byVB    []int32 // per vbucket: index into doc.Moves of its move in flight, or -1
}

func newPlanView(version uint64, doc *planDoc, vbuckets int) *planView {
	v := &planView{version: version, doc: doc, byVB: make([]int32, vbuckets)}
	for i := range v.byVB {
		v.byVB[i] = -1
	}
	for i, mv := range doc.Moves {
		if mv.inFlight() && mv.VBucket >= 0 && mv.VBucket < vbuckets {
			v.byVB[mv.VBucket] = int32(i)
		}
	}
	return v
}

// move returns vbucket vb's move in flight, if any. It does not allocate.
func (v *planView) move(vb int) (PlanMove, bool) {
	if vb < 0 || vb >= len(v.byVB) || v.byVB[vb] < 0 {
		return PlanMove{}, false
	}
	return v.doc.Moves[v.byVB[vb]], true
}

// targets reports whether a move of the plan, started or not, goes to addr.
func (v *planView) targets(addr string) bool {
	return slices.ContainsFunc(v.doc.Moves, func(mv PlanMove) bool { return mv.To == addr || mv.copiesTo(addr) })
}
