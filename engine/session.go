package engine

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
)

// Session states. A drain may interrupt a session only while it is idle,
// waiting for the next call; a busy one finishes its call first.
const (
	stateIdle int32 = iota
	stateBusy
	stateClosing
)

// session serves the calls of one connection, in order, on one goroutine.
type session struct {
	e       *Engine
	conn    net.Conn
	t       *connTransport
	in, out thrift.TProtocol
	state   atomic.Int32
	// live is the engine's settings this call runs on, read again before
	// each call (reload.go).
	live *settings

	// ctx is passed to every call of the session; call names the call
	// being read, for the missing-field counts, and note is what its
	// processor told of it (trace.go).
	ctx     *callContext
	call    string
	note    callNote
	reasons reasonCache
}

func newSession(e *Engine, conn net.Conn) *session {
	live := e.live.Load()
	s := &session{e: e, conn: conn, live: live, t: newConnTransport(conn, e.bufs, live.cfg.MaxMessageSize, live.cfg.WriteTimeout)}
	s.ctx = &callContext{Context: e.ctx, s: s}
	return s
}

// serve runs until the client leaves, a transport or protocol error, the
// idle timeout, or a drain. Nothing a client sends can crash the daemon.
func (s *session) serve() {
	defer s.t.release()
	defer s.conn.Close()
	defer func() {
		if p := recover(); p != nil {
			s.e.stats.panics.Inc(1)
			s.e.log.Error("panic in session", "remote", remote(s.conn), "panic", p, "stack", string(debug.Stack()))
		}
	}()
	if !s.awaitCall() {
		return
	}
	if err := s.setup(); err != nil {
		s.logEnd(err)
		return
	}
	for {
		if err := s.serveCall(); err != nil {
			s.logEnd(err)
			return
		}
		if !s.endCall() || !s.awaitCall() {
			return
		}
	}
}

// setup detects the transport and protocol from the first bytes.
func (s *session) setup() error {
	kind, err := detect(s.t)
	if err != nil {
		return err
	}
	if kind == KindFramedBinary || kind == KindFramedCompact {
		// The framed transport bounds each frame by max_message_size
		// itself.
		s.t.limit = math.MaxInt
	}
	s.in, s.out = protocols(kind, s.t, s.live.tconf, s.e.internName)
	return nil
}

// awaitCall waits up to the idle timeout for the first byte of the next
// call, then marks the session busy and arms the read timeout for the rest
// of the call. It reports false when the session should end.
//
// The read deadline may pass while the handler runs: nothing reads then, so
// it cuts nothing off, and the next awaitCall sets a new one. The write
// timeout is armed by the reply itself (see replyWriter), so no connection
// deadline bounds the handler; its deadline is the call's own, in its ctx.
func (s *session) awaitCall() bool {
	s.live = s.e.live.Load()
	if !s.t.buffered() {
		s.conn.SetReadDeadline(deadline(s.live.cfg.IdleTimeout))
		if err := s.t.awaitHead(); err != nil {
			return false
		}
	}
	if !s.state.CompareAndSwap(stateIdle, stateBusy) {
		return false // a drain closed us while we waited
	}
	s.conn.SetReadDeadline(deadline(s.live.cfg.ReadTimeout))
	return true
}

// deadline is d from now, or no deadline (the zero time) when d is 0, off.
func deadline(d time.Duration) time.Time {
	if d == 0 {
		return time.Time{}
	}
	return time.Now().Add(d)
}

// endCall marks the session idle again; false when a drain wants it gone.
func (s *session) endCall() bool {
	s.state.Store(stateIdle)
	return !s.e.draining.Load()
}

// interruptIfIdle ends a session waiting for its next call. A busy one is
// left alone: endCall sees the drain after its reply.
func (s *session) interruptIfIdle() {
	if s.state.CompareAndSwap(stateIdle, stateClosing) {
		s.conn.SetReadDeadline(time.Unix(1, 0))
	}
}

// serveCall reads one call, runs it and writes its reply.
func (s *session) serveCall() error {
	s.t.beginMessage()
	name, typ, seq, err := s.in.ReadMessageBegin(s.e.ctx)
	if err != nil {
		return err
	}
	if typ != thrift.CALL && typ != thrift.ONEWAY {
		s.e.stats.protocolErrors.Inc(1)
		return fmt.Errorf("engine: message type %d is not a call", typ)
	}
	r := s.e.routes[name]
	if r == nil {
		return s.unknownMethod(name, seq)
	}
	s.call, s.note = r.name, callNote{}
	counted := s.live.cfg.CallStats
	if !r.timed {
		if counted {
			r.stats.calls.Inc(1)
		}
		ok, callErr := s.process(r, seq)
		return s.finish(ok, callErr)
	}
	start := time.Now()
	ok, callErr := s.process(r, seq)
	done := time.Now()
	if counted {
		r.stats.record(done.Sub(start), callErr)
		s.e.stats.reasons.countCached(&s.reasons, s.note.reason)
	}
	if callErr != nil && !isDeclared(callErr) && s.e.errLog.allow() {
		s.e.log.Warn("call failed", append(s.callAttrs(name), "err", callErr)...)
	}
	err = s.finish(ok, callErr)
	// The write is timed only for a call that gets a line: a clock read
	// is dear on a VM, and most calls need two, not three.
	if slow, traced := s.slowOrTraced(done.Sub(start)); slow || traced {
		s.logSlowOrTraced(name, slow, traced, done.Sub(start), time.Since(done), callErr)
	}
	return err
}

