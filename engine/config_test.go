package engine

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		tweak   func(*Config)
		wantKey string // "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"tcp and unix", func(c *Config) { c.Listen = []string{"tcp::9001", "unix:/run/faed.sock"} }, ""},
		{"no listener", func(c *Config) { c.Listen = nil }, "listen"},
		{"udp", func(c *Config) { c.Listen = []string{"udp:127.0.0.1:1"} }, "listen"},
		{"tcp without port", func(c *Config) { c.Listen = []string{"tcp:127.0.0.1"} }, "listen"},
		{"unix without path", func(c *Config) { c.Listen = []string{"unix:"} }, "listen"},
		{"mode not octal", func(c *Config) { c.UnixSocketMode = "rw-rw-rw-" }, "unix_socket_mode"},
		{"mode too large", func(c *Config) { c.UnixSocketMode = "1777" }, "unix_socket_mode"},
		{"zero sessions", func(c *Config) { c.MaxOutstandingSessions = 0 }, "max_outstanding_sessions"},
		{"zero idle timeout is off", func(c *Config) { c.IdleTimeout = 0 }, ""},
		{"io timeout, replaced", func(c *Config) { c.IOTimeout = time.Second }, "io_timeout"},
		{"negative read timeout", func(c *Config) { c.ReadTimeout = -time.Second }, "read_timeout"},
		{"negative write timeout", func(c *Config) { c.WriteTimeout = -time.Second }, "write_timeout"},
		{"negative call timeout", func(c *Config) { c.CallTimeout = -time.Second }, "call_timeout"},
		{"zero read and write timeouts are off", func(c *Config) { c.ReadTimeout, c.WriteTimeout = 0, 0 }, ""},
		{"zero call timeout", func(c *Config) { c.CallTimeout = 0 }, "call_timeout"},
		{"zero message size", func(c *Config) { c.MaxMessageSize = 0 }, "max_message_size"},
		{"zero buffer", func(c *Config) { c.BufferSize = 0 }, "buffer_size"},
		{"tiny message size", func(c *Config) { c.MaxMessageSize = 10 }, "max_message_size"},
		{"huge message size", func(c *Config) { c.MaxMessageSize = 2 << 30 }, "max_message_size"},
		{"tiny buffer", func(c *Config) { c.BufferSize = 16 }, "buffer_size"},
		{"no shutdown time", func(c *Config) { c.ShutdownTimeout = 0 }, "shutdown_timeout"},
		{"negative slow call", func(c *Config) { c.SlowCall = -1 }, "slow_call"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.tweak(&cfg)
			err := cfg.Validate()
			if tt.wantKey == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantKey+":") {
				t.Fatalf("want an error naming %s, got %v", tt.wantKey, err)
			}
		})
	}
}

func TestAcceptBackoff(t *testing.T) {
	var b acceptBackoff
	want := []time.Duration{5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000}
	for i, w := range want {
		if got := b.next(); got != w*time.Millisecond {
			t.Fatalf("step %d: %v, want %v", i, got, w*time.Millisecond)
		}
	}
	b.reset()
	if got := b.next(); got != 5*time.Millisecond {
		t.Fatalf("after reset: %v, want 5ms", got)
	}
}

func TestStaleUnixSocketIsReplacedButALiveOneIsNot(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "stale.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // the file stays, as after a crash

	s := startServer(t, func(c *Config) { c.Listen = []string{"unix:" + sock} })
	c := dial(t, "unix", sock, KindBinary)
	if _, err := c.Noop(context.Background(), 1); err != nil {
		t.Fatalf("engine on a stale socket path: %v", err)
	}

	cfg := DefaultConfig()
	cfg.Listen = []string{"unix:" + sock}
	e2, err := New(cfg, rpc.NewFunServantProcessor(&testHandler{}), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := e2.Listen(); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Fatalf("second engine on a live socket: %v, want a refusal", err)
	}
	_ = s
}

func TestLogLimiter(t *testing.T) {
	l := logLimiter{perSecond: 3}
	allowed := 0
	for range 100 {
		if l.allow() {
			allowed++
		}
	}
	// The loop may straddle a second boundary: at most two windows' worth.
	if allowed < 3 || allowed > 6 {
		t.Fatalf("let %d of 100 lines through, want 3 (or up to 6 across a second boundary)", allowed)
	}
}
