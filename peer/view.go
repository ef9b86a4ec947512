package peer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faed/faed/peer/vbucket"

	"github.com/go-zookeeper/zk"
)

// This file keeps this node's views of the vbucket map (Root+"/vbmap") and
// of the rebalance plan (Root+"/plan"), read from ZooKeeper and watched, and
// answers Owner from them.

// views holds the map and plan this node routes by. Both are swapped in
// whole; readers never lock.
type views struct {
	self    string
	mp      atomic.Pointer[mapView]
	plan    atomic.Pointer[planView]
	changes *changes      // wakes the waiters of Changed after each swap
	kick    chan struct{} // cap 1: AwaitView asks for a read now

	hookMu sync.Mutex // guards hooks; held while they run, so they run in order
	hooks  []func()

	// cut: our ZooKeeper session may have expired (disconnected for a
	// session timeout), so another node may be given our vbuckets at any
	// moment: every vbucket of ours reads as fenced until the views are
	// read again in a live session. cutMu guards cutTimer.
	cut      atomic.Bool
	cutMu    sync.Mutex
	cutTimer *time.Timer
}

// mapView is a map as read, with its znode's data version for the
// coordinator's version-checked writes (-1: no znode).
type mapView struct {
	m     *vbucket.Map
	zvers int32
}

// newViews starts with a dead map (no owner for anything) and an empty plan:
// until the map is read, no vbucket is ours.
func newViews(self string, n int) *views {
	v := &views{self: self, changes: newChanges(), kick: make(chan struct{}, 1)}
	m, _ := vbucket.New(n, 0) // n was validated
	v.mp.Store(&mapView{m: m, zvers: -1})
	v.plan.Store(newPlanView(0, &planDoc{}, n))
	return v
}

// oneNode makes the map of a cluster without ZooKeeper: every vbucket ours,
// version 1.
func (v *views) oneNode() {
	b := v.mp.Load().m.Edit()
	for vb := range v.mp.Load().m.Len() {
		_ = b.Set(vb, vbucket.Entry{Active: v.self, State: vbucket.Active}) // a valid entry
	}
	v.mp.Store(&mapView{m: b.Build(), zvers: -1})
	v.swapped()
}

// placement is what the views say of vbucket vb. It does not allocate.
func (v *views) placement(plan *planView, m *vbucket.Map, vb int) vbucket.Placement {
	owner := m.Active(vb)
	p := vbucket.Placement{VBucket: vb, Owner: owner, Self: owner != "" && owner == v.self, Version: m.Version()}
	p.Replica = !p.Self && m.HasReplica(vb, v.self)
	if mv, ok := plan.move(vb); ok {
		p.Outgoing = mv.From == v.self
		p.Fenced = p.Outgoing && mv.Phase == PhaseFenced
		p.Incoming = mv.copiesTo(v.self)
		p.Attempt, p.Since = mv.Attempt, mv.Since
	}
	p.Fenced = p.Fenced || (p.Self && v.cut.Load())
	return p
}

// store swaps in what was read, if it is new, and wakes whoever waits. The
// map goes in before the plan (see Owner).
func (v *views) store(m *mapView, p *planView) {
	cur, curPlan := v.mp.Load(), v.plan.Load()
	changed := false
	if m != nil && (m.m.Version() != cur.m.Version() || m.zvers != cur.zvers) {
		v.mp.Store(m)
		changed = true
	}
	if p != nil && p.version != curPlan.version {
		v.plan.Store(p)
		changed = true
	}
	if changed {
		v.swapped()
	}
}

// swapped runs the view hooks, then wakes the waiters of Changed, so that a
// woken waiter finds the servants already in line with the views.
func (v *views) swapped() {
	v.runHooks()
	v.changes.swapped()
}

func (v *views) runHooks() {
	v.hookMu.Lock()
	defer v.hookMu.Unlock()
	for _, fn := range v.hooks {
		fn()
	}
}

// Owner returns what this node's views say of key's vbucket: its active
// owner ("" before a map is known), whether that is this node, whether the
// plan fences it here or moves it here or away, and the map version. It
// does not allocate.
//
// The plan is loaded before the map, and store swaps the map in before the
// plan: a plan seen here is never newer than the map seen with it. The
// other order could pair the old map (ours) with the plan of after the flip
// (no fence): the old owner would serve a write the new one never sees.
func (c *Cluster) Owner(key string) vbucket.Placement {
	plan := c.views.plan.Load()
	m := c.views.mp.Load().m
	return c.views.placement(plan, m, m.VBucket(key))
}