// finish sends the reply of a counted call and says whether the session
// goes on. A reply that could not be written (the client stopped reading
// past write_timeout, or hung up) is logged and counted: a computed answer
// is never dropped silently.
func (s *session) finish(ok bool, callErr thrift.TException) error {
	err := s.t.flushReply()
	if werr := s.t.out.err; werr != nil {
		s.replyLost(werr)
		return werr
	}
	if err != nil {
		return err
	}
	return s.callError(ok, callErr)
}

// replyLost logs a reply that never reached its client.
func (s *session) replyLost(err error) {
	s.e.stats.repliesLost.Inc(1)
	if s.e.errLog.allow() {
		s.e.log.Warn("reply not delivered", append(s.callAttrs(s.call), "err", err, "write_timeout", s.live.cfg.WriteTimeout)...)
	}
}

// callError decides whether the outcome of a processor function ends the
// session. Application errors and declared exceptions were answered and keep
// it open; transport errors and unreadable arguments (answered with a
// PROTOCOL_ERROR by the generated code) end it.
func (s *session) callError(ok bool, err thrift.TException) error {
	if !ok {
		if err == nil {
			return errors.New("engine: processor refused the call")
		}
		if err.TExceptionType() == thrift.TExceptionTypeProtocol {
			s.e.stats.protocolErrors.Inc(1)
		}
		return err
	}
	if err != nil && err.TExceptionType() == thrift.TExceptionTypeTransport {
		return err
	}
	return nil
}

// process runs one processor function. A panic in a handler is recovered,
// logged with its stack and answered as INTERNAL_ERROR; the session goes on.
func (s *session) process(r *route, seq int32) (ok bool, err thrift.TException) {
	defer func() {
		if p := recover(); p != nil {
			s.e.stats.panics.Inc(1)
			s.e.log.Error("panic in call", append(s.callAttrs(r.name), "panic", p, "stack", string(debug.Stack()))...)
			msg := fmt.Sprintf("internal error in %s (recovered panic)", r.name)
			ok, err = true, s.replyError(r.name, seq, thrift.INTERNAL_ERROR, msg)
			if err == nil {
				err = thrift.NewTApplicationException(thrift.INTERNAL_ERROR, msg)
			}
		}
	}()
	return r.fn.Process(s.ctx, seq, s.in, s.out)
}

// maxEchoedName bounds how much of an unknown method's name its reply echoes.
const maxEchoedName = 256

// unknownMethod skips the arguments of a call we do not serve and answers
// UNKNOWN_METHOD; the session goes on.
func (s *session) unknownMethod(name string, seq int32) error {
	s.e.stats.unknownCalls.Inc(1)
	if err := s.in.Skip(s.e.ctx, thrift.STRUCT); err != nil {
		s.e.stats.protocolErrors.Inc(1)
		return err
	}
	if err := s.in.ReadMessageEnd(s.e.ctx); err != nil {
		return err
	}
	if len(name) > maxEchoedName {
		name = name[:maxEchoedName]
	}
	if err := s.replyError(name, seq, thrift.UNKNOWN_METHOD, "unknown method "+name); err != nil {
		return err
	}
	return s.t.flushReply()
}

// replyError writes a TApplicationException; only a transport error is returned.
func (s *session) replyError(name string, seq int32, typ int32, msg string) thrift.TException {
	x := thrift.NewTApplicationException(typ, msg)
	ctx := s.e.ctx
	if err := s.out.WriteMessageBegin(ctx, name, thrift.EXCEPTION, seq); err != nil {
		return thrift.WrapTException(err)
	}
	if err := x.Write(ctx, s.out); err != nil {
		return thrift.WrapTException(err)
	}
	if err := s.out.WriteMessageEnd(ctx); err != nil {
		return thrift.WrapTException(err)
	}
	return thrift.WrapTException(s.out.Flush(ctx))
}

// logEnd logs why a session ended, unless it is the normal end of a client
// hanging up or going quiet.
func (s *session) logEnd(err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed) {
		return
	}
	var te thrift.TTransportException
	if errors.As(err, &te) && te.TypeId() == thrift.END_OF_FILE {
		return
	}
	s.e.log.Info("session closed", "remote", remote(s.conn), "err", err)
}

func remote(c net.Conn) string {
	if a := c.RemoteAddr(); a != nil && a.String() != "" {
		return a.String()
	}
	return c.LocalAddr().String()
}
