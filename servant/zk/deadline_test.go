package zk

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/faed/faed/scripts/testserver"
)

func TestTimeoutNamesTheServerAndAWriteThatMayStillApply(t *testing.T) {
	addr := testserver.Silent(t)
	c := newTestClient(t, addr, "/fae/zk", 100*time.Millisecond)
	ctx := context.Background()
	_, createErr := c.Create(ctx, "/a", "x")
	_, readErr := c.Children(ctx, "/")
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"create", createErr, "zookeeper " + addr + " (the create may still be applied)"},
		{"children", readErr, "zookeeper " + addr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			te, ok := errors.AsType[*TimeoutError](tt.err)
			if !ok || !errors.Is(tt.err, context.DeadlineExceeded) || !errors.Is(tt.err, ErrTimeout) {
				t.Fatalf("err = %v, want a *TimeoutError wrapping ErrTimeout and context.DeadlineExceeded", tt.err)
			}
			if got := te.WaitedOn(); got != tt.want {
				t.Fatalf("WaitedOn() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestACallerGivingUpIsNoTimeout(t *testing.T) {
	addr := testserver.Silent(t)
	c := newTestClient(t, addr, "/fae/zk", 10*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := c.Create(ctx, "/a", "x")
	te, ok := errors.AsType[*TimeoutError](err)
	if !ok || !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want a *TimeoutError wrapping context.Canceled and not ErrTimeout", err)
	}
	if want := "zookeeper " + addr + " (the create may still be applied)"; te.WaitedOn() != want {
		t.Fatalf("WaitedOn() = %q, want %q", te.WaitedOn(), want)
	}
	if s := c.Stats(); s.Timeouts != 0 {
		t.Fatalf("a caller giving up counted %d timeouts", s.Timeouts)
	}
}
