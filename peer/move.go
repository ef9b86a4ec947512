package peer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"faed/idl/gen-go/fun/rpc"
	"faed/peer/vbucket"

	"github.com/apache/thrift/lib/go/thrift"
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

// run applies the plan's failovers and creates at once (no data to move),
// then hands off its transfers, MaxMoves at a time.
func (co *coordinator) run(ctx context.Context, p *vbucket.Plan) error {
	var instant, transfers []vbucket.Move
	for _, mv := range p.Moves {
		if mv.Kind == vbucket.Transfer {
			transfers = append(transfers, mv)
		} else {
			instant = append(instant, mv)
		}
	}
	if err := co.flipInstant(p.Failovers, instant); err != nil {
		return err
	}
	if len(transfers) == 0 {
		return nil
	}
	if err := co.persist(transfers); err != nil {
		return err
	}
	return co.transferAll(ctx, transfers)
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
		doc.Moves = append(doc.Moves, PlanMove{VBucket: mv.VBucket, From: mv.From.Active, To: mv.To.Active, Phase: PhasePending})
	}
	doc.MovesTotal = doc.MovesDone + len(transfers)
	_, err := co.commitLocked(nil, doc)
	return err
}

// transferAll runs the transfers with at most MaxMoves in flight; a failed
// move is rolled back and the others go on. It returns the failures.
func (co *coordinator) transferAll(ctx context.Context, transfers []vbucket.Move) error {
	sem := make(chan struct{}, co.cfg.MaxMoves)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex // guards errs
		errs []error
	)
	for _, mv := range transfers {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := co.transfer(ctx, mv); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("move vbucket %d %s→%s: %w", mv.VBucket, mv.From.Active, mv.To.Active, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// transfer hands one vbucket off; on any failure before the flip it rolls
// the move back.
func (co *coordinator) transfer(ctx context.Context, mv vbucket.Move) error {
	pm := PlanMove{VBucket: mv.VBucket, From: mv.From.Active, To: mv.To.Active}
	err := co.handOff(ctx, pm)
	if err == nil {
		err = co.flip(mv)
	}
	if err != nil {
		co.c.members.log.Warn("peer: move failed, rolling back", "move", pm, "err", err)
		if rerr := co.rollback(context.WithoutCancel(ctx), pm); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	return err
}

// handOff runs the protocol's steps up to the flip.
func (co *coordinator) handOff(ctx context.Context, pm PlanMove) error {
	pv, err := co.setPhase(pm.VBucket, PhaseCopying)
	if err != nil {
		return err
	}
	if err := co.copyPages(ctx, pm, pullSnapshot, pv); err != nil {
		return err
	}
	if err := co.copyPages(ctx, pm, pullTail, pv); err != nil {
		return err
	}
	if pv, err = co.setPhase(pm.VBucket, PhaseFenced); err != nil {
		return err
	}
	return co.copyPages(ctx, pm, pullFinal, pv)
}

// copyPages pulls one step's batches from the source and pushes each to
// the destination while the source says more. The snapshot and the final
// step go on from the cursor of the last batch (an empty one would start
// the snapshot over); the tail hands out its pages in order by itself.
func (co *coordinator) copyPages(ctx context.Context, pm PlanMove, step int32, pv uint64) error {
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

func moveContext() *rpc.Context {
	return &rpc.Context{Reason: "vbucket move", Sticky: thrift.BoolPtr(true)}
}

func (co *coordinator) pull(ctx context.Context, pm PlanMove, step int32, cursor []byte, pv uint64) (*rpc.VBucketBatch, error) {
	var b *rpc.VBucketBatch
	err := co.c.peers.Do(ctx, pm.From, func(s rpc.FunServant) (err error) {
		b, err = s.VbPull(ctx, moveContext(), int32(pm.VBucket), step, cursor, int64(pv))
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

func (co *coordinator) push(ctx context.Context, pm PlanMove, b *rpc.VBucketBatch, pv uint64) error {
	var ok bool
	err := co.c.peers.Do(ctx, pm.To, func(s rpc.FunServant) (err error) {
		ok, err = s.VbPush(ctx, moveContext(), b, int64(pv))
		return err
	})
	if err == nil && !ok {
		err = errors.New("refused")
	}
	if err != nil {
		return fmt.Errorf("vb_push to %s: %w", pm.To, err)
	}
	co.count(b)
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

// setPhase writes vbucket vb's move in phase and returns the plan version
// that says so.
func (co *coordinator) setPhase(vb int, phase string) (uint64, error) {
	co.mu.Lock()
	defer co.mu.Unlock()
	if co.plan.find(vb) < 0 {
		return 0, fmt.Errorf("vbucket %d: no longer in the plan", vb)
	}
	return co.commitLocked(nil, co.plan.withPhase(vb, phase))
}

// flip is the protocol's step 5: the map gives the vbucket to its new owner
// and the plan drops the move, in one multi.
func (co *coordinator) flip(mv vbucket.Move) error {
	co.mu.Lock()
	defer co.mu.Unlock()
	m, err := co.m.Apply([]vbucket.Move{mv})
	if err != nil {
		return err
	}
	doc := co.plan.without(mv.VBucket)
	doc.MovesDone++
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
