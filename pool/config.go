package pool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"
)

// Config sizes and times a Pool. Start from DefaultConfig: a zero field
// means "off" (or is refused), never the default.
type Config struct {
	// MaxIdle is how many idle connections are kept for reuse; a connection put
	// back when MaxIdle are already idle is closed. At most MaxOpen. Default 4;
	// 0 keeps none (every Get dials).
	MaxIdle int `toml:"max_idle"`
	// MaxOpen bounds the connections open to the server: idle, in use and being
	// dialled, all together. Default 64; 0 is refused (no call could get a
	// connection).
	MaxOpen int `toml:"max_open"`
	// DialTimeout bounds each Dial, and each heartbeat Ping. Default 1s; 0: no
	// bound but the caller's ctx.
	DialTimeout time.Duration `toml:"dial_timeout"`
	// IdleTimeout is how long a connection may sit idle; an older one is closed
	// instead of reused. Default 5m; 0: idle connections are never closed for
	// their age.
	IdleTimeout time.Duration `toml:"idle_timeout"`
	// HeartbeatInterval is how often Run pings the idle connections and closes
	// those past IdleTimeout. Default 30s; 0: no heartbeat (Run only waits).
	HeartbeatInterval time.Duration `toml:"heartbeat_interval"`
	// WaitTimeout is how long Get waits for a connection when MaxOpen are open
	// before it fails with ErrPoolExhausted. Default 1s; 0: no bound but the
	// caller's ctx.
	WaitTimeout time.Duration `toml:"wait_timeout"`
}

// DefaultConfig returns the defaults: 4 idle, 64 open, dial 1s, idle 5m,
// heartbeat 30s, wait 1s.
func DefaultConfig() Config {
	return Config{
		MaxIdle:           4,
		MaxOpen:           64,
		DialTimeout:       time.Second,
		IdleTimeout:       5 * time.Minute,
		HeartbeatInterval: 30 * time.Second,
		WaitTimeout:       time.Second,
	}
}

// Validate reports every negative field, a zero max_open and a max_idle
// above max_open, naming the keys.
func (c Config) Validate() error {
	err := errors.Join(
		nonNegative("max_idle", c.MaxIdle),
		positive("max_open", c.MaxOpen, "no call could get a connection"),
		nonNegative("dial_timeout", c.DialTimeout),
		nonNegative("idle_timeout", c.IdleTimeout),
		nonNegative("heartbeat_interval", c.HeartbeatInterval),
		nonNegative("wait_timeout", c.WaitTimeout),
	)
	if err != nil {
		return err
	}
	if c.MaxIdle > c.MaxOpen {
		return fmt.Errorf("pool: max_idle = %d: must not exceed max_open = %d", c.MaxIdle, c.MaxOpen)
	}
	return nil
}

// Funcs is what a backend package tells a Pool about its connections of type C.
// The pool never reads, writes or sets deadlines on a C itself: I/O deadlines
// are the backend package's job, set per call (for a net.Conn, SetDeadline
// before each request). Without them a server that accepts but never answers
// holds a connection, and the caller, forever.
type Funcs[C any] struct {
	// Dial opens a connection. ctx carries DialTimeout; Dial must give up when
	// ctx is done. Required.
	Dial func(ctx context.Context) (C, error)
	// Close closes a connection. Its error is ignored. Required.
	Close func(c C) error
	// Ping checks an idle connection for the heartbeat. ctx carries DialTimeout;
	// Ping must honour it (for a net.Conn, SetDeadline from ctx.Deadline()). An
	// error closes the connection. If nil, idle connections are not pinged.
	Ping func(ctx context.Context, c C) error
	// IsBroken says whether an error from a call leaves the connection unusable
	// and the server suspect. A backend overrides it to keep its own user-level
	// errors (a cache miss, a duplicate key) from closing connections, or to add
	// its protocol errors. If nil, the package function IsBroken.
	IsBroken func(err error) bool
}

func (f Funcs[C]) check() error {
	switch {
	case f.Dial == nil:
		return errors.New("pool: Funcs.Dial is nil")
	case f.Close == nil:
		return errors.New("pool: Funcs.Close is nil")
	}
	return nil
}

// IsBroken is the default classification of an error a call returned on a
// pooled connection: broken (close the connection, count a breaker failure)
// for connection-level errors — any net.Error (timeouts included, and so
// context.DeadlineExceeded: a call cut off midway leaves the stream in an
// unknown state), io.EOF, io.ErrUnexpectedEOF, net.ErrClosed, EPIPE and
// ECONNRESET — and kept for everything else.
func IsBroken(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNRESET)
}
