package servant

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"faed/idl/gen-go/fun/rpc"

	"github.com/apache/thrift/lib/go/thrift"
)

// Router places key-owned calls (lock/unlock, lc_*, kvdb_*, my_query with
// a cacheKey, my_evict) in a cluster; *peer.Cluster implements it. Without
// a Router every key is owned here.
type Router interface {
	// Owner names the node that owns key; self is true when it is us.
	Owner(key string) (addr string, self bool)
	// Forward runs fn against the node at addr over a pooled connection.
	// The peer's own answers (declared exceptions, application errors)
	// come back as they are; any other error means it was not reached.
	Forward(ctx context.Context, addr string, fn func(rpc.FunServant) error) error
	// RingVersion changes whenever the member list does.
	RingVersion() uint64
	// CountReceived counts a call another node forwarded to us.
	CountReceived()
	// WorkerHeld reports whether our idgen worker id is claimed cluster-wide.
	WorkerHeld() bool
}

// errNowLocal tells a routed call that, after a ring change, the key is ours.
var errNowLocal = errors.New("servant: key now owned here")

// errWorkerNotHeld refuses ids while another live node might hold our worker id.
var errWorkerNotHeld = errors.New("idgen: worker id is not held in ZooKeeper (session lost?); refusing ids that could collide")

// remote returns the owner of key when a call must be forwarded, "" when it
// runs here: no cluster, a sticky call (a forwarder chose us; never forward
// again, so no loop is possible), or we own the key.
func (s *FunServant) remote(rc *rpc.Context, key string) string {
	if s.router == nil {
		return ""
	}
	if reqContext(rc).GetSticky() {
		s.router.CountReceived()
		return ""
	}
	addr, self := s.router.Owner(key)
	if self {
		return ""
	}
	return addr
}

// callFunc runs one call on a peer's client with the sticky context.
type callFunc func(c rpc.FunServant, sticky *rpc.Context) error

// forward runs call on the owner at addr. When the owner cannot be reached,
// an idempotent call waits for the ring to change and tries once more on
// the new owner (errNowLocal if that is us); any other call answers an
// error naming the owner.
//
// The whole of it, retry included, runs under the call's deadline, and each
// attempt tells the owner what is left of it (Context.budgetMs). Past the
// deadline it answers a DeadlineError naming the peer it waited on.
//
// The ring version is read before the first attempt, on the fast path too:
// read after a failure, it could already include the very change the retry
// waits for.
func (s *FunServant) forward(ctx context.Context, addr string, rc *rpc.Context, key string, idempotent bool, call callFunc) error {
	ctx, dl, cancel := s.deadline(ctx, rc, 0)
	defer cancel()
	sticky := stickyCopy(rc)
	version := s.router.RingVersion()
	err := s.forwardOnce(ctx, dl, addr, sticky, call)
	if err == nil || reached(err) {
		return peerAnswer(addr, err)
	}
	if !idempotent || !s.awaitRingChange(ctx, version) {
		return pastDeadline(dl, fmt.Errorf("owner %s of the key is unreachable: %w", addr, err))
	}
	next := s.remote(rc, key)
	if next == "" {
		return errNowLocal
	}
	return pastDeadline(dl, peerAnswer(next, s.forwardOnce(ctx, dl, next, sticky, call)))
}

// forwardOnce makes one attempt on addr with what is left of the call's
// deadline as the owner's budget. An error that is not the owner's answer
// names the peer waited on.
func (s *FunServant) forwardOnce(ctx context.Context, dl callDeadline, addr string, sticky *rpc.Context, call callFunc) error {
	*sticky.BudgetMs = budgetLeft(dl)
	err := s.router.Forward(ctx, addr, func(c rpc.FunServant) error { return call(c, sticky) })
	if err != nil && !reached(err) {
		return &waitingFor{what: "peer " + addr, err: err}
	}
	return err
}

// awaitRingChange polls until the ring version moves past version; false
// when it does not within the configured wait or before ctx's deadline.
func (s *FunServant) awaitRingChange(ctx context.Context, version uint64) bool {
	deadline := time.Now().Add(s.cfg.ForwardRetryWait)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if s.router.RingVersion() != version {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
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

// stickyContext is a request context together with the flag its Sticky
// field points to and the budget its BudgetMs points to, so that a sticky
// copy costs one allocation, not three.
type stickyContext struct {
	rpc.Context
	on     bool
	budget int32
}

// stickyCopy is rc marked "execute here": the owner never forwards it again.
// Its BudgetMs is set by each attempt (see forwardOnce).
// The copy's Sticky points into the same allocation; that interior pointer
// keeps the whole stickyContext alive.
func stickyCopy(rc *rpc.Context) *rpc.Context {
	c := &stickyContext{Context: *reqContext(rc), on: true}
	c.Sticky = &c.on
	c.BudgetMs = &c.budget
	return &c.Context
}
