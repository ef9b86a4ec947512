package servant

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"faed/idl/gen-go/fun/rpc"

	"github.com/apache/thrift/lib/go/thrift"
)

// This file is the one routing path of the key-owned calls (SPEC §5.2):
// lock/unlock, lc_*, kvdb_*, my_query with a cacheKey, my_evict and the
// evictions of my_bulk_exec. Each of those methods is one call of route
// naming its key, its placement, its local function and its peer call.
//
// Where a call runs:
//   - no cluster, or a call that is not routed (placement here): this node;
//   - a call another faed forwarded, which carries Context.mapVersion: this
//     node if it owns the key, once its ring is at least that version
//     (waited for, bounded); else it answers TNotOwner with its ring version
//     and the owner it knows. It is never forwarded again;
//   - any other call: the key's owner. Context.sticky set by a client is
//     not an order to run here: sticky alone routes as any call, so a client
//     cannot have a key served off its owner. The forwarding faed sets both
//     sticky (for older peers) and mapVersion;
//   - a forwarded call the owner refused as not its own is tried again
//     (bounded) once our ring is at least the owner's version, on the owner
//     that ring names, which may be this node.
//
// Only what Router.Owner answers decides; the vbucket map will take the
// ring's place behind it.

// Router places key-owned calls in a cluster; *peer.Cluster implements it.
// Without a Router every key is owned here.
type Router interface {
	// Owner names the node that owns key, whether that is us, and the
	// version of the ring (or map) that says so. It must not allocate:
	// every routed call asks it.
	Owner(key string) (addr string, self bool, version uint64)
	// Changed returns the version Owner answers by now and a channel
	// closed when that changes, like context.Done(). Versions only grow.
	Changed() (version uint64, next <-chan struct{})
	// Forward runs fn against the node at addr over a pooled connection.
	// The peer's own answers (declared exceptions, application errors)
	// come back as they are; any other error means it was not reached.
	Forward(ctx context.Context, addr string, fn func(rpc.FunServant) error) error
	// CountReceived counts a call another node forwarded to us.
	CountReceived()
}

// maxAttempts bounds the attempts of one forwarded call: the first, and the
// retries after an owner refused it or could not be reached.
const maxAttempts = 3

// placement says how route may place a call.
type placement uint8

const (
	// retryable calls are idempotent: after an attempt on an owner that did
	// not answer they are tried again on the owner of a newer ring.
	retryable placement = iota
	// once calls (lock, a my_query write) are not: an owner that did not
	// answer may have run them, so the error names it. Like every routed
	// call they are tried again after a TNotOwner, which means not run.
	once
	// here calls are not routed: they run on the node they reach
	// (lc_* under lcache_local, my_query without a cacheKey).
	here
)

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
	o := s.owner(key)
	if o.self {
		return serve(s, ctx, key, local, args)
	}
	return forward(s, ctx, rc, key, p, o, local, remote, args)
}

// serve runs local for key, which routing found this node owns. It asks
// Owner once more, right before: a routed call run while Owner names another
// node counts in served_not_owned, the invariant the cluster tests read.
func serve[A, T any](s *FunServant, ctx context.Context, key string, local func(context.Context, A) (T, error), args A) (T, error) {
	if _, self, _ := s.router.Owner(key); !self {
		s.routing.servedNotOwned.Add(1)
	}
	return local(ctx, args)
}

// servePeer runs a call another faed forwarded if this node owns key, after
// waiting (bounded) for our ring to reach the sender's version; else it
// answers TNotOwner.
func servePeer[A, T any](s *FunServant, ctx context.Context, rc *rpc.Context, key string, local func(context.Context, A) (T, error), args A) (T, error) {
	o := s.owner(key)
	if want := uint64(max(*rc.MapVersion, 0)); want > o.version {
		o = s.ownerAt(ctx, rc, key, want)
	}
	if !o.self {
		s.routing.refused.Add(1)
		var zero T
		return zero, o.notOwner()
	}
	s.router.CountReceived()
	return serve(s, ctx, key, local, args)
}

// forward runs the call on o, the owner of key, and relays its answer. A
// refusal as not owner, or an owner that did not answer a retryable call, is
// followed by another attempt (see again) on the owner of the ring waited
// for, which may be this node; at most maxAttempts in all.
//
// The whole of it, retries included, runs under the call's deadline, and each
// attempt tells the owner what is left of it (Context.budgetMs). Past the
// deadline it answers a DeadlineError naming the peer it waited on.
func forward[A, T any](s *FunServant, ctx context.Context, rc *rpc.Context, key string, p placement, o owner,
	local func(context.Context, A) (T, error), remote func(rpc.FunServant, context.Context, *rpc.Context, A) (T, error), args A) (T, error) {
	ctx, dl, cancel := s.deadline(ctx, rc, 0)
	defer cancel()
	fc := forwardContext(rc)
	for attempt := 1; ; attempt++ {
		v, err := forwardOnce(s, ctx, dl, o, fc, remote, args)
		more, err := s.again(ctx, p, o, err, attempt)
		if !more {
			return v, pastDeadline(dl, err)
		}
		if o = s.owner(key); o.self {
			return serve(s, ctx, key, local, args)
		}
	}
}

