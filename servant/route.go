package servant

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/peer/vbucket"

	"github.com/apache/thrift/lib/go/thrift"
)

// This file is the one routing path of the key-owned calls (SPEC §5.2,
// §5.3): lock/unlock, lc_*, kvdb_*, my_query with a cacheKey, my_evict and
// the evictions of my_bulk_exec. Each of those methods is one call of route
// naming its key, its placement, its local function and its peer call.
//
// Where a call runs:
//   - no cluster, or a call that is not routed (placement here): this node;
//   - a call another faed forwarded, which carries Context.mapVersion: this
//     node if its view serves the key's vbucket (Placement.Serves), once its
//     map is at least that version (waited for, bounded); else it answers
//     TNotOwner with its map version and the owner it knows. It is never
//     forwarded again;
//   - any other call: the key's owner. Context.sticky set by a client is
//     not an order to run here: sticky alone routes as any call, so a client
//     cannot have a key served off its owner. The forwarding faed sets both
//     sticky (for older peers) and mapVersion;
//   - a forwarded call the owner refused as not its own is tried again
//     (bounded) once our map is at least the owner's version, on the owner
//     that map names, which may be this node.
//
// A call runs here under its vbucket's gate (see gate): the ownership check
// and the local call hold the gate's read lock, and the last pull of a move
// takes its write lock once the view fences the vbucket, so every call that
// saw the vbucket unfenced has finished before the pull reads its state. A
// call that finds its vbucket fenced waits for the view to change (bounded
// by forward_retry_wait and its ctx) and decides again: after the flip the
// new owner serves it, after a rollback this node does.

// Router places key-owned calls in a cluster; *peer.Cluster implements it.
// Without a Router every key is owned here.
type Router interface {
	// Owner is what our view says of key's vbucket. It must not allocate:
	// every routed call asks it.
	Owner(key string) vbucket.Placement
	// VBucket is what our view says of vbucket vb (0 <= vb < VBuckets).
	// It must not allocate either.
	VBucket(vb int) vbucket.Placement
	// VBuckets is the cluster's vbucket count; it never changes.
	VBuckets() int
	// Changed returns the map version Owner answers by now and a channel
	// closed on the next change of the map or the plan, like
	// context.Done(). Versions only grow.
	Changed() (mapVersion uint64, next <-chan struct{})
	// AwaitView returns once our views of the map and the plan are at
	// least these versions, or ctx's error.
	AwaitView(ctx context.Context, mapVersion, planVersion uint64) error
	// Forward runs fn against the node at addr over a pooled connection.
	// The peer's own answers (declared exceptions, application errors)
	// come back as they are; any other error means it was not reached.
	Forward(ctx context.Context, addr string, fn func(rpc.FunServant) error) error
	// CountReceived counts a call another node forwarded to us.
	CountReceived()
	// Replicas returns the map version in use and the replicas it lists
	// for vbucket vb (a new slice).
	Replicas(vb int) (mapVersion uint64, nodes []string)
	// DropReplica takes node out of vb's replicas in the cluster's map and
	// returns once our view has that map; it fails if that map does not
	// give vb to this node.
	DropReplica(ctx context.Context, vb int, node string) error
	// ReplicaTimeout bounds one vb_replicate call.
	ReplicaTimeout() time.Duration
	// PeerToken is the cluster's secret, which vb_* calls carry between
	// its nodes (Context.peerToken).
	PeerToken() ([]byte, error)
}

// maxAttempts bounds the attempts of one forwarded call: the first, and the
// retries after an owner refused it or could not be reached.
const maxAttempts = 3

// placement says how route may place a call.
type placement uint8

const (
	// retryable calls are idempotent: after an attempt on an owner that did
	// not answer they are tried again on the owner of a newer map.
	retryable placement = iota
	// once calls (lock, a my_query write) are not: an owner that did not
	// answer may have run them, so the error names it. Like every routed
	// call they are tried again after a TNotOwner, which means not run.
	once
	// here calls are not routed: they run on the node they reach
	// (lc_* under lcache_local, my_query without a cacheKey).
	here
)

// ErrFenced answers a call whose vbucket stayed fenced (for a move, or for
// want of a ZooKeeper session) longer than forward_retry_wait (or the
// call's ctx).
var ErrFenced = errors.New("servant: vbucket fenced")

