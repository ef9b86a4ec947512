package zk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/go-zookeeper/zk"
)

// maxPending bounds the requests waiting on ZooKeeper at once. A request
// keeps its slot until the library answers it, even after its caller gave
// up, so a hung server costs at most this many goroutines; past it calls
// fail at once instead of piling up.
const maxPending = 1024

var (
	// ErrUnavailable is wrapped by the error of a call that could not
	// reach ZooKeeper: no server, connection lost, session expired, too
	// many requests waiting, or no answer in time (ErrTimeout).
	ErrUnavailable = errors.New("zk: zookeeper unavailable")
	// ErrTimeout is wrapped by the error of a call that got no answer
	// within Config.Timeout (or its context's deadline). It wraps
	// ErrUnavailable. The request may still have been applied.
	ErrTimeout = fmt.Errorf("%w: no answer in time", ErrUnavailable)
)

// run does one ZooKeeper request, op, and returns its result, or gives up
// when ctx is done. The library's calls take no deadline and may wait for
// a connection for as long as the session lasts, so op runs in its own
// goroutine, which outlives the call when ctx ends first: the library
// answers it later (on a reply, a reconnect or Close) and it frees its
// pending slot then.
func run[T any](ctx context.Context, c *Client, op func() (T, error)) (T, error) {
	var zero T
	select {
	case c.pending <- struct{}{}:
	default:
		return zero, fmt.Errorf("%w: %d requests already waiting", ErrUnavailable, maxPending)
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1) // buffered: the goroutine never blocks on a gone caller
	go func() {
		defer func() { <-c.pending }()
		v, err := op()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, classify(r.err)
	case <-ctx.Done():
		return zero, c.gaveUp(ctx)
	}
}

// classify marks connection-level errors as ErrUnavailable and leaves the
// answers about nodes (no node, exists, not empty) as they are.
func classify(err error) error {
	var netErr net.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, zk.ErrNoServer), errors.Is(err, zk.ErrConnectionClosed),
		errors.Is(err, zk.ErrSessionExpired), errors.Is(err, zk.ErrClosing),
		errors.Is(err, zk.ErrSessionMoved), errors.As(err, &netErr):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// gaveUp explains why a call ended before ZooKeeper answered.
func (c *Client) gaveUp(ctx context.Context) error {
	c.mu.Lock()
	server := c.server
	c.mu.Unlock()
	return &TimeoutError{Server: server, Timeout: c.timeout, State: c.conn.State().String(), Cause: ctx.Err()}
}

// TimeoutError is the error of a call that ended before ZooKeeper answered:
// its context's deadline passed (Config.Timeout, or the caller's if sooner;
// then it wraps ErrTimeout, hence ErrUnavailable, and
// context.DeadlineExceeded), or its caller gave up (it wraps
// context.Canceled).
type TimeoutError struct {
	Server  string        // the server last connected or tried
	Timeout time.Duration // Config.Timeout
	State   string        // the session state when the call gave up
	Cause   error         // the context's error
	// Write is "create" or "delete" when the request was a write: the
	// library cannot withdraw it, so it may still be applied.
	Write string
}

func (e *TimeoutError) Error() string {
	if !e.timedOut() {
		return fmt.Sprintf("zk: gave up waiting for %s (session %s): %v%s", e.Server, e.State, e.Cause, e.note())
	}
	return fmt.Sprintf("%v from %s (timeout %s, session %s)%s", ErrTimeout, e.Server, e.Timeout, e.State, e.note())
}

// WaitedOn names the server waited on, for the caller's deadline error:
// "zookeeper 127.0.0.1:2181 (the create may still be applied)".
func (e *TimeoutError) WaitedOn() string { return "zookeeper " + e.Server + e.note() }

func (e *TimeoutError) Unwrap() []error {
	if e.timedOut() {
		return []error{ErrTimeout, e.Cause}
	}
	return []error{e.Cause}
}

func (e *TimeoutError) timedOut() bool { return errors.Is(e.Cause, context.DeadlineExceeded) }

func (e *TimeoutError) note() string {
	if e.Write == "" {
		return ""
	}
	return " (the " + e.Write + " may still be applied)"
}

// mayBeApplied marks a timed-out write as one ZooKeeper may still apply.
func mayBeApplied(err error, op string) error {
	if te, ok := errors.AsType[*TimeoutError](err); ok {
		te.Write = op
	}
	return err
}

// dial opens a TCP connection to one ZooKeeper server. The library passes
// its own connect timeout (1s); keepalives notice a dead peer even while
// the session is idle between pings.
func dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout, KeepAlive: 15 * time.Second}
	return d.Dial(network, addr)
}