// VBucket is Owner for vbucket vb itself; an out-of-range vb has no owner.
func (c *Cluster) VBucket(vb int) vbucket.Placement {
	plan := c.views.plan.Load() // before the map: see Owner
	m := c.views.mp.Load().m
	if vb < 0 || vb >= m.Len() {
		return vbucket.Placement{VBucket: vb, Version: m.Version()}
	}
	return c.views.placement(plan, m, vb)
}

// MoveBatchKeys is [cluster] move_batch_keys: how many kvdb keys a source
// puts in one snapshot page of vb_pull.
func (c *Cluster) MoveBatchKeys() int { return c.members.cfg.MoveBatchKeys }

// VBuckets is [cluster] vbuckets, the number of vbuckets of every map this
// node uses; it never changes.
func (c *Cluster) VBuckets() int { return c.views.mp.Load().m.Len() }

// Map returns the vbucket map in use; never nil. Version 0 means none was
// read yet (every vbucket dead).
func (c *Cluster) Map() *vbucket.Map { return c.views.mp.Load().m }

// PlanVersion is the version of the plan in use: the plan znode's Mzxid, 0
// while there is none.
func (c *Cluster) PlanVersion() uint64 { return c.views.plan.Load().version }

// Changed returns the version of the map Owner answers by now, and a channel
// closed when a newer map or plan replaces the ones in use: read the
// versions again then. It does not block. A waiter bounds its wait itself
// (a ctx, a timer): without ZooKeeper the channel never closes.
func (c *Cluster) Changed() (mapVersion uint64, next <-chan struct{}) {
	// The channel first: a swap after this read closes it, whether or not
	// the version read below already shows that swap.
	next = c.views.changes.next()
	return c.views.mp.Load().m.Version(), next
}

// AwaitView blocks until this node's map is at least mapVersion and its plan
// at least planVersion, asking ZooKeeper for them at once rather than
// waiting for the watches; it fails when ctx is done first.
func (c *Cluster) AwaitView(ctx context.Context, mapVersion, planVersion uint64) error {
	for {
		v, next := c.Changed()
		if v >= mapVersion && c.PlanVersion() >= planVersion {
			return nil
		}
		select {
		case c.views.kick <- struct{}{}:
		default:
		}
		select {
		case <-next:
		case <-ctx.Done():
			return fmt.Errorf("peer: waiting for map %d and plan %d (have %d and %d): %w",
				mapVersion, planVersion, v, c.PlanVersion(), context.Cause(ctx))
		}
	}
}

// OnView runs fn once now and then after every change of the map or the
// plan, synchronously: the new views are in use, waiters of Changed are
// woken only after fn returns, and calls never overlap. fn must be quick
// and must not call OnView.
func (c *Cluster) OnView(fn func()) {
	c.views.hookMu.Lock()
	defer c.views.hookMu.Unlock()
	c.views.hooks = append(c.views.hooks, fn)
	fn()
}

func (c *Cluster) mapPath() string  { return c.members.cfg.Root + "/vbmap" }
func (c *Cluster) planPath() string { return c.members.cfg.Root + "/plan" }

// watchViews reads the map and the plan and keeps watches on both until ctx
// is done, reading again on every watch, session event or AwaitView kick.
func (c *Cluster) watchViews(ctx context.Context) {
	var mw, pw <-chan zk.Event
	for {
		changed := c.members.changes()
		err := c.readViews(&mw, &pw)
		if !c.waitViews(ctx, changed, &mw, &pw, err) {
			return
		}
	}
}

// readViews reads both znodes, arming a watch on each that has none. A
// znode that does not exist leaves its view as it is.
//
// The plan is read first: ZooKeeper answers one session's reads in order,
// so the map read after it is at least as new. Read the other way round, a
// flip (one multi setting both) landing between the reads would give the
// move's destination the new plan (the move is done, nothing incoming)
// with the old map (not ours yet): it would drop on sight the very state it
// was handed. Plan first, a node can see the old plan with the new map,
// which only delays dropping a copy the flip made garbage.
func (c *Cluster) readViews(mw, pw *<-chan zk.Event) error {
	conn, ok := c.members.session()
	if !ok {
		return errNoSession
	}
	pv, err := c.readPlan(conn, pw, c.VBuckets())
	if err != nil {
		return err
	}
	mv, err := c.readMap(conn, mw)
	if err != nil {
		return err
	}
	c.views.store(mv, pv)
	if _, live := c.members.session(); live {
		c.views.uncut()
	}
	return nil
}

