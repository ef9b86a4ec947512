package mysql

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestUnconfigured(t *testing.T) {
	c, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Query(ctx, "app", "", 0, "SELECT 1", nil, ""); !errors.Is(err, ErrUnknownPool) {
		t.Errorf("Query on an unconfigured servant: %v, want ErrUnknownPool", err)
	}
	if _, err := c.QueryShards(ctx, "user", "", "SELECT 1", nil); !errors.Is(err, ErrUnknownPool) {
		t.Errorf("QueryShards: %v, want ErrUnknownPool", err)
	}
	if _, _, err := c.Merge(ctx, "app", "t", 0, "id=1", "", "c", "{}"); !errors.Is(err, ErrUnknownPool) {
		t.Errorf("Merge: %v, want ErrUnknownPool", err)
	}
	if s := c.Stats(); len(s.Pools) != 0 {
		t.Errorf("Stats().Pools = %v, want empty", s.Pools)
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	cfg := validConfig()
	cfg.Lookup.Pool = "nope"
	if _, err := New(cfg); err == nil {
		t.Fatal("New accepted a config Validate rejects")
	}
}

func TestCloseStopsRunAndCalls(t *testing.T) {
	c, err := New(validConfig()) // nothing listens there; New does not connect
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { c.Run(context.Background()); close(done) }()
	c.Close()
	c.Close() // idempotent
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after Close")
	}
	if _, err := c.Query(context.Background(), "app", "", 0, "SELECT 1", nil, ""); !errors.Is(err, ErrClosed) {
		t.Errorf("Query after Close: %v, want ErrClosed", err)
	}
}

func TestStatsNames(t *testing.T) {
	c, err := New(validConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := c.Stats()
	for _, name := range []string{"app", "lookup", "user1", "user2", "user"} {
		if _, ok := s.Pools[name]; !ok {
			t.Errorf("Stats().Pools lacks %q", name)
		}
	}
	if s.Pools["user"].Server != "" || s.Pools["user1"].Server != "127.0.0.1:3306" {
		t.Errorf("servers: user %q, user1 %q", s.Pools["user"].Server, s.Pools["user1"].Server)
	}
}
