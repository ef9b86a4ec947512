package servant

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/peer/vbucket"
)

func TestDeadlineIsTheLowestBound(t *testing.T) {
	ms := func(v int32) *int32 { return &v }
	tests := []struct {
		name   string
		limit  time.Duration
		budget *int32
		want   time.Duration
		// byBudget: the caller's budget binds, so ctx ends cancelled
		// (nobody blamed), not past a deadline.
		byBudget bool
	}{
		{"call timeout", 0, nil, 3 * time.Second, false},
		{"servant bound lower", time.Second, nil, time.Second, false},
		{"servant bound higher", 5 * time.Second, nil, 3 * time.Second, false},
		{"budget lowest", time.Second, ms(200), 200 * time.Millisecond, true},
		{"budget higher", 0, ms(9000), 3 * time.Second, false},
		{"budget spent", 0, ms(0), 0, true},
		{"budget negative", 0, ms(-5), 0, true},
	}
	s := &FunServant{}
	s.setCallTimeout(3 * time.Second)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			ctx, dl, cancel := s.deadline(context.Background(), &rpc.Context{BudgetMs: tt.budget}, tt.limit)
			defer cancel()
			if dl.d != tt.want {
				t.Fatalf("deadline %v, want %v", dl.d, tt.want)
			}
			if left := dl.at.Sub(start); left > tt.want+time.Millisecond || left < tt.want-time.Second/10 {
				t.Fatalf("deadline at %v from now, want %v", left, tt.want)
			}
			if !tt.byBudget {
				if _, ok := ctx.Deadline(); !ok {
					t.Fatal("ctx carries no deadline")
				}
				return
			}
			<-ctx.Done()
			if took := time.Since(start); took < tt.want || ctx.Err() != context.Canceled {
				t.Fatalf("ctx ended after %v with %v, want cancelled after %v", took, ctx.Err(), tt.want)
			}
		})
	}
}

func TestPastDeadlineWordsTheError(t *testing.T) {
	passed := callDeadline{at: time.Now().Add(-time.Millisecond), d: time.Second}
	backend := &waitingFor{what: "zookeeper 127.0.0.1:2181", err: errors.New("no answer")}
	err := pastDeadline(passed, backend)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, backend) {
		t.Fatalf("%v: want it to wrap context.DeadlineExceeded and the backend's error", err)
	}
	if want := "deadline 1s exceeded waiting for zookeeper 127.0.0.1:2181"; err.Error() != want {
		t.Fatalf("message %q, want %q", err, want)
	}
	plain := fmt.Errorf("pool %q on 127.0.0.1:3306: %w", "main", context.Canceled)
	if got, want := pastDeadline(passed, plain).Error(), `deadline 1s exceeded waiting for pool "main" on 127.0.0.1:3306`; got != want {
		t.Fatalf("message %q, want %q", got, want)
	}
	miss := &rpc.TCacheMissed{}
	if err := pastDeadline(passed, miss); err != miss {
		t.Fatalf("a declared exception past the deadline became %v", err)
	}
	ahead := callDeadline{at: time.Now().Add(time.Hour), d: time.Hour}
	if err := pastDeadline(ahead, backend); err != backend {
		t.Fatalf("an error before the deadline became %v", err)
	}
}

// budgetRouter owns no key and records what each forwarded lc_get carried.
type budgetRouter struct {
	staticRing
	stall  bool  // Forward waits for ctx to end and fails
	budget int32 // the last forwarded Context.budgetMs
}

func (r *budgetRouter) Owner(string) vbucket.Placement { return elsewhere("10.0.0.2:9001") }
func (r *budgetRouter) VBucket(int) vbucket.Placement  { return elsewhere("10.0.0.2:9001") }

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
	s := newServantWith(t, r)
	s.setCallTimeout(3 * time.Second)
	return s
}

func TestForwardCarriesTheRemainingBudget(t *testing.T) {
	r := &budgetRouter{}
	s := newRoutedServant(t, r)
	budget := int32(500)
	if _, err := s.LcGet(context.Background(), &rpc.Context{BudgetMs: &budget}, "k"); err != nil {
		t.Fatal(err)
	}
	if r.budget > 450 || r.budget < 400 {
		t.Fatalf("forwarded budget %d ms, want what is left of 500 ms less a tenth", r.budget)
	}
	if _, err := s.LcGet(context.Background(), &rpc.Context{}, "k"); err != nil {
		t.Fatal(err)
	}
	if r.budget > 2700 || r.budget < 2600 {
		t.Fatalf("forwarded budget %d ms without a caller's budget, want what is left of call_timeout 3s less a tenth", r.budget)
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