func (c *Cluster) readMap(conn *zk.Conn, w *<-chan zk.Event) (*mapView, error) {
	data, stat, err := getMaybeW(conn, c.mapPath(), w)
	if err != nil || stat == nil {
		return nil, err
	}
	m, err := vbucket.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("peer: %s: %w", c.mapPath(), err)
	}
	// The count never changes under the servants, which size their state
	// by it: a map of another count is a misconfigured node, serving nothing.
	if want := c.VBuckets(); m.Len() != want {
		return nil, fmt.Errorf("peer: %s has %d vbuckets, [cluster] vbuckets is %d: not using it", c.mapPath(), m.Len(), want)
	}
	return &mapView{m: m, zvers: stat.Version}, nil
}

func (c *Cluster) readPlan(conn *zk.Conn, w *<-chan zk.Event, n int) (*planView, error) {
	data, stat, err := getMaybeW(conn, c.planPath(), w)
	if err != nil || stat == nil {
		return nil, err
	}
	d, err := decodePlan(data)
	if err != nil {
		return nil, err
	}
	return newPlanView(uint64(stat.Mzxid), d, n), nil
}

// getMaybeW reads p, arming a watch into *w if none is armed. A missing p
// gives a nil stat and a watch on its creation.
func getMaybeW(conn *zk.Conn, p string, w *<-chan zk.Event) ([]byte, *zk.Stat, error) {
	if *w != nil {
		data, stat, err := conn.Get(p)
		if errors.Is(err, zk.ErrNoNode) {
			return nil, nil, nil
		}
		return data, stat, err
	}
	data, stat, ch, err := conn.GetW(p)
	if errors.Is(err, zk.ErrNoNode) {
		ok, _, ch2, err := conn.ExistsW(p)
		if err != nil {
			return nil, nil, err
		}
		// ExistsW armed a watch either way: on the creation, or, if p was
		// created meanwhile, on its next change. Dropping it would leave p
		// unwatched until something else made us read again.
		*w = ch2
		if !ok {
			return nil, nil, nil
		}
		data, stat, err := conn.Get(p)
		if errors.Is(err, zk.ErrNoNode) {
			return nil, nil, nil // deleted again: the watch fires
		}
		return data, stat, err
	}
	if err == nil {
		*w = ch
	}
	return data, stat, err
}

// waitViews blocks until a watch fires, the session changes, a kick comes
// or a retry is due after err; false once ctx is done.
func (c *Cluster) waitViews(ctx context.Context, changed <-chan struct{}, mw, pw *<-chan zk.Event, err error) bool {
	var retry <-chan time.Time
	if err != nil && !errors.Is(err, errNoSession) {
		c.members.log.Warn("peer: reading the vbucket map, retrying", "err", err, "in", retryInterval)
		retry = time.After(retryInterval)
	}
	select {
	case <-ctx.Done():
		return false
	case <-changed:
		*mw, *pw = nil, nil // an expired session took the watches with it
	case <-*mw:
		*mw = nil
	case <-*pw:
		*pw = nil
	case <-c.views.kick:
	case <-retry:
	}
	return true
}

// disconnected starts the cut-off clock when the ZooKeeper connection is
// lost: at deadline our session may have expired (the server counts from
// the last it heard of us, before we noticed; see heard), our member znode
// with it, and the coordinator may give our vbuckets away once the
// failover delay or leave_grace has passed. We stop serving them first.
// Called under the membership's lock: it must not block.
func (v *views) disconnected(deadline time.Time) {
	v.cutMu.Lock()
	defer v.cutMu.Unlock()
	if v.cutTimer == nil {
		v.cutTimer = time.AfterFunc(time.Until(deadline), func() {
			if !v.cut.Swap(true) {
				v.swapped()
			}
		})
	}
}

// uncut ends a cut-off, or the clock towards one, once the views were read
// in a live session.
func (v *views) uncut() {
	v.cutMu.Lock()
	if v.cutTimer != nil {
		v.cutTimer.Stop()
		v.cutTimer = nil
	}
	v.cutMu.Unlock()
	if v.cut.Swap(false) {
		v.swapped()
	}
}
