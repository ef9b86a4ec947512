package engine

import (
	"cmp"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Config holds the [engine] section of faed's TOML file.
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
	// Default 10000.
	MaxOutstandingSessions int `toml:"max_outstanding_sessions"`
	// IdleTimeout closes a connection that sends nothing between calls for
	// this long. Default 30s.
	IdleTimeout time.Duration `toml:"idle_timeout"`
	// ReadTimeout bounds reading the rest of a call once its first byte
	// arrived. It does not run while the call is served. If zero, 10s.
	ReadTimeout time.Duration `toml:"read_timeout"`
	// WriteTimeout bounds writing one reply, armed when the reply starts
	// going out; a client that does not read its reply for this long is
	// cut off (and the lost reply logged). A reply gets between 7/8 of it
	// and all of it (see replyWriter.arm). If zero, 10s.
	WriteTimeout time.Duration `toml:"write_timeout"`
	// CallTimeout is the deadline for running one call, carried in its
	// context to every backend and peer call; a caller's Context.budgetMs
	// lowers it, a servant's or pool's own call_timeout may lower it. Past
	// it the call answers an error naming the call, the deadline and what
	// it waited on, and the connection stays open. The engine hands it to
	// the servants; no connection deadline runs while a call is served.
	// Keep it below the clients' own timeout (5s for the PHP clients).
	// If zero, 3s.
	CallTimeout time.Duration `toml:"call_timeout"`
	// IOTimeout is refused: it bounded reading, running and writing a call
	// at once, and is replaced by read_timeout, call_timeout and
	// write_timeout. A file that still sets it fails Validate, naming them,
	// rather than have its value silently mean one of the three.
	IOTimeout time.Duration `toml:"io_timeout,omitempty"`
	// MaxMessageSize is the largest message a client may send, in bytes.
	// Default 16 MiB.
	MaxMessageSize int `toml:"max_message_size"`
	// BufferSize is the read and the write buffer of each connection, in
	// bytes. Default 4096.
	BufferSize int `toml:"buffer_size"`
	// ShutdownTimeout bounds the graceful drain. Default 10s.
	ShutdownTimeout time.Duration `toml:"shutdown_timeout"`
	// SlowCall logs a call that takes longer than this; 0 disables.
	// Default 200ms.
	SlowCall time.Duration `toml:"slow_call"`
	// TraceSample is the fraction of calls, 0 to 1, logged with a trace
	// line (rid, reason, arguments, where the time went); a call whose
	// Context sets trace always is. 0 (the default) samples none; 0.01 logs
	// one call in 100.
	TraceSample float64 `toml:"trace_sample"`
}

// The defaults of the timeouts whose zero means "the default".
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
	checks := []struct {
		key string
		ok  bool
		val any
	}{
		{"max_outstanding_sessions", c.MaxOutstandingSessions >= 1, c.MaxOutstandingSessions},
		{"idle_timeout", c.IdleTimeout > 0, c.IdleTimeout},
		{"read_timeout", c.ReadTimeout >= 0, c.ReadTimeout},
		{"write_timeout", c.WriteTimeout >= 0, c.WriteTimeout},
		{"call_timeout", c.CallTimeout >= 0, c.CallTimeout},
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

// WithDefaults returns c with every zero timeout replaced by its default.
func (c Config) WithDefaults() Config {
	c.ReadTimeout = cmp.Or(c.ReadTimeout, DefaultReadTimeout)
	c.WriteTimeout = cmp.Or(c.WriteTimeout, DefaultWriteTimeout)
	c.CallTimeout = cmp.Or(c.CallTimeout, DefaultCallTimeout)
	return c
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
