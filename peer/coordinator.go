package peer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faed/faed/peer/vbucket"

	"github.com/go-zookeeper/zk"
)

// This file is the coordinator: the elected node that creates the first
// map, plans map changes when the members change, persists the plan and
// runs its moves (move.go). Every write it makes is one ZooKeeper multi
// that first checks its election znode (term.check), so a coordinator that
// lost its term cannot write.

// errStaleTerm wraps a refused write: the term or a znode version moved.
var errStaleTerm = errors.New("peer: coordinator write refused")

// errNoMembers: no member list read yet, so no first map to make.
var errNoMembers = errors.New("peer: no live members to create the vbucket map for yet")

// coordinator is one term's state. Its map and plan are the last it read or
// wrote, with their znode versions for the version checks.
type coordinator struct {
	c   *Cluster
	t   *term
	cfg Config

	keys, bytes atomic.Uint64 // copied in this term, added to the plan's counters

	mu    sync.Mutex // guards m, mvers, plan, pvers; held across each write
	m     *vbucket.Map
	mvers int32
	plan  *planDoc
	pvers int32
	pzxid uint64 // the plan znode's Mzxid as we last read or wrote it

	gone   map[string]time.Time // map nodes missing from the members, since when; run's only
	reload atomic.Bool          // a write was refused: start again (read, roll back) before the next round

	// drainW and rebalW are the armed watches on the drain requests and the
	// rebalance request, nil once fired (run's only): re-armed only then,
	// so rounds that fail do not pile watches up.
	drainW, rebalW <-chan zk.Event
}

func (c *Cluster) drainPath() string     { return c.members.cfg.Root + "/drain" }
func (c *Cluster) rebalancePath() string { return c.members.cfg.Root + "/rebalance" }

// coordinate leads until ctx is done: load or create the map, roll back
// what a previous coordinator left in flight, then plan and move whenever
// something changes.
func (c *Cluster) coordinate(ctx context.Context, t *term) {
	co := &coordinator{c: c, t: t, cfg: c.members.cfg, gone: map[string]time.Time{}}
	for ctx.Err() == nil {
		err := co.start(ctx)
		if err == nil {
			break
		}
		if errors.Is(err, errNoMembers) {
			co.wait(ctx, nil) // until someone joins
			continue
		}
		c.members.log.Warn("peer: coordinator start, retrying", "err", err)
		sleepCtx(ctx, retryInterval)
	}
	c.coord.Store(co)
	defer c.coord.CompareAndSwap(co, nil)
	for ctx.Err() == nil {
		co.arm()
		_, viewed := c.Changed() // before the round: a change during it wakes the wait
		moved, err := co.round(ctx)
		switch {
		case err != nil:
			c.members.log.Warn("peer: rebalance round", "err", err)
			sleepCtx(ctx, retryInterval)
		case !moved:
			co.wait(ctx, viewed)
		}
	}
}

// start reads the map and the plan, creating them if missing, and rolls
// back every move in flight.
func (co *coordinator) start(ctx context.Context) error {
	if err := ensurePath(co.t.conn, co.c.drainPath()); err != nil {
		return err
	}
	if err := co.load(); err != nil {
		return err
	}
	co.mu.Lock()
	stuck := co.plan.current()
	co.mu.Unlock()
	for _, mv := range stuck {
		co.c.members.log.Info("peer: rolling back a move of the previous coordinator", "move", mv)
		if err := co.rollback(ctx, mv); err != nil {
			return err
		}
	}
	co.mu.Lock()
	defer co.mu.Unlock()
	doc := co.plan.clone()
	doc.Coordinator, doc.Moves = co.c.self, nil
	_, err := co.commitLocked(nil, doc)
	return err
}

// load reads the map (creating the first one) and the plan (creating an
// empty one).
func (co *coordinator) load() error {
	conn := co.t.conn
	_, err := conn.Create(co.c.planPath(), (&planDoc{}).encode(), 0, openACL)
	if err != nil && !errors.Is(err, zk.ErrNodeExists) {
		return fmt.Errorf("peer: create %s: %w", co.c.planPath(), err)
	}
	if err := co.createMap(); err != nil {
		return err
	}
	co.mu.Lock()
	defer co.mu.Unlock()
	data, st, err := conn.Get(co.c.mapPath())
	if err != nil {
		return fmt.Errorf("peer: read %s: %w", co.c.mapPath(), err)
	}
	if co.m, err = vbucket.Decode(data); err != nil {
		return fmt.Errorf("peer: %s: %w", co.c.mapPath(), err)
	}
	co.mvers = st.Version
	data, st, err = conn.Get(co.c.planPath())
	if err != nil {
		return fmt.Errorf("peer: read %s: %w", co.c.planPath(), err)
	}
	co.plan, co.pvers, co.pzxid = &planDoc{}, st.Version, uint64(st.Mzxid)
	if d, err := decodePlan(data); err == nil {
		co.plan = d // an unreadable plan is replaced: nothing can be in flight by it
	}
	return nil
}

