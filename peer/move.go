package peer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/peer/vbucket"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/go-zookeeper/zk"
)

// This file runs a plan's moves by the hand-off protocol of the design:
// copying (snapshot pages, then the tail) → fenced (the last changes and
// the held state) → the flip, one multi that sets the map and the plan.

// Steps of vb_pull.
const (
	pullSnapshot int32 = 1
	pullTail     int32 = 2
	pullFinal    int32 = 3
	pullAbort    int32 = 4
)

// abortTimeout bounds the best-effort vb_pull abort after a failed move.
const abortTimeout = 2 * time.Second

// run applies the plan's failovers and the moves that copy nothing and
// fence nothing at once, then hands off the others, MaxMoves at a time.
//
// A failover off a node that lives (it is draining) is a hand-off too: its
// caches and its last writes are on it. The moves planned for such a
// vbucket after its failover wait for the next round.
func (co *coordinator) run(ctx context.Context, p *vbucket.Plan) error {
	var failovers, instant, handoffs []vbucket.Move
	live := co.c.members.MemberList()
	deferred := map[int]bool{}
	for _, mv := range p.Failovers {
		if live.Has(mv.From.Active) {
			handoffs = append(handoffs, mv)
			deferred[mv.VBucket] = true
		} else {
			failovers = append(failovers, mv)
		}
	}
	for _, mv := range p.Moves {
		switch {
		case deferred[mv.VBucket]:
		case needsHandoff(mv, live):
			handoffs = append(handoffs, mv)
		default:
			instant = append(instant, mv)
		}
	}
	if err := co.flipInstant(failovers, instant); err != nil {
		return err
	}
	if len(handoffs) == 0 {
		return nil
	}
	if err := co.persist(handoffs); err != nil {
		return err
	}
	return co.transferAll(ctx, handoffs)
}

// needsHandoff reports whether mv must go through the hand-off: its
// vbucket's active owner gives the role to another node (which must not
// serve a write the old one still takes: a fence and a flip) or keeps it
// while a new holder needs a copy of the state. A move off a draining node
// is a Create to the planner, which plans for members only, but the node
// lives and its state must be handed off like any. A move off a node that
// is gone but within its grace is tried too, and fails, rolled back: the
// state is on that node only. Everything else changes the map alone: a
// dead vbucket created, a replica dropped, a vbucket whose every holder
// is gone past its grace.
func needsHandoff(mv vbucket.Move, live *MemberList) bool {
	switch {
	case mv.From.Active == "":
		return false
	case !live.Has(mv.From.Active):
		return mv.Kind != vbucket.Create
	}
	return mv.From.Active != mv.To.Active || len(mv.Copies()) > 0
}

// flipInstant applies moves that copy nothing in one map change.
func (co *coordinator) flipInstant(failovers, moves []vbucket.Move) error {
	if len(failovers)+len(moves) == 0 {
		return nil
	}
	co.mu.Lock()
	defer co.mu.Unlock()
	m, err := co.m.Apply(failovers)
	if err == nil {
		m, err = m.Apply(moves)
	}
	if err != nil {
		return err
	}
	_, err = co.commitLocked(m, co.plan.clone())
	return err
}

// persist writes the transfers into the plan as pending.
func (co *coordinator) persist(transfers []vbucket.Move) error {
	co.mu.Lock()
	defer co.mu.Unlock()
	doc := co.plan.clone()
	doc.Coordinator = co.c.self
	doc.Moves = doc.Moves[:0]
	for _, mv := range transfers {
		pm := planMove(mv)
		pm.Phase = PhasePending
		doc.Moves = append(doc.Moves, pm)
	}
	doc.MovesTotal = doc.MovesDone + len(transfers)
	_, err := co.commitLocked(nil, doc)
	return err
}

// transferAll runs the transfers in groups of at most MaxMoves, one group
// at a time; a failed move is rolled back and the others go on. It returns
// the failures.
//
// A group shares its plan writes: one puts all its moves in copying, one in
// fenced, one multi flips all that got there. A move costs the cluster
// three writes of the map and plan, and every node a read of each, so
// grouping divides the rebalance's ZooKeeper traffic, and most of its time,
// by the group's size.
func (co *coordinator) transferAll(ctx context.Context, transfers []vbucket.Move) error {
	var errs []error
	for group := range slices.Chunk(transfers, co.cfg.MaxMoves) {
		if ctx.Err() != nil {
			break
		}
		if stale, err := co.targetsGone(group); err != nil || stale {
			// Plan again: the moves left would hand vbuckets to a node
			// that is leaving (SIGTERM drains it) or gone.
			errs = append(errs, err)
			break
		}
		errs = append(errs, co.transferGroup(ctx, group))
	}
	return errors.Join(errs...)
}