// route runs a call on the node that owns key: local(ctx, args) here, or
// remote(c, ctx, fc, args) on the owner's client c with the forwarding
// context fc (see the top of this file). args travel by value, and remote
// is a function that captures nothing (a method expression such as
// rpc.FunServant.LcGet), so the local path allocates nothing for routing.
func route[A, T any](s *FunServant, ctx context.Context, rc *rpc.Context, key string, p placement,
	local func(context.Context, A) (T, error), remote func(rpc.FunServant, context.Context, *rpc.Context, A) (T, error), args A) (T, error) {
	switch {
	case s.router == nil || p == here:
		return local(ctx, args)
	case rc != nil && rc.MapVersion != nil:
		return servePeer(s, ctx, rc, key, local, args)
	}
	pl := s.router.Owner(key)
	if pl.Self {
		if v, err, ok := serve(s, ctx, pl.VBucket, local, args); ok {
			return v, err
		}
		if pl = s.router.VBucket(pl.VBucket); pl.Self {
			var zero T
			return zero, fencedError(pl)
		}
	}
	return forward(s, ctx, rc, key, p, pl, local, remote, args)
}

// serve runs local if our view serves vbucket vb, under its gate. If vb is
// fenced it waits (see awaitUnfenced) and decides again. Not served (false)
// when the view names another owner or the fence outlasts the wait; the
// caller reads the view again to tell which.
func serve[A, T any](s *FunServant, ctx context.Context, vb int, local func(context.Context, A) (T, error), args A) (T, error, bool) {
	if v, err, ok := runGated(s, ctx, vb, local, args); ok || !s.router.VBucket(vb).Self {
		return v, err, ok
	}
	return serveFenced(s, ctx, vb, local, args)
}

// serveFenced is serve's slow path, for a vbucket found fenced.
func serveFenced[A, T any](s *FunServant, ctx context.Context, vb int, local func(context.Context, A) (T, error), args A) (T, error, bool) {
	timer := time.NewTimer(s.cfg.ForwardRetryWait)
	defer timer.Stop()
	defer s.routing.fenceWait(time.Now())
	for {
		if !s.awaitUnfenced(ctx, vb, timer.C) {
			var zero T
			return zero, nil, false
		}
		if v, err, ok := runGated(s, ctx, vb, local, args); ok || !s.router.VBucket(vb).Self {
			return v, err, ok
		}
	}
}

// runGated runs local under vb's gate if our view serves vb (true). The
// check and the call hold the gate's read lock together: the final pull of
// a move takes the write lock after the view fences vb, so it waits for
// every call that saw vb unfenced. A call that ran while the view flipped vb
// to another owner counts in served_not_owned, which must stay 0: a flip
// comes only after the fence and the drain.
func runGated[A, T any](s *FunServant, ctx context.Context, vb int, local func(context.Context, A) (T, error), args A) (v T, err error, ok bool) {
	g := &s.gates[vb]
	g.RLock()
	defer g.RUnlock() // deferred: a panic in local must not leave the gate held
	if !s.router.VBucket(vb).Serves() {
		return v, nil, false
	}
	v, err = local(ctx, args)
	if !s.router.VBucket(vb).Self {
		s.routing.servedNotOwned.Add(1)
	}
	return v, err, true
}

// awaitUnfenced waits until our view no longer shows vb as ours and
// fenced; false if done or ctx ends first.
func (s *FunServant) awaitUnfenced(ctx context.Context, vb int, done <-chan time.Time) bool {
	for {
		_, next := s.router.Changed() // before the check: a change after it closes next
		if now := s.router.VBucket(vb); !now.Self || !now.Fenced {
			return true
		}
		select {
		case <-next:
		case <-ctx.Done():
			return false
		case <-done:
			return false
		}
	}
}

func fencedError(pl vbucket.Placement) error {
	return fmt.Errorf("%w: vbucket %d is not served here for now: it is being handed off, or this node has had no ZooKeeper session for a session timeout (map version %d); retry", ErrFenced, pl.VBucket, pl.Version)
}

