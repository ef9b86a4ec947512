package faeclient

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Config says where faed is and how a Client pools its connections to it.
// The zero value of every field but Addr means the default its comment
// names.
type Config struct {
	// Addr is "unix:/path/to/faed.sock" or "tcp:host:port", spelled as for
	// the PHP and Python helpers.
	Addr string
	// Transport is "buffered" (Thrift's default) or "framed"; faed tells them
	// apart on every connection. If empty, "buffered".
	Transport string
	// DialTimeout bounds opening one connection, within the ctx of the call
	// that needs it. If zero, 1s.
	DialTimeout time.Duration
	// CallTimeout bounds one call (sending it and reading its answer) whose
	// ctx has no deadline; a ctx deadline, sooner or later, replaces it.
	// If zero, 5s, as for the PHP and Python helpers.
	CallTimeout time.Duration
	// MaxOpen is how many connections may be open at once, busy and idle;
	// past it a Call waits for one to come back. If zero, 16.
	MaxOpen int
	// MaxIdle is how many connections are kept open for reuse between
	// calls. If zero, MaxOpen.
	MaxIdle int
	// IdleTimeout is how long a connection is kept idle before it is closed
	// instead of reused. Keep it below faed's [engine] idle_timeout, so that
	// the client, not faed, usually ends an idle connection. If zero, 25s
	// (faed's default idle_timeout is 30s).
	IdleTimeout time.Duration
}

// The defaults of Config's fields.
const (
	DefaultDialTimeout = time.Second
	DefaultCallTimeout = 5 * time.Second
	DefaultMaxOpen     = 16
	DefaultIdleTimeout = 25 * time.Second
)

// withDefaults returns cfg with every zero field set to its default.
func (cfg Config) withDefaults() Config {
	if cfg.Transport == "" {
		cfg.Transport = "buffered"
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.MaxOpen == 0 {
		cfg.MaxOpen = DefaultMaxOpen
	}
	if cfg.MaxIdle == 0 {
		cfg.MaxIdle = cfg.MaxOpen
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	return cfg
}

// Validate reports every field of cfg that cannot work, in one error.
func (cfg Config) Validate() error {
	var errs []error
	if _, _, err := splitAddr(cfg.Addr); err != nil {
		errs = append(errs, err)
	}
	if t := cfg.Transport; t != "" && t != "buffered" && t != "framed" {
		errs = append(errs, fmt.Errorf("faeclient: Transport must be \"buffered\" or \"framed\", got %q", t))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"DialTimeout", cfg.DialTimeout}, {"CallTimeout", cfg.CallTimeout}, {"IdleTimeout", cfg.IdleTimeout}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("faeclient: %s must not be negative, got %v", d.name, d.v))
		}
	}
	if cfg.MaxOpen < 0 || cfg.MaxIdle < 0 {
		errs = append(errs, fmt.Errorf("faeclient: MaxOpen and MaxIdle must not be negative, got %d and %d", cfg.MaxOpen, cfg.MaxIdle))
	} else if cfg.MaxOpen > 0 && cfg.MaxIdle > cfg.MaxOpen {
		errs = append(errs, fmt.Errorf("faeclient: MaxIdle (%d) must not exceed MaxOpen (%d)", cfg.MaxIdle, cfg.MaxOpen))
	}
	return errors.Join(errs...)
}

// splitAddr turns "unix:/path" or "tcp:host:port" into the network and
// address net.Dial takes.
func splitAddr(addr string) (network, address string, err error) {
	network, address, _ = strings.Cut(addr, ":")
	switch {
	case network == "unix" && address != "":
		return network, address, nil
	case network == "tcp":
		if _, _, err := net.SplitHostPort(address); err == nil {
			return network, address, nil
		}
	}
	return "", "", fmt.Errorf("faeclient: address must be \"tcp:host:port\" or \"unix:/path\", got %q", addr)
}
