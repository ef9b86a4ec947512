package zk

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if c.Configured() {
		t.Fatal("defaults configured: want no servers, so a plain node needs no ZooKeeper")
	}
	if c.Root != "/fae/zk" || c.SessionTimeout != 10*time.Second || c.Timeout != 3*time.Second {
		t.Fatalf("defaults = %+v", c)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Config)
		wantKey string // "" means valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"with servers", func(c *Config) { c.Servers = []string{"127.0.0.1:2181", "zk2"} }, ""},
		{"deep root", func(c *Config) { c.Root = "/a/b/c" }, ""},
		{"top-level root", func(c *Config) { c.Root = "/apps" }, ""},
		{"empty server", func(c *Config) { c.Servers = []string{""} }, "servers[0]:"},
		{"comma list as one server", func(c *Config) { c.Servers = []string{"a:1,b:2"} }, "servers[0]:"},
		{"server with space", func(c *Config) { c.Servers = []string{"a:1", "b :2"} }, "servers[1]:"},
		{"empty root", func(c *Config) { c.Root = "" }, "root:"},
		{"relative root", func(c *Config) { c.Root = "fae/zk" }, "root:"},
		{"slash root", func(c *Config) { c.Root = "/" }, "root:"},
		{"trailing slash", func(c *Config) { c.Root = "/fae/zk/" }, "root:"},
		{"dotdot", func(c *Config) { c.Root = "/fae/../zk" }, "root:"},
		{"dot", func(c *Config) { c.Root = "/fae/./zk" }, "root:"},
		{"double slash", func(c *Config) { c.Root = "/fae//zk" }, "root:"},
		{"NUL", func(c *Config) { c.Root = "/fae\x00" }, "root:"},
		{"zookeeper system tree", func(c *Config) { c.Root = "/zookeeper" }, "root:"},
		{"under zookeeper", func(c *Config) { c.Root = "/zookeeper/quota" }, "root:"},
		{"short session", func(c *Config) { c.SessionTimeout = 500 * time.Millisecond }, "session_timeout:"},
		{"zero timeout is off", func(c *Config) { c.Timeout = 0 }, ""},
		{"sub-ms timeout", func(c *Config) { c.Timeout = time.Microsecond }, "timeout:"},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "timeout:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.edit(&c)
			err := c.Validate()
			if tt.wantKey == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantKey) {
				t.Fatalf("Validate() = %v, want an error starting %q", err, tt.wantKey)
			}
		})
	}
}

func TestContains(t *testing.T) {
	c := DefaultConfig() // root /fae/zk
	tests := []struct {
		name string
		p    string
		want bool
	}{
		{"root", "/fae/zk", true},
		{"below root", "/fae/zk/a", true},
		{"parent of root", "/fae", false},
		{"sibling", "/fae/members", false},
		{"same prefix, other node", "/fae/zkx", false},
		{"top", "/", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.Contains(tt.p); got != tt.want {
				t.Fatalf("Contains(%q) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	if _, err := New(DefaultConfig(), log); !errors.Is(err, ErrNotConfigured) {
		t.Fatalf("New(no servers) = %v, want ErrNotConfigured", err)
	}
	bad := DefaultConfig()
	bad.Servers = []string{"127.0.0.1:2181"}
	bad.Root = "/"
	if _, err := New(bad, log); err == nil || !strings.Contains(err.Error(), "root:") {
		t.Fatalf("New(root /) = %v, want an error naming root", err)
	}
}

// TestZeroTimeoutIsOff: timeout 0 leaves a zk call to its caller's deadline.
func TestZeroTimeoutIsOff(t *testing.T) {
	ctx, cancel := (&Client{}).bound(context.Background())
	defer cancel()
	if dl, ok := ctx.Deadline(); ok {
		t.Fatalf("timeout = 0 armed a deadline %v, want none", dl)
	}
	ctx, cancel = (&Client{timeout: time.Second}).bound(context.Background())
	defer cancel()
	if _, ok := ctx.Deadline(); !ok {
		t.Fatal("timeout = 1s armed no deadline")
	}
}
