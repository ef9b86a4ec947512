package engine

import (
	"fmt"
	"sync/atomic"
	"time"
)

// This file is how a call can be followed (SPEC §6): what its processor
// told the session of it (NoteCall: the Context's rid, reason and uid, and
// its arguments), the attributes every log line of the call carries, the
// slow-call line with where the time went, and the trace line of sampled
// calls and of calls whose Context asks for one.

// callNote is what the processor of the call being served said of it.
type callNote struct {
	rid    int64
	reason string
	uid    int64
	trace  bool // the Context asked for a trace line
	args   any  // the processor's args struct; nil for noop, which has no Context
}

// NoteCall implements the generated processors' CallNoter. It reads no
// clock: on this kind of VM a clock read costs more than the rest of
// following a call.
func (c *callContext) NoteCall(rid int64, reason string, uid int64, trace bool, args fmt.Stringer) {
	c.s.note = callNote{rid: rid, reason: reason, uid: uid, trace: trace, args: args}
}

// maxLoggedArgs bounds the arguments a log line shows of a call.
const maxLoggedArgs = 256

// callAttrs are the attributes of every log line about the call: who made
// it (rid, reason) and which it is.
func (s *session) callAttrs(name string) []any {
	return []any{"call", name, "rid", s.note.rid, "reason", s.note.reason, "remote", remote(s.conn)}
}

// slowOrTraced reports whether the call served in served (its arguments
// read and its handler run) gets a slow-call line (slower than slow_call)
// or a trace line (its Context asked, or the sampler picked it).
func (s *session) slowOrTraced(served time.Duration) (slow, traced bool) {
	cfg := &s.live.cfg
	return cfg.SlowCall > 0 && served > cfg.SlowCall, s.note.trace || s.live.sampler.pick()
}

// logSlowOrTraced writes those lines, with where the time went: reading
// the arguments and running the handler (servant, backends, peers), then
// writing the reply.
func (s *session) logSlowOrTraced(name string, slow, traced bool, served, write time.Duration, callErr error) {
	attrs := append(s.callAttrs(name), "uid", s.note.uid, "elapsed", served+write,
		"handler", served, "write", write, "args", argsText(s.note.args, maxLoggedArgs))
	if callErr != nil {
		attrs = append(attrs, "err", callErr)
	}
	if slow {
		s.e.stats.slowCalls.Inc(1)
		s.e.log.Warn("slow call", attrs...)
	}
	if traced {
		s.e.log.Info("trace", attrs...)
	}
}

// sampler picks one call in every n for a trace line; none when n is 0.
type sampler struct {
	n     uint64
	calls atomic.Uint64
}

// newSampler samples the fraction rate (0 to 1) of the calls.
func newSampler(rate float64) *sampler {
	if rate <= 0 {
		return &sampler{}
	}
	return &sampler{n: uint64(1/rate + 0.5)}
}

func (p *sampler) pick() bool { return p.n > 0 && p.calls.Add(1)%p.n == 0 }