// targetsGone reports whether a move of group goes to a node that is no
// longer a live member or has been asked to drain since the plan was made.
func (co *coordinator) targetsGone(group []vbucket.Move) (bool, error) {
	drain, _, err := co.t.conn.Children(co.c.drainPath())
	if err != nil && !errors.Is(err, zk.ErrNoNode) {
		return false, fmt.Errorf("peer: read %s: %w", co.c.drainPath(), err)
	}
	live := co.c.members.MemberList()
	for _, mv := range group {
		for _, to := range append([]string{mv.To.Active}, mv.To.Replicas...) {
			if slices.Contains(drain, to) || !live.Has(to) {
				co.c.members.log.Info("peer: a move's destination is leaving; planning again", "vbucket", mv.VBucket, "to", to)
				return true, nil
			}
		}
	}
	return false, nil
}

// transferGroup hands a group of vbuckets off by the protocol's steps, each
// step for every move of the group at once; a move that fails a step is
// rolled back and leaves the group.
func (co *coordinator) transferGroup(ctx context.Context, group []vbucket.Move) error {
	var errs []error
	fail := func(mv vbucket.Move, err error) {
		pm := planMove(mv)
		co.c.members.log.Warn("peer: move failed, rolling back", "move", pm, "err", err)
		if rerr := co.rollback(context.WithoutCancel(ctx), pm); rerr != nil {
			err = errors.Join(err, rerr)
		}
		errs = append(errs, fmt.Errorf("move vbucket %d %s→%s: %w", mv.VBucket, pm.From, pm.To, err))
	}
	steps := []struct {
		phase string
		copy  func(context.Context, PlanMove, uint64) error
	}{
		{PhaseCopying, func(ctx context.Context, pm PlanMove, pv uint64) error {
			if err := co.copyStep(ctx, pm, pullSnapshot, pv); err != nil {
				return err
			}
			return co.copyStep(ctx, pm, pullTail, pv)
		}},
		{PhaseFenced, func(ctx context.Context, pm PlanMove, pv uint64) error {
			return co.copyStep(ctx, pm, pullFinal, pv)
		}},
	}
	for _, step := range steps {
		pv, err := co.setPhases(group, step.phase)
		if err != nil {
			for _, mv := range group {
				fail(mv, err)
			}
			return errors.Join(errs...)
		}
		failed := co.copyAll(ctx, group, pv, step.copy)
		group = slices.DeleteFunc(group, func(mv vbucket.Move) bool {
			if err, ok := failed[mv.VBucket]; ok {
				fail(mv, err)
				return true
			}
			return false
		})
	}
	if err := co.flip(group); err != nil {
		for _, mv := range group {
			fail(mv, err)
		}
	}
	return errors.Join(errs...)
}