// servePeer runs a call another faed forwarded if our view serves key's
// vbucket, after waiting (bounded) for our map to reach the sender's
// version; else, fenced past the wait included, it answers TNotOwner.
func servePeer[A, T any](s *FunServant, ctx context.Context, rc *rpc.Context, key string, local func(context.Context, A) (T, error), args A) (T, error) {
	pl := s.router.Owner(key)
	if want := uint64(max(*rc.MapVersion, 0)); want > pl.Version {
		pl = s.ownerAt(ctx, rc, key, want)
	}
	if pl.Self {
		if v, err, ok := serve(s, ctx, pl.VBucket, local, args); ok {
			s.router.CountReceived()
			return v, err
		}
		pl = s.router.VBucket(pl.VBucket)
	}
	s.routing.refused.Add(1)
	var zero T
	return zero, notOwner(pl)
}

// forward runs the call on pl.Owner, the owner of key, and relays its
// answer. A refusal as not owner, or an owner that did not answer a
// retryable call, is followed by another attempt (see again) on the owner of
// the map waited for, which may be this node; at most maxAttempts in all.
//
// The whole of it, retries included, runs under the call's deadline, and each
// attempt tells the owner what is left of it (Context.budgetMs). Past the
// deadline it answers a DeadlineError naming the peer it waited on.
func forward[A, T any](s *FunServant, ctx context.Context, rc *rpc.Context, key string, p placement, pl vbucket.Placement,
	local func(context.Context, A) (T, error), remote func(rpc.FunServant, context.Context, *rpc.Context, A) (T, error), args A) (T, error) {
	ctx, dl, cancel := s.deadline(ctx, rc, 0)
	defer cancel()
	fc := forwardContext(rc)
	for attempt := 1; ; attempt++ {
		v, err := forwardOnce(s, ctx, dl, pl, fc, remote, args)
		more, err := s.again(ctx, p, pl, err, attempt)
		if !more {
			return v, pastDeadline(dl, err)
		}
		if pl = s.router.Owner(key); !pl.Self {
			continue
		}
		if v, err, ok := serve(s, ctx, pl.VBucket, local, args); ok {
			return v, err
		}
		if pl = s.router.VBucket(pl.VBucket); pl.Self {
			return v, fencedError(pl)
		}
	}
}

// forwardOnce makes one attempt on pl.Owner, telling it the map version we
// routed by and what is left of the call's deadline as its budget. An error
// that is not the owner's answer names the peer waited on.
func forwardOnce[A, T any](s *FunServant, ctx context.Context, dl callDeadline, pl vbucket.Placement, fc *forwarded,
	remote func(rpc.FunServant, context.Context, *rpc.Context, A) (T, error), args A) (T, error) {
	fc.budget, fc.version = budgetLeft(dl), int64(pl.Version)
	var v T
	err := s.router.Forward(ctx, pl.Owner, func(c rpc.FunServant) (err error) {
		v, err = remote(c, ctx, &fc.Context, args)
		return err
	})
	if err != nil && !reached(err) {
		return v, &waitingFor{what: "peer " + pl.Owner, err: err}
	}
	return v, err
}

// again decides, after an attempt on pl.Owner ended with err, whether to
// make another; it first waits for the map that makes one worth it. When
// not, it returns the error to answer.
func (s *FunServant) again(ctx context.Context, p placement, pl vbucket.Placement, err error, attempt int) (bool, error) {
	if err == nil {
		return false, nil
	}
	if no, ok := errors.AsType[*rpc.TNotOwner](err); ok {
		return s.againNotOwner(ctx, pl, no, attempt)
	}
	if reached(err) {
		return false, peerAnswer(pl.Owner, err)
	}
	// pl.Version was read before the attempt: read now, it could already
	// include the very change the retry waits for.
	if p != retryable || attempt >= maxAttempts || !s.awaitMap(ctx, func(v uint64) bool { return v != pl.Version }) {
		return false, fmt.Errorf("owner %s of the key is unreachable: %w", pl.Owner, err)
	}
	return true, nil
}

