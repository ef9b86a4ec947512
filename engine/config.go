package engine

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Config holds the [engine] section of faed's TOML file. The file is decoded
// over DefaultConfig, so an absent key takes its default; an explicit 0
// means "off" where that makes sense and is refused by Validate elsewhere.
// Code that builds a Config starts from DefaultConfig too.
type Config struct {
	// Listen lists the addresses served, each "tcp:host:port" or
	// "unix:/path.sock". Default ["tcp:127.0.0.1:9001"].
	Listen []string `toml:"listen"`
	// UnixSocketMode is the octal file mode of unix sockets. Default "0666".
	UnixSocketMode string `toml:"unix_socket_mode"`
	// MaxOutstandingSessions bounds open connections; past it, accepting
	// waits (back-pressure) instead of dropping. Waiting clients sit in the
	// kernel's listen backlog (net.core.somaxconn): past that, TCP clients
	// retry their SYN, unix-socket clients are refused with EAGAIN.
	// Default 10000; 0 is refused (the bound keeps a burst of connections
	// from exhausting descriptors and memory: raise it instead).
	MaxOutstandingSessions int `toml:"max_outstanding_sessions"`
	// IdleTimeout closes a connection that sends nothing between calls for
	// this long. Default 30s; 0: no idle timeout (a silent client keeps its
	// connection, and its max_outstanding_sessions slot, until it hangs up).
	IdleTimeout time.Duration `toml:"idle_timeout"`
	// ReadTimeout bounds reading the rest of a call once its first byte
	// arrived. It does not run while the call is served. Default 10s; 0: no
	// read timeout (a client that stops mid-call keeps its connection).
	ReadTimeout time.Duration `toml:"read_timeout"`
	// WriteTimeout bounds writing one reply, armed when the reply starts
	// going out; a client that does not read its reply for this long is
	// cut off (and the lost reply logged). A reply gets between 7/8 of it
	// and all of it (see replyWriter.arm). Default 10s; 0: no write timeout
	// (a client that never reads its reply keeps its connection).
	WriteTimeout time.Duration `toml:"write_timeout"`
	// CallTimeout is the deadline for running one call, carried in its
	// context to every backend and peer call; a caller's Context.budgetMs
	// lowers it, a servant's or pool's own call_timeout may lower it. Past
	// it the call answers an error naming the call, the deadline and what
	// it waited on, and the connection stays open. The engine hands it to
	// the servants; no connection deadline runs while a call is served.
	// Keep it below the clients' own timeout (5s for the PHP clients).
	// Default 3s; 0 is refused: forward_retry_wait, the peers' call_timeout
	// and failover_delay are bounded by it, and a call without a deadline
	// could still run when its vbucket's replica is promoted.
	CallTimeout time.Duration `toml:"call_timeout"`
	// IOTimeout is refused: it bounded reading, running and writing a call
	// at once, and is replaced by read_timeout, call_timeout and
	// write_timeout. A file that still sets it fails Validate, naming them,
	// rather than have its value silently mean one of the three.
	IOTimeout time.Duration `toml:"io_timeout,omitempty"`
	// MaxMessageSize is the largest message a client may send, in bytes,
	// 1 KiB to 1 GiB. Default 16 MiB; 0 is refused (no call would fit).
	MaxMessageSize int `toml:"max_message_size"`
	// BufferSize is the read and the write buffer of each connection, in
	// bytes, 512 to 1 MiB. Default 4096; 0 is refused (a connection needs a
	// buffer).
	BufferSize int `toml:"buffer_size"`
	// ShutdownTimeout bounds the graceful drain. Default 10s; 0 is refused
	// (it would cut every in-flight call at shutdown).
	ShutdownTimeout time.Duration `toml:"shutdown_timeout"`
	// SlowCall logs a call that takes longer than this. Default 200ms; 0: no
	// slow-call lines.
	SlowCall time.Duration `toml:"slow_call"`
	// TraceSample is the fraction of calls, 0 to 1, logged with a trace
	// line (rid, reason, arguments, where the time went); a call whose
	// Context sets trace always is. Default 0: sampling off (none); 0.01
	// logs one call in 100.
	TraceSample float64 `toml:"trace_sample"`
	// CallStats keeps the per-call statistics of /stats: each call's
	// count, errors and latency histogram, and the counts by Context
	// reason. Default true; false stops recording them (the measure of
	// what they cost, see make bench), and /stats says "call_stats":
	// false rather than show counts that stopped. Slow-call and trace
	// lines, and the session and error counters, go on. A reload applies it.
	CallStats bool `toml:"call_stats"`
}

