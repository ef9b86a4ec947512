package servant

import (
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/peer/vbucket"
	"github.com/faed/faed/servant/kvdb"
)

// This file is the hand-off of a vbucket between two nodes (SPEC §5.3,
// design of issue 8): the coordinator pulls the vbucket's state from its
// old owner (VbPull) and pushes it to the new one (VbPush); a node drops
// what it holds of a vbucket its view neither gives it nor moves to it
// (VbDrop, ViewChanged). Every step decides by this node's own view, waited
// for up to the version the coordinator names, never by the coordinator's
// word alone.

// The steps of vb_pull (idl/fun.thrift).
const (
	stepSnapshot = 1 // a page of the kvdb keys; the first starts tracking
	stepTail     = 2 // the kvdb changes since the last pull
	stepFinal    = 3 // fenced and drained: the rest of the state; tracking ends
	stepAbort    = 4 // tracking ends, nothing is returned
)

// pageItems and pageBytes bound one batch of the tail and of the final
// pull (kvdb.Limit bounds the snapshot pages alike): at least one item,
// else at most pageItems and pageBytes of keys and values, well under the
// 16 MiB max_message_size.
const (
	pageItems = kvdb.DefaultLimitKeys
	pageBytes = kvdb.DefaultLimitBytes
)

var (
	// errNoCluster answers the hand-off calls on a node without a cluster.
	errNoCluster = errors.New("servant: vbucket hand-off needs a cluster; this node has none")
	// errNoMove answers a pull that continues a move this node knows
	// nothing of (it restarted, or the move was aborted or rolled back).
	errNoMove = errors.New("servant: no hand-off of this vbucket is under way here")
	// errNotPeer answers a vb_* call without the cluster's peer token: only
	// the cluster's own nodes make them.
	errNotPeer = errors.New("servant: vb_* calls are for the cluster's own nodes; this one has no valid peer token")
)

// VbPull reads a vbucket's state on a move's source; see the steps above.
func (s *FunServant) VbPull(ctx context.Context, rc *rpc.Context, vb, step int32, cursor []byte, planVersion int64) (*rpc.VBucketBatch, error) {
	ctx, _, cancel := s.deadline(ctx, rc, 0)
	defer cancel()
	if err := s.checkHandoff(ctx, rc, vb, 0, planVersion); err != nil {
		return nil, err
	}
	if err := s.checkAttempt(vb, planVersion, step); err != nil {
		return nil, err
	}
	if step == stepFinal && s.router.VBucket(int(vb)).Fenced {
		// Drain before taking vb's state lock, which the view hook takes
		// too: a slow call in flight must not hold up every view change of
		// this node. pullFinal drains again under the lock; by then no new
		// call can have entered, so that is immediate.
		s.drain(int(vb))
	}
	st := s.moves.lock(int(vb))
	defer st.mu.Unlock()
	switch step {
	case stepSnapshot:
		return s.pullSnapshot(st, int(vb), cursor)
	case stepTail:
		return s.pullTail(st, int(vb))
	case stepFinal:
		return s.pullFinal(st, int(vb), cursor)
	case stepAbort:
		// While the plan still moves vb away, an abort is a stalled
		// coordinator's, of an attempt since replaced: the view hook ends
		// the recording once the move is gone.
		if !s.router.VBucket(int(vb)).Outgoing {
			s.endMoveLocked(st, int(vb))
		}
		return &rpc.VBucketBatch{Vbucket: vb}, nil
	}
	return nil, fmt.Errorf("vb_pull: unknown step %d (1 snapshot, 2 tail, 3 final, 4 abort)", step)
}