// forwardOnce makes one attempt on o, telling it the ring version we routed
// by and what is left of the call's deadline as its budget. An error that is
// not the owner's answer names the peer waited on.
func forwardOnce[A, T any](s *FunServant, ctx context.Context, dl callDeadline, o owner, fc *forwarded,
	remote func(rpc.FunServant, context.Context, *rpc.Context, A) (T, error), args A) (T, error) {
	fc.budget, fc.version = budgetLeft(dl), int64(o.version)
	var v T
	err := s.router.Forward(ctx, o.addr, func(c rpc.FunServant) (err error) {
		v, err = remote(c, ctx, &fc.Context, args)
		return err
	})
	if err != nil && !reached(err) {
		return v, &waitingFor{what: "peer " + o.addr, err: err}
	}
	return v, err
}

// again decides, after an attempt on o ended with err, whether to make
// another; it first waits for the ring that makes one worth it. When not, it
// returns the error to answer.
func (s *FunServant) again(ctx context.Context, p placement, o owner, err error, attempt int) (bool, error) {
	if err == nil {
		return false, nil
	}
	if no, ok := errors.AsType[*rpc.TNotOwner](err); ok {
		return s.againNotOwner(ctx, o, no, attempt)
	}
	if reached(err) {
		return false, peerAnswer(o.addr, err)
	}
	// o.version was read before the attempt: read now, it could already
	// include the very change the retry waits for.
	if p != retryable || attempt >= maxAttempts || !s.awaitRing(ctx, func(v uint64) bool { return v != o.version }) {
		return false, fmt.Errorf("owner %s of the key is unreachable: %w", o.addr, err)
	}
	return true, nil
}

// againNotOwner waits, after o refused the call as not its own, for our
// ring to reach the version it answered by; the call is then tried again.
func (s *FunServant) againNotOwner(ctx context.Context, o owner, no *rpc.TNotOwner, attempt int) (bool, error) {
	theirs := uint64(max(no.GetMapVersion(), 0))
	if attempt >= maxAttempts {
		return false, fmt.Errorf("%s refused the key as not its own %d times (at its ring version %d; ours is %d, owner %s)",
			o.addr, attempt, theirs, o.version, o.addr)
	}
	if !s.awaitRing(ctx, func(v uint64) bool { return v >= theirs }) {
		return false, fmt.Errorf("%s refused the key as not its own at ring version %d, naming %q; our ring stayed older than that",
			o.addr, theirs, no.GetOwner())
	}
	s.routing.retries.Add(1)
	return true, nil
}

// ownerAt is the owner of key once our ring is at least version want, or by
// the ring we have when forward_retry_wait or the call's deadline ends the
// wait first.
func (s *FunServant) ownerAt(ctx context.Context, rc *rpc.Context, key string, want uint64) owner {
	ctx, _, cancel := s.deadline(ctx, rc, 0)
	defer cancel()
	s.awaitRing(ctx, func(v uint64) bool { return v >= want })
	return s.owner(key)
}

// awaitRing waits on the router's change notifications until its ring
// version satisfies ok, for at most forward_retry_wait and not past ctx;
// false if it never did.
func (s *FunServant) awaitRing(ctx context.Context, ok func(version uint64) bool) bool {
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

// owner is where the router places a key, by the ring of version.
type owner struct {
	addr    string
	self    bool
	version uint64
}

func (s *FunServant) owner(key string) owner {
	addr, self, version := s.router.Owner(key)
	return owner{addr: addr, self: self, version: version}
}

// notOwner is the answer to a forwarded call for a key o says is not ours.
func (o owner) notOwner() *rpc.TNotOwner {
	v := int64(o.version)
	msg := fmt.Sprintf("not the owner of the key at ring version %d; %s is", o.version, o.addr)
	return &rpc.TNotOwner{MapVersion: &v, Owner: &o.addr, Message: &msg}
}

// routeStats counts what the vbucket invariants are checked by. Safe for
// concurrent use.
type routeStats struct {
	refused        atomic.Uint64
	retries        atomic.Uint64
	servedNotOwned atomic.Uint64
}

// RouteStats is the "routing" part of Stats.
type RouteStats struct {
	// RefusedNotOwner counts forwarded calls answered TNotOwner.
	RefusedNotOwner uint64 `json:"refused_not_owner"`
	// NotOwnerRetries counts attempts made again after an owner answered
	// TNotOwner.
	NotOwnerRetries uint64 `json:"not_owner_retries"`
	// ServedNotOwned counts routed calls run here while Owner named another
	// node. It must stay 0.
	ServedNotOwned uint64 `json:"served_not_owned"`
}

func (r *routeStats) stats() RouteStats {
	return RouteStats{RefusedNotOwner: r.refused.Load(), NotOwnerRetries: r.retries.Load(), ServedNotOwned: r.servedNotOwned.Load()}
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