// createMap creates the first map, balanced over the live members, unless
// a map exists.
func (co *coordinator) createMap() error {
	ok, _, err := co.t.conn.Exists(co.c.mapPath())
	if err != nil || ok {
		return err
	}
	members, _, err := co.members(time.Now())
	if err != nil {
		return err
	}
	if len(members) == 0 {
		return errNoMembers
	}
	empty, err := vbucket.New(co.cfg.VBuckets, co.cfg.replicas())
	if err != nil {
		return err
	}
	data, _ := vbucket.NewPlan(empty, members).Target.MarshalBinary()
	_, err = co.t.conn.Multi(co.t.check(),
		&zk.CreateRequest{Path: co.c.mapPath(), Data: data, Acl: openACL})
	if err != nil && !errors.Is(err, zk.ErrNodeExists) {
		return fmt.Errorf("peer: create %s: %w", co.c.mapPath(), err)
	}
	co.c.members.log.Info("peer: created the vbucket map", "vbuckets", co.cfg.VBuckets, "members", members)
	return nil
}

// commitLocked writes the plan doc, and the map if m is not nil, in one
// multi checked against the term and both znode versions, and returns the
// plan's new version (Mzxid). Called with mu held.
func (co *coordinator) commitLocked(m *vbucket.Map, doc *planDoc) (uint64, error) {
	doc.KeysCopied += co.keys.Swap(0)
	doc.BytesCopied += co.bytes.Swap(0)
	ops := []any{co.t.check()}
	if m != nil {
		data, _ := m.MarshalBinary()
		ops = append(ops, &zk.SetDataRequest{Path: co.c.mapPath(), Data: data, Version: co.mvers})
	}
	ops = append(ops, &zk.SetDataRequest{Path: co.c.planPath(), Data: doc.encode(), Version: co.pvers})
	res, err := co.t.conn.Multi(ops...)
	if err == nil && len(res) != len(ops) {
		err = fmt.Errorf("%d answers to %d ops", len(res), len(ops))
	}
	if err != nil {
		co.reload.Store(true)
		return 0, fmt.Errorf("%w: %w", errStaleTerm, err)
	}
	if m != nil {
		co.m, co.mvers = m, res[1].Stat.Version
	}
	last := res[len(res)-1].Stat
	co.plan, co.pvers, co.pzxid = doc, last.Version, uint64(last.Mzxid)
	return uint64(last.Mzxid), nil
}

// members returns who the map is planned for: the live members, minus the
// draining nodes, plus the map's nodes that vanished less than their hold
// ago (see holdFor). waiting are the vanished nodes past the failover delay
// but within leave_grace: their vbuckets fail over to live replicas, and
// those with none stay theirs.
func (co *coordinator) members(now time.Time) (members, waiting []string, err error) {
	drain, _, err := co.t.conn.Children(co.c.drainPath())
	if err != nil && !errors.Is(err, zk.ErrNoNode) {
		return nil, nil, fmt.Errorf("peer: read %s: %w", co.c.drainPath(), err)
	}
	l := co.c.members.MemberList()
	if l.Version == 0 {
		return nil, nil, nil // no member list read yet
	}
	members = slices.Clone(l.Members)
	if co.m != nil {
		held, w := co.graced(l, now)
		members, waiting = append(members, held...), w
	}
	return slices.DeleteFunc(members, func(s string) bool { return slices.Contains(drain, s) }), waiting, nil
}

// holdFor is how long a vanished node stays among the members planned
// for: with replicas, the failover delay (then its vbuckets' replicas take
// over); without, leave_grace.
func (co *coordinator) holdFor() time.Duration {
	if co.m != nil && co.m.Replicas() > 0 {
		return min(co.cfg.FailoverDelay, co.cfg.LeaveGrace)
	}
	return co.cfg.LeaveGrace
}

// graced returns the map's nodes that are not live members but vanished
// less than holdFor ago (held) or less than leave_grace ago (waiting, the
// others), and forgets the ones that came back.
func (co *coordinator) graced(l *MemberList, now time.Time) (held, waiting []string) {
	for _, n := range co.m.Nodes() {
		if l.Has(n) {
			continue
		}
		since, ok := co.gone[n]
		if !ok {
			since, co.gone[n] = now, now
		}
		switch gone := now.Sub(since); {
		case gone < co.holdFor():
			held = append(held, n)
		case gone < co.cfg.LeaveGrace:
			waiting = append(waiting, n)
		}
	}
	for n := range co.gone {
		if l.Has(n) {
			delete(co.gone, n)
		}
	}
	return held, waiting
}

// nextGrace is how long until the next vanished node's hold or grace
// ends, 0 if none is waiting.
func (co *coordinator) nextGrace(now time.Time) time.Duration {
	var next time.Duration
	for _, since := range co.gone {
		for _, d := range []time.Duration{co.holdFor(), co.cfg.LeaveGrace} {
			if left := d - now.Sub(since); left > 0 && (next == 0 || left < next) {
				next = left
			}
		}
	}
	return next
}

