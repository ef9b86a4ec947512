package servant

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/servant/kvdb"
	"github.com/faed/faed/servant/lcache"
	"github.com/faed/faed/servant/lock"
)

// moves is what this node keeps of the hand-offs of its vbuckets: one
// vbState per vbucket.
type moves struct {
	vbs []vbState
	// startOnce marks the first ViewChanged; see vbState.refusing.
	startOnce sync.Once
}

// vbState is one vbucket's part in moves.
type vbState struct {
	// mu guards the fields below. Every hand-off step of the vbucket and
	// ViewChanged hold it, so a step and a view change never interleave.
	mu sync.Mutex
	// tracking: a pull started tracking the vbucket's kvdb changes here.
	tracking bool
	// tail holds changes taken from kvdb but not yet pulled.
	tail []kvdb.Change
	// final is what the last pull hands out, once it has run.
	final *final
	// importing: a push of the current incoming move was applied; the
	// first one dropped whatever this node held of the vbucket before.
	importing bool
	// refusing: the vbucket was already incoming at this node's first
	// view, so pushes to an earlier run of the node may be lost; pushes
	// are refused until the view no longer shows it incoming (rolled
	// back), so a partial copy never becomes the new owner's.
	refusing bool
	// attempt is the move attempt importing or refusing is about
	// (Placement.Attempt): a new one starts over.
	attempt uint64
	// locksUnknownUntil (unix ns; read without mu by lock): until then
	// lock() on the vbucket answers held. Set when a vbucket this process
	// refused pushes for becomes ours: the flip came from pushes to an
	// earlier run of this node, whose imported locks died with it, so a
	// lock may be held that this table does not know.
	locksUnknownUntil atomic.Int64
	// held: this node may hold state of the vbucket, so drop on sight
	// has work to do. Set for every vbucket until the first view.
	held bool
}

func (m *moves) init(n int) {
	m.vbs = make([]vbState, n)
	for i := range m.vbs {
		m.vbs[i].held = true
	}
}

func (m *moves) lock(vb int) *vbState {
	st := &m.vbs[vb]
	st.mu.Lock()
	return st
}

// VbPush applies a batch of a vbucket's state on a move's destination:
// refused unless our view (at least planVersion) moves the vbucket here.
// The kvdb entries are imported in one transaction; the locks, lcache and
// query-cache entries each all or none. The vbucket is not served here
// until the map flips, so nobody sees a batch half applied.
func (s *FunServant) VbPush(ctx context.Context, rc *rpc.Context, b *rpc.VBucketBatch, planVersion int64) (bool, error) {
	ctx, _, cancel := s.deadline(ctx, rc, 0)
	defer cancel()
	if b == nil {
		return false, fmt.Errorf("vb_push without a batch")
	}
	if err := s.checkHandoff(ctx, rc, b.Vbucket, 0, planVersion); err != nil {
		return false, err
	}
	if err := s.checkAttempt(b.Vbucket, planVersion, 0); err != nil {
		return false, err
	}
	vb := int(b.Vbucket)
	st := s.moves.lock(vb)
	defer st.mu.Unlock()
	p := s.router.VBucket(vb)
	if p.Self || !p.Incoming {
		return false, refusal(p, "vb_push: vbucket is not moving to this node")
	}
	if (st.importing || st.refusing) && st.attempt != p.Attempt {
		// An earlier attempt was rolled back while we did not look: its
		// copy is stale (a key deleted since would come back), and a
		// partial copy from before a restart is no reason to refuse this one.
		st.importing, st.refusing = false, false
	}
	if st.refusing {
		return false, fmt.Errorf("vb_push of vbucket %d: it was already moving here when this node started; "+
			"its copy may be partial, so pushes are refused until the move is rolled back", vb)
	}
	if !st.importing {
		// Whatever we held of it predates this move: a key deleted on the
		// old owner since must not come back.
		if _, err := s.dropVBucket(vb); err != nil {
			return false, err
		}
		st.importing, st.attempt = true, p.Attempt
	}
	st.held = true
	return true, s.importBatch(vb, b)
}

// importBatch applies b's four parts to the servants of vb.
func (s *FunServant) importBatch(vb int, b *rpc.VBucketBatch) error {
	if len(b.Kvdb) > 0 { // an empty import would still write and sync
		if err := s.kv.Import(kvdbBatch(vb, b.Kvdb)); err != nil {
			return fmt.Errorf("vb_push kvdb: %w", err)
		}
	}
	held := make([]lock.Held, len(b.Locks))
	for i, it := range b.Locks {
		held[i] = lock.Held{Key: string(it.Key), TTL: time.Duration(it.GetTtlMs()) * time.Millisecond}
	}
	if err := s.locks.ImportVBucket(vb, held); err != nil {
		return fmt.Errorf("vb_push locks: %w", err)
	}
	if !s.cfg.LCacheLocal {
		entries := make([]lcache.Entry, len(b.Lcache))
		for i, it := range b.Lcache {
			entries[i] = lcache.Entry{Key: string(it.Key), Value: it.Value}
		}
		if err := s.cache.ImportVBucket(vb, entries); err != nil {
			return fmt.Errorf("vb_push lcache: %w", err)
		}
	}
	if len(b.QueryCache) == 0 {
		return nil
	}
	my, done, err := s.my.hold()
	if err != nil {
		return nil // mysql not configured: no query cache to fill
	}
	defer done()
	cached, err := queryCacheEntries(b.QueryCache)
	if err == nil {
		err = my.client.ImportVBucket(vb, cached)
	}
	if err != nil {
		return fmt.Errorf("vb_push query cache: %w", err)
	}
	return nil
}

