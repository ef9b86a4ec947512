package servant

import (
	"context"
	"errors"
	"fmt"
	"time"

	"faed/idl/gen-go/fun/rpc"
)

// Every call that waits on a backend or a peer runs under a deadline: the
// lower of the engine's call_timeout, the servant's or pool's own bound
// (zk timeout, a mongodb pool's io_timeout) and the caller's budget
// (Context.budgetMs). Calls that never wait (noop, id_*, a local lc_*, lock
// or kvdb call) build none, so they allocate nothing for it.

// DefaultCallTimeout is Options.CallTimeout when zero; [engine] call_timeout
// has the same default.
const DefaultCallTimeout = 3 * time.Second

// deadline returns ctx bounded by the call's deadline, with its length. limit
// is the servant's or pool's own bound, 0 for none. A budget of 0 ms or less
// is already spent: ctx is done at once and the call answers the deadline
// error.
func (s *FunServant) deadline(ctx context.Context, rc *rpc.Context, limit time.Duration) (context.Context, time.Duration, context.CancelFunc) {
	d := s.callTimeout
	if limit > 0 && limit < d {
		d = limit
	}
	if rc != nil && rc.BudgetMs != nil {
		if b := time.Duration(*rc.BudgetMs) * time.Millisecond; b < d {
			d = max(b, 0)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	return ctx, d, cancel
}

// within runs fn under the call's deadline (see deadline) and words its
// error with pastDeadline.
func (s *FunServant) within(ctx context.Context, rc *rpc.Context, limit time.Duration, fn func(context.Context) error) error {
	ctx, d, cancel := s.deadline(ctx, rc, limit)
	defer cancel()
	return pastDeadline(ctx, d, fn(ctx))
}

// pastDeadline turns err into a DeadlineError when the deadline of ctx has
// passed. It asks the clock, not ctx.Err(): a backend's own context timer
// for the same instant may fire before ours. A declared exception is an
// answer and stays as it is.
func pastDeadline(ctx context.Context, d time.Duration, err error) error {
	if err == nil || isDeclared(err) {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && time.Now().Before(dl) {
		return err
	}
	return &DeadlineError{Deadline: d, Err: err}
}

// DeadlineError answers a call whose deadline passed while it waited. Its
// message names the deadline and what the call waited on, e.g. "deadline 1s
// exceeded waiting for zookeeper 127.0.0.1:2181 (the create may still be
// applied)"; the generated processor prefixes it with the call's name. It
// wraps context.DeadlineExceeded, which the engine counts per call, and the
// backend's error.
type DeadlineError struct {
	Deadline time.Duration
	Err      error
}

func (e *DeadlineError) Error() string {
	return fmt.Sprintf("deadline %s exceeded waiting for %s", e.Deadline, waitedOn(e.Err))
}

func (e *DeadlineError) Unwrap() []error { return []error{context.DeadlineExceeded, e.Err} }

// waiter is a backend error that names what its call waited on when it gave
// up ("zookeeper 127.0.0.1:2181", "peer 10.0.0.2:9001").
type waiter interface {
	error
	WaitedOn() string
}

// waitedOn names what err's call waited on: a waiter's own words, or err.
func waitedOn(err error) string {
	if w, ok := errors.AsType[waiter](err); ok {
		return w.WaitedOn()
	}
	return err.Error()
}

// waitingFor is err of a call that waited on what.
type waitingFor struct {
	what string
	err  error
}

func (w *waitingFor) Error() string    { return w.err.Error() }
func (w *waitingFor) Unwrap() error    { return w.err }
func (w *waitingFor) WaitedOn() string { return w.what }

// budgetLeft is what remains of ctx's deadline in whole milliseconds, for a
// forwarded call's Context.budgetMs; 0 when it has passed.
func budgetLeft(ctx context.Context) int32 {
	dl, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	return int32(max(time.Until(dl)/time.Millisecond, 0))
}