// round plans once and runs the plan; moved reports whether it changed
// anything (then the caller plans again at once).
func (co *coordinator) round(ctx context.Context) (moved bool, err error) {
	co.mu.Lock()
	if co.c.Map().Version() > co.m.Version() {
		// Someone else changed the map: an active owner dropped a replica
		// that did not answer (DropReplica). Plan from the map as it is.
		co.reload.Store(true)
	}
	co.mu.Unlock()
	if co.reload.Swap(false) {
		if err := co.start(ctx); err != nil {
			co.reload.Store(true)
			return false, err
		}
	}
	requested, _, err := co.t.conn.Exists(co.c.rebalancePath())
	if err != nil {
		return false, err
	}
	co.mu.Lock()
	members, waiting, err := co.members(time.Now())
	m := co.m
	co.mu.Unlock()
	if err != nil || len(members) == 0 {
		return false, err
	}
	p := keepWaiting(liveTargets(vbucket.NewPlan(m, members), co.c.members.MemberList()), waiting)
	if !co.cfg.autoRebalance() && !requested {
		p = urgentOnly(p)
	}
	if requested {
		_ = co.t.conn.Delete(co.c.rebalancePath(), -1) // taken; a new request makes a new znode
	}
	co.forgetDrained(m)
	if len(p.Failovers)+len(p.Moves) == 0 {
		return false, nil
	}
	co.c.members.log.Info("peer: rebalancing", "members", members,
		"failovers", len(p.Failovers), "moves", len(p.Moves))
	return true, co.run(ctx, p)
}

// forgetDrained deletes the drain request of every node that holds nothing
// and is no longer a member: it left, and when it comes back it is to get
// its share again.
func (co *coordinator) forgetDrained(m *vbucket.Map) {
	drain, _, err := co.t.conn.Children(co.c.drainPath())
	if err != nil {
		return
	}
	active, _ := m.Counts()
	l := co.c.members.MemberList()
	for _, n := range drain {
		if active[n] == 0 && !l.Has(n) {
			_ = co.t.conn.Delete(co.c.drainPath()+"/"+n, -1) // best effort: the next round tries again
		}
	}
}

// liveTargets drops the moves to nodes that are not live members: a node
// in its leave grace keeps what it has but gets nothing new.
func liveTargets(p *vbucket.Plan, l *MemberList) *vbucket.Plan {
	q := *p
	q.Moves = slices.DeleteFunc(slices.Clone(p.Moves), func(mv vbucket.Move) bool { return !l.Has(mv.To.Active) })
	return &q
}

// keepWaiting drops the moves that take a vbucket from a waiting node (see
// members): it had no live replica to fail over to, so it stays with the
// node until leave_grace ends; the node may come back with its files.
func keepWaiting(p *vbucket.Plan, waiting []string) *vbucket.Plan {
	if len(waiting) == 0 {
		return p
	}
	q := *p
	q.Moves = slices.DeleteFunc(slices.Clone(p.Moves), func(mv vbucket.Move) bool {
		return slices.Contains(waiting, mv.From.Active)
	})
	return &q
}

// urgentOnly keeps the failovers and the moves off nodes that are no longer
// members (gone past their grace, or draining): without auto_rebalance,
// only what must move moves.
func urgentOnly(p *vbucket.Plan) *vbucket.Plan {
	q := *p
	q.Moves = slices.DeleteFunc(slices.Clone(p.Moves), func(mv vbucket.Move) bool {
		return slices.Contains(p.Members, mv.From.Active)
	})
	return &q
}

// arm sets the watches a round's outcome may depend on that are not set:
// the drain requests and the rebalance request. The members are watched by
// Membership, which pokes the Cluster's wake channel.
func (co *coordinator) arm() {
	if co.drainW == nil {
		if _, _, w, err := co.t.conn.ChildrenW(co.c.drainPath()); err == nil {
			co.drainW = w
		}
	}
	if co.rebalW == nil {
		if _, _, w, err := co.t.conn.ExistsW(co.c.rebalancePath()); err == nil {
			co.rebalW = w
		}
	}
}

// wait blocks until the members change, a drain or rebalance request
// comes, a vanished node's grace ends, our views change (viewed closes:
// another node may have changed the map), or ctx is done.
func (co *coordinator) wait(ctx context.Context, viewed <-chan struct{}) {
	co.mu.Lock()
	grace := co.nextGrace(time.Now())
	co.mu.Unlock()
	var timer <-chan time.Time
	if grace > 0 {
		timer = time.After(grace)
	}
	select {
	case <-ctx.Done():
	case <-co.c.wake:
	case <-co.drainW:
		co.drainW = nil
	case <-co.rebalW:
		co.rebalW = nil
	case <-viewed:
	case <-timer:
	}
}