// VbDrop drops this node's state of a vbucket that its map (at least
// mapVersion) neither gives it nor moves to it, and answers how many kvdb
// keys it dropped.
func (s *FunServant) VbDrop(ctx context.Context, rc *rpc.Context, vb int32, mapVersion int64) (int64, error) {
	ctx, _, cancel := s.deadline(ctx, rc, 0)
	defer cancel()
	if err := s.checkHandoff(ctx, rc, vb, mapVersion, 0); err != nil {
		return 0, err
	}
	st := s.moves.lock(int(vb))
	defer st.mu.Unlock()
	if p := s.router.VBucket(int(vb)); p.Self || p.Incoming || p.Owner == "" {
		return 0, refusal(p, "vb_drop: this node holds the vbucket, it is moving here, or no node does")
	}
	s.endMoveLocked(st, int(vb))
	n, err := s.dropVBucket(int(vb))
	st.held = err != nil
	return int64(n), err
}

// ViewChanged brings this node's state in line with its view; the daemon
// calls it after each change of the map or the plan, and once at start,
// before routed calls are served. For each vbucket: a move away that the
// view no longer shows ends (kvdb tracking stops); a vbucket neither ours
// nor moving here is dropped on sight, the first time only (one no map
// names an owner of is kept). It reads the
// view afresh under each vbucket's lock, so a late call never acts on an
// older view than a hand-off step already did. Cheap when nothing changed:
// a placement read and a mutex per vbucket.
func (s *FunServant) ViewChanged() {
	// Before a map is read (version 0) no vbucket is ours, and none is
	// known to be someone else's either: acting on it would drop on sight,
	// at every start, all a node's kvdb file holds.
	if s.router == nil || s.router.VBucket(0).Version == 0 {
		return
	}
	first := false
	s.moves.startOnce.Do(func() { first = true })
	for vb := range s.moves.vbs {
		st := s.moves.lock(vb)
		s.viewChangedLocked(st, vb, first)
		st.mu.Unlock()
	}
}

func (s *FunServant) viewChangedLocked(st *vbState, vb int, first bool) {
	p := s.router.VBucket(vb)
	if !p.Outgoing && (st.tracking || st.final != nil) {
		s.endMoveLocked(st, vb)
	}
	if st.refusing && p.Self {
		st.locksUnknownUntil.Store(time.Now().Add(s.cfg.Lock.Expiry).UnixNano())
		s.log.Warn("a vbucket moved here by pushes to this node's previous run: its held locks are unknown; lock() answers held until they have expired",
			"vbucket", vb, "for", s.cfg.Lock.Expiry)
	}
	switch {
	case !p.Incoming:
		st.importing, st.refusing = false, false
	case first && !p.Self:
		st.refusing, st.attempt = true, p.Attempt
	}
	if first && p.Replica {
		// Our kvdb copy survived the restart, our copy of its locks did
		// not: were this replica promoted, lock() must not grant a key a
		// client may hold, for one lease.
		st.locksUnknownUntil.Store(time.Now().Add(s.cfg.Lock.Expiry).UnixNano())
	}
	if p.Self || p.Replica || p.Incoming || p.Owner == "" {
		// A vbucket no map names an owner of (none known yet, or dead)
		// is kept: our copy may be the only one.
		st.held = true
		return
	}
	if st.held {
		if _, err := s.dropVBucket(vb); err != nil {
			s.routing.dropErrors.Add(1)
			return // held stays set: the next view tries again
		}
		st.held = false
	}
}

// dropVBucket removes everything of vb here: kvdb keys, locks, lcache and
// query-cache entries, under vb's gate so no call of it is under way. It
// answers the kvdb keys dropped. Its caller holds vb's state lock.
func (s *FunServant) dropVBucket(vb int) (int, error) {
	g := &s.gates[vb]
	g.Lock()
	defer g.Unlock()
	n, err := s.dropKVDB(vb)
	if err != nil {
		return n, err
	}
	s.routing.droppedKeys.Add(uint64(n))
	if _, err := s.locks.DropVBucket(vb); err != nil {
		return n, err
	}
	if !s.cfg.LCacheLocal {
		if _, err := s.cache.DropVBucket(vb); err != nil {
			return n, err
		}
	}
	if my, done, held := s.my.hold(); held == nil {
		defer done()
		_, err = my.client.DropVBucket(vb)
	}
	return n, err
}

// dropKVDB drops vb's kvdb keys, after a read that finds whether there are
// any: Drop writes (and syncs) even an empty range, and the first view
// drops every vbucket that is not ours.
func (s *FunServant) dropKVDB(vb int) (int, error) {
	b, err := s.kv.Export(vb, nil, kvdb.Limit{Keys: 1})
	if err != nil || len(b.Entries) == 0 {
		return 0, err
	}
	return s.kv.Drop(vb)
}
