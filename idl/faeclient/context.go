package faeclient

import (
	"context"
	"math"
	"math/rand/v2"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
)

// ContextOption sets a field of the Context NewContext builds.
type ContextOption func(*rpc.Context)

// WithUID sets the end user's id (0, the default, if none).
func WithUID(uid int64) ContextOption { return func(rc *rpc.Context) { rc.UID = uid } }

// WithRID sets the request id, instead of a random one: pass the same to
// every Context of one job, so that faed's log lines tie its calls together.
func WithRID(rid int64) ContextOption { return func(rc *rpc.Context) { rc.Rid = rid } }

// WithTrace asks every faed node the calls pass to log them with a trace
// line (rid, reason, uid, arguments, timings), whatever its sampling says.
func WithTrace() ContextOption {
	return func(rc *rpc.Context) {
		on := true
		rc.Trace = &on
	}
}

// NewContext builds the Context every call but noop takes. reason says what
// the caller is doing ("module.action"; faed folds digits to '?' when it
// counts them); rid is random unless WithRID sets it. If ctx has a
// deadline, budgetMs carries the time left until it, rounded down, so that
// faed stops waiting on backends when the caller stops waiting for the
// answer (0 once it has passed: faed answers at once). The budget is taken
// now: build the Context under the ctx of the calls it is for.
//
// It never sets sticky, mapVersion or peerToken: they are for faed nodes
// talking to each other.
func NewContext(ctx context.Context, reason string, opts ...ContextOption) *rpc.Context {
	rc := &rpc.Context{Rid: rand.Int64N(math.MaxInt64) + 1, Reason: reason}
	if deadline, ok := ctx.Deadline(); ok {
		ms := int32(min(max(time.Until(deadline).Milliseconds(), 0), math.MaxInt32))
		rc.BudgetMs = &ms
	}
	for _, opt := range opts {
		opt(rc)
	}
	return rc
}