// againNotOwner waits, after pl.Owner refused the call as not its own, for
// our map to reach the version it answered by; the call is then tried
// again. An owner that refused at our own version (it was fenced and
// waited for its view) is tried again at once, within maxAttempts. One
// that refused at an older version than ours could not catch up with our
// map (cut from ZooKeeper, say): while our map still names it, trying it
// again only waits as long again, so we wait for our map to change first
// (its vbuckets fail over to their replicas), bounded as any wait.
func (s *FunServant) againNotOwner(ctx context.Context, pl vbucket.Placement, no *rpc.TNotOwner, attempt int) (bool, error) {
	theirs := uint64(max(no.GetMapVersion(), 0))
	if attempt >= maxAttempts {
		return false, fmt.Errorf("%s refused the key as not its own %d times (at its map version %d; ours is %d): %s",
			pl.Owner, attempt, theirs, pl.Version, no.GetMessage())
	}
	if theirs < pl.Version {
		if v, _ := s.router.Changed(); v == pl.Version {
			s.awaitMap(ctx, func(v uint64) bool { return v > pl.Version })
		}
		s.routing.retries.Add(1)
		return true, nil
	}
	if !s.awaitMap(ctx, func(v uint64) bool { return v >= theirs }) {
		return false, fmt.Errorf("%s refused the key as not its own at map version %d, naming %q; our map stayed older than that",
			pl.Owner, theirs, no.GetOwner())
	}
	s.routing.retries.Add(1)
	return true, nil
}

// ownerAt is the placement of key once our map is at least version want,
// or by the map we have when forward_retry_wait or the call's deadline ends
// the wait first.
func (s *FunServant) ownerAt(ctx context.Context, rc *rpc.Context, key string, want uint64) vbucket.Placement {
	ctx, _, cancel := s.deadline(ctx, rc, 0)
	defer cancel()
	s.awaitMap(ctx, func(v uint64) bool { return v >= want })
	return s.router.Owner(key)
}

// awaitMap waits on the router's change notifications until its map
// version satisfies ok, for at most forward_retry_wait and not past ctx;
// false if it never did.
func (s *FunServant) awaitMap(ctx context.Context, ok func(version uint64) bool) bool {
	timer := time.NewTimer(s.cfg.ForwardRetryWait)
	defer timer.Stop()
	for {
		v, next := s.router.Changed()
		if ok(v) {
			return true
		}
		select {
		case <-next:
		case <-ctx.Done():
			return false
		case <-timer.C:
			return false
		}
	}
}

// notOwner is the answer to a forwarded call our view pl does not serve.
func notOwner(pl vbucket.Placement) *rpc.TNotOwner {
	v := int64(pl.Version)
	why := "not the owner of the key"
	if pl.Self {
		why = fmt.Sprintf("vbucket %d of the key is fenced for a move", pl.VBucket)
	}
	msg := fmt.Sprintf("%s at map version %d; %s is", why, pl.Version, pl.Owner)
	return &rpc.TNotOwner{MapVersion: &v, Owner: &pl.Owner, Message: &msg}
}

// gate is one vbucket's: routed calls hold its read lock around the
// ownership check and the local call; the final pull of a move and a drop
// take its write lock. Padded so two vbuckets' gates do not share a cache
// line.
type gate struct {
	sync.RWMutex
	_ [64 - 24]byte
}

// routeStats counts what the vbucket invariants are checked by. Safe for
// concurrent use.
type routeStats struct {
	refused        atomic.Uint64
	retries        atomic.Uint64
	servedNotOwned atomic.Uint64
	droppedKeys    atomic.Uint64
	dropErrors     atomic.Uint64
	fencedWaits    atomic.Uint64
	fencedWaitNs   atomic.Uint64 // summed over fencedWaits
	fencedWaitMax  atomic.Int64  // ns
	replicated     atomic.Uint64
	replicaRefused atomic.Uint64
	replicaDropped atomic.Uint64
}

// fenceWait counts a call that found its vbucket fenced and waited since
// start. The sum and the longest wait tell what fences cost callers during
// a rebalance, beside its client-side p99.
func (r *routeStats) fenceWait(start time.Time) {
	d := time.Since(start)
	r.fencedWaits.Add(1)
	r.fencedWaitNs.Add(uint64(d))
	for {
		longest := r.fencedWaitMax.Load()
		if int64(d) <= longest || r.fencedWaitMax.CompareAndSwap(longest, int64(d)) {
			return
		}
	}
}

