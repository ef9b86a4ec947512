package zk

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/faed/faed/scripts/testserver"
)

// Tests without a ZooKeeper: an ensemble that refuses connections and one
// that accepts them and never answers.

// newTestClient returns a Client for addr with the given call timeout,
// closed in t.Cleanup.
func newTestClient(t *testing.T, addr, root string, timeout time.Duration) *Client {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Servers = []string{addr}
	cfg.Root = root
	cfg.SessionTimeout = 2 * time.Second
	cfg.Timeout = timeout
	c, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// refusedAddr returns a loopback address nothing listens on.
func refusedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestUnreachableEnsemble(t *testing.T) {
	const timeout = 500 * time.Millisecond
	began := time.Now()
	c := newTestClient(t, refusedAddr(t), "/fae/zk", timeout)
	if d := time.Since(began); d > 200*time.Millisecond {
		t.Fatalf("New took %v with nothing listening: it must not wait for ZooKeeper", d)
	}
	for _, call := range testCalls(c) {
		began := time.Now()
		err := call.do()
		d := time.Since(began)
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("%s: err = %v, want ErrUnavailable", call.name, err)
		}
		if d > timeout+300*time.Millisecond {
			t.Fatalf("%s took %v, past the %v timeout", call.name, d, timeout)
		}
		t.Logf("%s: %v after %v", call.name, err, d.Round(time.Millisecond))
	}
	if s := c.Stats(); s.Calls != 3 || s.Errors != 3 {
		t.Fatalf("stats = %+v, want 3 calls, 3 errors", s)
	}
}

func TestHungServerTimesOut(t *testing.T) {
	const timeout = 300 * time.Millisecond
	c := newTestClient(t, testserver.Silent(t), "/fae/zk", timeout)
	for _, call := range testCalls(c) {
		began := time.Now()
		err := call.do()
		d := time.Since(began)
		if !errors.Is(err, ErrTimeout) || !errors.Is(err, ErrUnavailable) {
			t.Fatalf("%s: err = %v, want ErrTimeout", call.name, err)
		}
		if d < timeout-10*time.Millisecond || d > timeout+300*time.Millisecond {
			t.Fatalf("%s took %v, want about %v", call.name, d, timeout)
		}
	}
	if s := c.Stats(); s.Timeouts != 3 || s.State == "StateHasSession" {
		t.Fatalf("stats = %+v, want 3 timeouts and no session", s)
	}
}

func TestCallerDeadlineWins(t *testing.T) {
	c := newTestClient(t, testserver.Silent(t), "/fae/zk", 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	began := time.Now()
	if _, err := c.Children(ctx, "/"); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Children = %v, want ErrTimeout", err)
	}
	if d := time.Since(began); d > time.Second {
		t.Fatalf("Children took %v, ignoring the caller's 100ms deadline", d)
	}
}

func TestRefusedWithoutAsking(t *testing.T) {
	c := newTestClient(t, testserver.Silent(t), "/fae/zk", 5*time.Second)
	ctx := context.Background()
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"create with ..", func() error { _, err := c.Create(ctx, "/a/../b", ""); return err }, ErrBadPath},
		{"children of relative", func() error { _, err := c.Children(ctx, "a"); return err }, ErrBadPath},
		{"delete with //", func() error { _, err := c.Delete(ctx, "/a//b"); return err }, ErrBadPath},
		{"delete the root", func() error { _, err := c.Delete(ctx, "/"); return err }, ErrBadPath},
		{"data too large", func() error {
			_, err := c.Create(ctx, "/big", string(make([]byte, MaxDataBytes+1)))
			return err
		}, ErrDataTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			began := time.Now()
			// The server never answers: only a refusal made before asking
			// it can come back quickly.
			if err := tt.do(); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if d := time.Since(began); d > time.Second {
				t.Fatalf("refusal took %v: it went to the server", d)
			}
		})
	}
}

func TestClosed(t *testing.T) {
	c := newTestClient(t, refusedAddr(t), "/fae/zk", time.Second)
	c.Close()
	c.Close() // idempotent
	if _, err := c.Create(context.Background(), "/a", ""); !errors.Is(err, ErrClosed) {
		t.Fatalf("Create after Close = %v, want ErrClosed", err)
	}
	if _, err := c.Children(context.Background(), "/"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Children after Close = %v, want ErrClosed", err)
	}
}

type testCall struct {
	name string
	do   func() error
}

// testCalls returns one call of each kind on c.
func testCalls(c *Client) []testCall {
	ctx := context.Background()
	return []testCall{
		{"create", func() error { _, err := c.Create(ctx, "/a", "x"); return err }},
		{"children", func() error { _, err := c.Children(ctx, "/"); return err }},
		{"delete", func() error { _, err := c.Delete(ctx, "/a"); return err }},
	}
}