// copyAll runs copy for every move of the group concurrently and returns
// the errors by vbucket.
func (co *coordinator) copyAll(ctx context.Context, group []vbucket.Move, pv uint64, copy func(context.Context, PlanMove, uint64) error) map[int]error {
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex // guards failed
		failed = map[int]error{}
	)
	for _, mv := range group {
		wg.Go(func() {
			if err := copy(ctx, planMove(mv), pv); err != nil {
				mu.Lock()
				failed[mv.VBucket] = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return failed
}

// planMove is mv as the plan records it: its copies are the new holders
// that are not its source (a draining source is, to the planner, gone),
// and the new active owner even when it holds a replica: the caches are
// not replicated, and only a copy hands them over.
func planMove(mv vbucket.Move) PlanMove {
	copies := slices.DeleteFunc(mv.Copies(), func(n string) bool { return n == mv.From.Active })
	if to := mv.To.Active; to != mv.From.Active && !slices.Contains(copies, to) {
		copies = append(copies, to)
	}
	return PlanMove{VBucket: mv.VBucket, From: mv.From.Active, To: mv.To.Active, Copies: append([]string{}, copies...)}
}

// copyStep pulls one step's batches from the source and pushes each to
// the destination while the source says more. The snapshot and the final
// step go on from the cursor of the last batch (an empty one would start
// the snapshot over); the tail hands out its pages in order by itself.
func (co *coordinator) copyStep(ctx context.Context, pm PlanMove, step int32, pv uint64) error {
	var cursor []byte
	for ctx.Err() == nil {
		b, err := co.pull(ctx, pm, step, cursor, pv)
		if err == nil {
			err = co.push(ctx, pm, b, pv)
		}
		if err != nil || !b.More {
			return err
		}
		if step != pullTail {
			if len(b.Cursor) == 0 {
				return fmt.Errorf("vb_pull step %d: more to come but no cursor", step)
			}
			cursor = b.Cursor
		}
	}
	return context.Cause(ctx)
}

// moveContext is the Context of a hand-off call, with the cluster's peer
// token, which the node called checks.
func (co *coordinator) moveContext() (*rpc.Context, error) {
	token, err := co.c.PeerToken()
	if err != nil {
		return nil, err
	}
	return &rpc.Context{Reason: "vbucket move", Sticky: thrift.BoolPtr(true), PeerToken: token}, nil
}

func (co *coordinator) pull(ctx context.Context, pm PlanMove, step int32, cursor []byte, pv uint64) (*rpc.VBucketBatch, error) {
	rc, err := co.moveContext()
	if err != nil {
		return nil, err
	}
	var b *rpc.VBucketBatch
	err = co.c.peers.Do(ctx, pm.From, func(s rpc.FunServant) (err error) {
		b, err = s.VbPull(ctx, rc, int32(pm.VBucket), step, cursor, int64(pv))
		return err
	})
	if err == nil && b == nil {
		err = errors.New("vb_pull: no batch")
	}
	if err != nil {
		return nil, fmt.Errorf("vb_pull step %d from %s: %w", step, pm.From, err)
	}
	return b, nil
}

// push applies b on every node the move copies to, one after the other.
func (co *coordinator) push(ctx context.Context, pm PlanMove, b *rpc.VBucketBatch, pv uint64) error {
	rc, err := co.moveContext()
	if err != nil {
		return err
	}
	for _, to := range pm.copies() {
		var ok bool
		err := co.c.peers.Do(ctx, to, func(s rpc.FunServant) (err error) {
			ok, err = s.VbPush(ctx, rc, b, int64(pv))
			return err
		})
		if err == nil && !ok {
			err = errors.New("refused")
		}
		if err != nil {
			return fmt.Errorf("vb_push to %s: %w", to, err)
		}
		co.count(b)
	}
	return nil
}

// count adds a pushed batch to the keys and bytes copied.
func (co *coordinator) count(b *rpc.VBucketBatch) {
	var keys, bytes int
	for _, items := range [][]*rpc.VBucketItem{b.Kvdb, b.Locks, b.Lcache, b.QueryCache} {
		keys += len(items)
		for _, it := range items {
			bytes += len(it.Key) + len(it.Value)
		}
	}
	co.keys.Add(uint64(keys))
	co.bytes.Add(uint64(bytes))
}

// setPhases writes the group's moves in phase and returns the plan
// version that says so.
func (co *coordinator) setPhases(group []vbucket.Move, phase string) (uint64, error) {
	co.mu.Lock()
	defer co.mu.Unlock()
	doc := co.plan.clone()
	for _, mv := range group {
		i := doc.find(mv.VBucket)
		if i < 0 {
			return 0, fmt.Errorf("vbucket %d: no longer in the plan", mv.VBucket)
		}
		doc.Moves[i].Phase = phase
		if phase == PhaseCopying {
			doc.Attempts++
			doc.Moves[i].Attempt, doc.Moves[i].Since = doc.Attempts, co.pzxid
		}
	}
	return co.commitLocked(nil, doc)
}

// flip is the protocol's last step for a group: the map gives each
// vbucket to its new owner and the plan drops the moves, in one multi.
func (co *coordinator) flip(group []vbucket.Move) error {
	if len(group) == 0 {
		return nil
	}
	co.mu.Lock()
	defer co.mu.Unlock()
	m, err := co.m.Apply(group)
	if err != nil {
		return err
	}
	doc := co.plan
	for _, mv := range group {
		doc = doc.without(mv.VBucket)
	}
	doc.MovesDone += len(group)
	_, err = co.commitLocked(m, doc)
	return err
}

// rollback takes the move out of the plan, so the source serves the
// vbucket again and the destination drops what it got, then tells the
// source to stop recording, best effort. Writing the plan without the move
// is right whether or not an unanswered flip went through.
func (co *coordinator) rollback(ctx context.Context, pm PlanMove) error {
	co.mu.Lock()
	_, err := co.commitLocked(nil, co.plan.without(pm.VBucket))
	co.mu.Unlock()
	actx, cancel := context.WithTimeout(ctx, abortTimeout)
	defer cancel()
	if _, aerr := co.pull(actx, pm, pullAbort, nil, 0); aerr != nil {
		co.c.members.log.Info("peer: abort of a rolled-back move", "move", pm, "err", aerr)
	}
	return err
}