// RouteStats is the "routing" part of Stats.
type RouteStats struct {
	// RefusedNotOwner counts forwarded calls answered TNotOwner.
	RefusedNotOwner uint64 `json:"refused_not_owner"`
	// NotOwnerRetries counts attempts made again after an owner answered
	// TNotOwner.
	NotOwnerRetries uint64 `json:"not_owner_retries"`
	// ServedNotOwned counts routed calls that ran here while the view
	// flipped their vbucket to another node (a flip without fence and
	// drain). It must stay 0.
	ServedNotOwned uint64 `json:"served_not_owned"`
	// DroppedKeys counts kvdb keys dropped because their vbucket is no
	// longer ours (drop on sight, vb_drop, a push replacing an old copy).
	DroppedKeys uint64 `json:"dropped_keys"`
	// DropErrors counts drops on sight that failed; they are tried again
	// at the next view change.
	DropErrors uint64 `json:"drop_errors"`
	// FencedWaits counts routed calls that found their vbucket fenced here
	// and waited for the flip or the rollback; FencedWaitMs is the time
	// they waited in all and FencedWaitMaxMs the longest wait.
	FencedWaits     uint64  `json:"fenced_waits"`
	FencedWaitMs    float64 `json:"fenced_wait_ms"`
	FencedWaitMaxMs float64 `json:"fenced_wait_max_ms"`
	// Replicated counts writes that reached a replica (one per replica);
	// ReplicaRefused those a replica refused (its map said it was none:
	// the write failed); ReplicaDropped the replicas that did not answer
	// and were dropped from the map, or failed the write when that failed.
	Replicated     uint64 `json:"replicated"`
	ReplicaRefused uint64 `json:"replica_refused"`
	ReplicaDropped uint64 `json:"replica_dropped"`
}

func (r *routeStats) stats() RouteStats {
	return RouteStats{RefusedNotOwner: r.refused.Load(), NotOwnerRetries: r.retries.Load(), ServedNotOwned: r.servedNotOwned.Load(),
		DroppedKeys: r.droppedKeys.Load(), DropErrors: r.dropErrors.Load(),
		FencedWaits: r.fencedWaits.Load(), FencedWaitMs: float64(r.fencedWaitNs.Load()) / 1e6, FencedWaitMaxMs: float64(r.fencedWaitMax.Load()) / 1e6,
		Replicated: r.replicated.Load(), ReplicaRefused: r.replicaRefused.Load(), ReplicaDropped: r.replicaDropped.Load()}
}

// reached reports whether err is the peer's own answer.
func reached(err error) bool {
	_, app := errors.AsType[thrift.TApplicationException](err)
	return app || isDeclared(err)
}

// peerAnswer passes declared exceptions through and restates a peer's
// application error without the generated "Internal error processing X: "
// prefix, which our own processor adds again. It sees every forwarded answer,
// hence errors.AsType here and in isDeclared: errors.As would move its target
// to the heap, an allocation per call.
func peerAnswer(addr string, err error) error {
	app, ok := errors.AsType[thrift.TApplicationException](err)
	if !ok || isDeclared(err) {
		return err
	}
	msg := app.Error()
	if rest, ok := strings.CutPrefix(msg, "Internal error processing "); ok {
		if _, after, found := strings.Cut(rest, ": "); found {
			msg = after
		}
	}
	return fmt.Errorf("on owner %s: %s", addr, msg)
}

// isDeclared reports whether err is an exception declared in the IDL.
func isDeclared(err error) bool {
	te, ok := errors.AsType[thrift.TException](err)
	return ok && te.TExceptionType() == thrift.TExceptionTypeCompiled
}

// forwarded is the context of a forwarded call together with what its
// Sticky, BudgetMs and MapVersion point to, so that it costs one
// allocation, not four. Each attempt sets budget and version (forwardOnce).
type forwarded struct {
	rpc.Context
	sticky  bool
	budget  int32
	version int64
}

// forwardContext is rc marked as forwarded by a faed: sticky, for peers
// that know no mapVersion, and the mapVersion each attempt sets. The
// pointers into the same allocation keep all of it alive.
func forwardContext(rc *rpc.Context) *forwarded {
	c := &forwarded{Context: *reqContext(rc), sticky: true}
	c.Sticky, c.BudgetMs, c.MapVersion = &c.sticky, &c.budget, &c.version
	return c
}

// errOnly is the error of a routed call whose answer is only an error.
func errOnly(_ struct{}, err error) error { return err }
