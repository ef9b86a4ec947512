package servant

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"faed/idl/gen-go/fun/rpc"
)

func TestDeadlineIsTheLowestBound(t *testing.T) {
	ms := func(v int32) *int32 { return &v }
	tests := []struct {
		name   string
		limit  time.Duration
		budget *int32
		want   time.Duration
	}{
		{"call timeout", 0, nil, 3 * time.Second},
		{"servant bound lower", time.Second, nil, time.Second},
		{"servant bound higher", 5 * time.Second, nil, 3 * time.Second},
		{"budget lowest", time.Second, ms(200), 200 * time.Millisecond},
		{"budget higher", 0, ms(9000), 3 * time.Second},
		{"budget spent", 0, ms(0), 0},
		{"budget negative", 0, ms(-5), 0},
	}
	s := &FunServant{callTimeout: 3 * time.Second}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, d, cancel := s.deadline(context.Background(), &rpc.Context{BudgetMs: tt.budget}, tt.limit)
			defer cancel()
			if d != tt.want {
				t.Fatalf("deadline %v, want %v", d, tt.want)
			}
			dl, ok := ctx.Deadline()
			if left := time.Until(dl); !ok || left > tt.want || left < tt.want-time.Second/10 {
				t.Fatalf("ctx deadline %v away, want %v", left, tt.want)
			}
		})
	}
}

func TestPastDeadlineWordsTheError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	<-ctx.Done()
	backend := &waitingFor{what: "zookeeper 127.0.0.1:2181", err: errors.New("no answer")}
	err := pastDeadline(ctx, time.Second, backend)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, backend) {
		t.Fatalf("%v: want it to wrap context.DeadlineExceeded and the backend's error", err)
	}
	if want := "deadline 1s exceeded waiting for zookeeper 127.0.0.1:2181"; err.Error() != want {
		t.Fatalf("message %q, want %q", err, want)
	}
	miss := &rpc.TCacheMissed{}
	if err := pastDeadline(ctx, time.Second, miss); err != miss {
		t.Fatalf("a declared exception past the deadline became %v", err)
	}
	live, cancel2 := context.WithTimeout(context.Background(), time.Hour)
	defer cancel2()
	if err := pastDeadline(live, time.Hour, backend); err != backend {
		t.Fatalf("an error before the deadline became %v", err)
	}
}

// budgetRouter owns no key and records what each forwarded lc_get carried.
type budgetRouter struct {
	stall  bool  // Forward waits for ctx to end and fails
	budget int32 // the last forwarded Context.budgetMs
}

func (r *budgetRouter) Owner(string) (string, bool) { return "10.0.0.2:9001", false }
func (r *budgetRouter) RingVersion() uint64         { return 1 }
func (r *budgetRouter) CountReceived()              {}
func (r *budgetRouter) WorkerHeld() bool            { return true }

func (r *budgetRouter) Forward(ctx context.Context, addr string, fn func(rpc.FunServant) error) error {
	if r.stall {
		<-ctx.Done()
		return fmt.Errorf("peer %s: unreachable: %w", addr, ctx.Err())
	}
	return fn(budgetPeer{r: r})
}

// budgetPeer is the owner's client: it records the budget it was sent.
// The other calls are never made.
type budgetPeer struct {
	rpc.FunServant
	r *budgetRouter
}

func (p budgetPeer) LcGet(ctx context.Context, sc *rpc.Context, key string) ([]byte, error) {
	p.r.budget = sc.GetBudgetMs()
	return []byte("v"), nil
}

func newRoutedServant(t *testing.T, r Router) *FunServant {
	t.Helper()
	s := newServant(t)
	s.router = r
	s.callTimeout = 3 * time.Second
	return s
}

func TestForwardCarriesTheRemainingBudget(t *testing.T) {
	r := &budgetRouter{}
	s := newRoutedServant(t, r)
	budget := int32(500)
	if _, err := s.LcGet(context.Background(), &rpc.Context{BudgetMs: &budget}, "k"); err != nil {
		t.Fatal(err)
	}
	if r.budget > 500 || r.budget < 400 {
		t.Fatalf("forwarded budget %d ms, want what is left of 500 ms", r.budget)
	}
	if _, err := s.LcGet(context.Background(), &rpc.Context{}, "k"); err != nil {
		t.Fatal(err)
	}
	if r.budget > 3000 || r.budget < 2900 {
		t.Fatalf("forwarded budget %d ms without a caller's budget, want what is left of call_timeout 3s", r.budget)
	}
}

func TestForwardPastTheDeadlineNamesThePeer(t *testing.T) {
	s := newRoutedServant(t, &budgetRouter{stall: true})
	budget := int32(100)
	start := time.Now()
	_, err := s.LcGet(context.Background(), &rpc.Context{BudgetMs: &budget}, "k")
	if d := time.Since(start); d > time.Second {
		t.Fatalf("answered after %v, want about the 100ms budget", d)
	}
	if !errors.Is(err, context.DeadlineExceeded) ||
		!strings.Contains(fmt.Sprint(err), "deadline 100ms exceeded waiting for peer 10.0.0.2:9001") {
		t.Fatalf("err = %v, want the deadline error naming the peer", err)
	}
}
