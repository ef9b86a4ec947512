package servant

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
)

// Every call that waits on a backend or a peer runs under a deadline: the
// lower of the engine's call_timeout, the servant's or pool's own bound
// (zk timeout, a mongodb pool's io_timeout) and the caller's budget
// (Context.budgetMs). Calls that never wait (noop, id_*, a local lc_*, lock
// or kvdb call) build none, so they allocate nothing for it.
//
// How the call ends at its deadline decides who is blamed. The configured
// bound ends it as a deadline (ctx.Err() is context.DeadlineExceeded): the
// backend or peer that made it wait counts a failure toward its breaker, as
// for any timeout of its own. A caller's budget that is lower ends it by
// cancelling ctx (context.Canceled), which the backends and the pools count
// against nobody: else a client sending budgetMs = 1 could open the breaker
// of a healthy server for every other client.

// DefaultCallTimeout is Options.CallTimeout when zero; [engine] call_timeout
// has the same default.
const DefaultCallTimeout = 3 * time.Second

// callDeadline is when a call must have its answer, and how long it had.
type callDeadline struct {
	at time.Time
	d  time.Duration
}

// deadline returns ctx bounded by the call's deadline (see above). limit is
// the servant's or pool's own bound, 0 for none. A budget of 0 ms or less is
// already spent: ctx is done at once and the call answers the deadline
// error.
func (s *FunServant) deadline(ctx context.Context, rc *rpc.Context, limit time.Duration) (context.Context, callDeadline, context.CancelFunc) {
	d := time.Duration(s.callTimeout.Load())
	if limit > 0 && limit < d {
		d = limit
	}
	now := time.Now()
	ctx, cancel := context.WithTimeout(ctx, d)
	if rc == nil || rc.BudgetMs == nil {
		return ctx, callDeadline{at: now.Add(d), d: d}, cancel
	}
	b := max(time.Duration(*rc.BudgetMs)*time.Millisecond, 0)
	if b >= d {
		return ctx, callDeadline{at: now.Add(d), d: d}, cancel
	}
	ctx, stop := context.WithCancel(ctx)
	timer := time.AfterFunc(b, stop)
	return ctx, callDeadline{at: now.Add(b), d: b}, func() {
		timer.Stop()
		stop()
		cancel()
	}
}

// within runs fn under the call's deadline (see deadline) and words its
// error with pastDeadline.
func (s *FunServant) within(ctx context.Context, rc *rpc.Context, limit time.Duration, fn func(context.Context) error) error {
	ctx, dl, cancel := s.deadline(ctx, rc, limit)
	defer cancel()
	return pastDeadline(dl, fn(ctx))
}

// pastDeadline turns err into a DeadlineError when dl has passed. It asks
// the clock, not ctx.Err(): a backend's own context timer for the same
// instant may fire before ours. A declared exception is an answer and stays
// as it is.
func pastDeadline(dl callDeadline, err error) error {
	if err == nil || isDeclared(err) || time.Now().Before(dl.at) {
		return err
	}
	return &DeadlineError{Deadline: dl.d, Err: err}
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

// waitedOn names what err's call waited on: a waiter's own words, or err
// without the context error it ends with, which DeadlineError says better.
func waitedOn(err error) string {
	if w, ok := errors.AsType[waiter](err); ok {
		return w.WaitedOn()
	}
	msg := err.Error()
	for _, ctxErr := range []error{context.Canceled, context.DeadlineExceeded} {
		msg = strings.TrimSuffix(msg, ": "+ctxErr.Error())
	}
	return msg
}

// waitingFor is err of a call that waited on what.
type waitingFor struct {
	what string
	err  error
}

func (w *waitingFor) Error() string    { return w.err.Error() }
func (w *waitingFor) Unwrap() error    { return w.err }
func (w *waitingFor) WaitedOn() string { return w.what }

// budgetLeft is the budget a forwarded call passes on: what remains of
// ctx's deadline, less a tenth for the answer's way back, so that the owner
// answers (its own deadline error, if need be) before the sender's deadline
// blames the connection. In whole milliseconds; 0 when nothing is left.
func budgetLeft(dl callDeadline) int32 {
	left := time.Until(dl.at)
	return int32(max((left-left/10)/time.Millisecond, 0))
}