// The defaults of the timeouts.
const (
	DefaultReadTimeout  = 10 * time.Second
	DefaultWriteTimeout = 10 * time.Second
	DefaultCallTimeout  = 3 * time.Second
)

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Listen:                 []string{"tcp:127.0.0.1:9001"},
		UnixSocketMode:         "0666",
		MaxOutstandingSessions: 10000,
		IdleTimeout:            30 * time.Second,
		ReadTimeout:            DefaultReadTimeout,
		WriteTimeout:           DefaultWriteTimeout,
		CallTimeout:            DefaultCallTimeout,
		MaxMessageSize:         16 << 20,
		BufferSize:             4096,
		ShutdownTimeout:        10 * time.Second,
		SlowCall:               200 * time.Millisecond,
		CallStats:              true,
	}
}

// Validate returns an error naming the first bad key.
func (c Config) Validate() error {
	if len(c.Listen) == 0 {
		return fmt.Errorf("listen: at least one address is needed")
	}
	for _, addr := range c.Listen {
		if _, _, err := parseListen(addr); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
	}
	if _, err := c.socketMode(); err != nil {
		return fmt.Errorf("unix_socket_mode: %w", err)
	}
	return c.validateLimits()
}

func (c Config) validateLimits() error {
	if err := c.validateZeros(); err != nil {
		return err
	}
	checks := []struct {
		key string
		ok  bool
		val any
	}{
		{"max_outstanding_sessions", c.MaxOutstandingSessions >= 1, c.MaxOutstandingSessions},
		{"idle_timeout", c.IdleTimeout >= 0, c.IdleTimeout},
		{"read_timeout", c.ReadTimeout >= 0, c.ReadTimeout},
		{"write_timeout", c.WriteTimeout >= 0, c.WriteTimeout},
		{"max_message_size", c.MaxMessageSize >= 1024 && c.MaxMessageSize <= 1<<30, c.MaxMessageSize},
		{"buffer_size", c.BufferSize >= 512 && c.BufferSize <= 1<<20, c.BufferSize},
		{"shutdown_timeout", c.ShutdownTimeout > 0, c.ShutdownTimeout},
		{"slow_call", c.SlowCall >= 0, c.SlowCall},
		{"trace_sample", c.TraceSample >= 0 && c.TraceSample <= 1, c.TraceSample},
	}
	for _, ch := range checks {
		if !ch.ok {
			return fmt.Errorf("%s: invalid value %v", ch.key, ch.val)
		}
	}
	if c.IOTimeout != 0 {
		return fmt.Errorf("io_timeout: no longer supported; set read_timeout, call_timeout and write_timeout instead")
	}
	return nil
}

// validateZeros refuses a 0 where "off" makes no sense, saying why.
func (c Config) validateZeros() error {
	if c.CallTimeout <= 0 {
		return fmt.Errorf("call_timeout: must be positive, got %v: every call needs a deadline "+
			"(forward_retry_wait, the peers' call_timeout and failover_delay are bounded by it)", c.CallTimeout)
	}
	for _, z := range []struct {
		key string
		val int64
		why string
	}{
		{"max_outstanding_sessions", int64(c.MaxOutstandingSessions), "the bound keeps a burst of connections from exhausting descriptors; raise it instead"},
		{"max_message_size", int64(c.MaxMessageSize), "no call would fit"},
		{"buffer_size", int64(c.BufferSize), "a connection needs a buffer"},
		{"shutdown_timeout", int64(c.ShutdownTimeout), "it would cut every in-flight call at shutdown"},
	} {
		if z.val == 0 {
			return fmt.Errorf("%s: 0 is not allowed: %s", z.key, z.why)
		}
	}
	return nil
}

func (c Config) socketMode() (uint32, error) {
	mode, err := strconv.ParseUint(c.UnixSocketMode, 8, 32)
	if err != nil || mode > 0o777 {
		return 0, fmt.Errorf("want an octal mode like \"0660\", got %q", c.UnixSocketMode)
	}
	return uint32(mode), nil
}

// parseListen splits "tcp:host:port" or "unix:/path" into network and address.
func parseListen(s string) (network, address string, err error) {
	network, address, ok := strings.Cut(s, ":")
	switch {
	case !ok || address == "":
		return "", "", fmt.Errorf("%q: want tcp:host:port or unix:/path.sock", s)
	case network == "unix":
		return network, address, nil
	case network != "tcp":
		return "", "", fmt.Errorf("%q: network must be tcp or unix", s)
	}
	if _, port, err := net.SplitHostPort(address); err != nil || port == "" {
		return "", "", fmt.Errorf("%q: want tcp:host:port", s)
	}
	return network, address, nil
}