// checkHandoff refuses a call that is not a node's of this cluster (no
// peer token) and a vbucket out of range, and waits until our views are at
// least mapVersion and planVersion.
func (s *FunServant) checkHandoff(ctx context.Context, rc *rpc.Context, vb int32, mapVersion, planVersion int64) error {
	if s.router == nil {
		return errNoCluster
	}
	token, err := s.router.PeerToken()
	if err != nil {
		return fmt.Errorf("vbucket calls: %w", err)
	}
	if subtle.ConstantTimeCompare(reqContext(rc).PeerToken, token) != 1 {
		return errNotPeer
	}
	if n := s.router.VBuckets(); vb < 0 || int(vb) >= n {
		return fmt.Errorf("vbucket %d out of range: this cluster has vbuckets 0–%d", vb, n-1)
	}
	if err := s.router.AwaitView(ctx, uint64(max(mapVersion, 0)), uint64(max(planVersion, 0))); err != nil {
		return fmt.Errorf("waiting for map version %d, plan version %d: %w", mapVersion, planVersion, err)
	}
	return nil
}

// pullSnapshot returns a page of vb's kvdb keys after cursor; an empty
// cursor (re)starts the move: tracking begins before the first read, so a
// write the pages miss is in the tail.
func (s *FunServant) pullSnapshot(st *vbState, vb int, cursor []byte) (*rpc.VBucketBatch, error) {
	if err := s.outgoing(vb, "snapshot"); err != nil {
		return nil, err
	}
	if len(cursor) == 0 {
		s.endMoveLocked(st, vb)
		if err := s.kv.StartTracking(vb); err != nil {
			return nil, err
		}
		st.tracking = true
	} else if !st.tracking {
		return nil, fmt.Errorf("vb_pull snapshot of vbucket %d: %w", vb, errNoMove)
	}
	b, err := s.kv.Export(vb, cursor, kvdb.Limit{Keys: cmp.Or(s.moveBatchKeys, pageItems), Bytes: pageBytes})
	if err != nil {
		return nil, err
	}
	out := &rpc.VBucketBatch{Vbucket: int32(vb), Kvdb: kvdbItems(b.Entries), Cursor: orEmpty(b.Cursor()), More: !b.Done}
	if !out.More {
		out.Cursor = []byte{}
	}
	return out, nil
}

// pullTail returns a page of the kvdb changes since the last pull; what
// does not fit waits in st.tail for the next.
func (s *FunServant) pullTail(st *vbState, vb int) (*rpc.VBucketBatch, error) {
	if err := s.outgoing(vb, "tail"); err != nil {
		return nil, err
	}
	if !st.tracking {
		return nil, fmt.Errorf("vb_pull tail of vbucket %d: %w", vb, errNoMove)
	}
	st.tail = mergeChanges(st.tail, s.kv.TakeChanges(vb))
	items, rest, err := s.exportChanges(vb, st.tail)
	if err != nil {
		return nil, err
	}
	st.tail = rest
	return &rpc.VBucketBatch{Vbucket: int32(vb), Kvdb: items, Cursor: []byte{}, More: len(rest) > 0}, nil
}

// pullFinal answers the last pull: once our view fences vb (the plan
// version asked for is in force here), it drains the calls that saw vb
// unfenced, ends tracking and keeps the rest of vb's state in st.final,
// handed out a page per call; the cursor is the offset of the next item,
// so the first page can be asked for again.
func (s *FunServant) pullFinal(st *vbState, vb int, cursor []byte) (*rpc.VBucketBatch, error) {
	if p := s.router.VBucket(vb); !p.Self || !p.Fenced {
		return nil, refusal(p, "vb_pull final: vbucket is not fenced here")
	}
	if st.final == nil {
		if !st.tracking {
			return nil, fmt.Errorf("vb_pull final of vbucket %d: %w", vb, errNoMove)
		}
		s.drain(vb)
		f, err := s.finalState(st, vb)
		if err != nil {
			return nil, err
		}
		st.final, st.tracking, st.tail = f, false, nil
	}
	return st.final.page(vb, cursor)
}

// drain waits for the calls of vb under way: they hold its gate's read
// lock; a call that takes it from now on finds vb fenced.
func (s *FunServant) drain(vb int) {
	g := &s.gates[vb]
	g.Lock()
	//lint:ignore SA2001 an empty critical section: the wait for the readers is the point
	g.Unlock()
}

// outgoing refuses a pull of a vbucket our view is not moving away.
func (s *FunServant) outgoing(vb int, what string) error {
	if p := s.router.VBucket(vb); !p.Self || !p.Outgoing {
		return refusal(p, "vb_pull "+what+": vbucket is not moving away from this node")
	}
	return nil
}

// endMoveLocked forgets vb's move: tracking, tail and final state.
func (s *FunServant) endMoveLocked(st *vbState, vb int) {
	if st.tracking {
		s.kv.EndTracking(vb)
	}
	st.tracking, st.tail, st.final = false, nil, nil
}

// refusal is the TNotOwner a hand-off call answers when our view p does
// not allow it.
func refusal(p vbucket.Placement, why string) error {
	v := int64(p.Version)
	msg := fmt.Sprintf("%s (vbucket %d at map version %d: owner %q, self %t, fenced %t, incoming %t, outgoing %t)",
		why, p.VBucket, p.Version, p.Owner, p.Self, p.Fenced, p.Incoming, p.Outgoing)
	return &rpc.TNotOwner{MapVersion: &v, Owner: &p.Owner, Message: &msg}
}

// exportChanges reads the current state of the first changes, up to a
// page, and returns the rest.
func (s *FunServant) exportChanges(vb int, changes []kvdb.Change) ([]*rpc.VBucketItem, []kvdb.Change, error) {
	n := min(len(changes), pageItems)
	b, err := s.kv.ExportChanges(vb, changes[:n])
	if err != nil {
		return nil, nil, err
	}
	var size int64
	for i, e := range b.Entries {
		if size += int64(len(e.Key) + len(e.Value)); i > 0 && size > pageBytes {
			b.Entries, n = b.Entries[:i], i
			break
		}
	}
	return kvdbItems(b.Entries), changes[n:], nil
}

// mergeChanges adds the newer changes to those not yet pulled. A key in
// both is read once: ExportChanges reads its current state anyway.
func mergeChanges(old, newer []kvdb.Change) []kvdb.Change {
	if len(old) == 0 {
		return newer
	}
	seen := make(map[string]bool, len(old))
	for _, c := range old {
		seen[string(c.Key)] = true
	}
	for _, c := range newer {
		if !seen[string(c.Key)] {
			old = append(old, c)
		}
	}
	return old
}

func kvdbItems(entries []kvdb.Entry) []*rpc.VBucketItem {
	items := make([]*rpc.VBucketItem, len(entries))
	for i, e := range entries {
		items[i] = &rpc.VBucketItem{Key: e.Key}
		if !e.Deleted {
			items[i].Value = orEmpty(e.Value) // no value means deleted
		}
	}
	return items
}

// offsetCursor and cursorOffset carry the final pull's position.
func offsetCursor(off int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(off)) }

func cursorOffset(c []byte) (int, error) {
	switch len(c) {
	case 0:
		return 0, nil
	case 8:
		return int(binary.BigEndian.Uint64(c)), nil
	}
	return 0, fmt.Errorf("vb_pull final: bad cursor of %d bytes", len(c))
}

// checkAttempt refuses a pull or push of vbucket vb naming a plan version
// from before the current attempt of its move started: it comes from a
// coordinator that has since lost the election and stalled, and would
// restart the source's recording or push older values over newer ones.
func (s *FunServant) checkAttempt(vb int32, planVersion int64, step int32) error {
	if step == stepAbort {
		return nil
	}
	if p := s.router.VBucket(int(vb)); p.Since != 0 && uint64(max(planVersion, 0)) <= p.Since {
		return fmt.Errorf("vbucket %d: hand-off call at plan version %d, from before its move's attempt %d (started after %d): refused",
			vb, planVersion, p.Attempt, p.Since)
	}
	return nil
}
