package peer

import (
	"testing"

	"github.com/faed/faed/peer/vbucket"
)

// testViews returns the views of node self over a map giving vbuckets 0-3
// to a and 4-7 to b, with the plan moves.
func testViews(t *testing.T, self string, moves ...PlanMove) *views {
	t.Helper()
	v := newViews(self, 8)
	b := v.mp.Load().m.Edit()
	for vb := range 8 {
		owner := "a"
		if vb >= 4 {
			owner = "b"
		}
		if err := b.Set(vb, vbucket.Entry{Active: owner, State: vbucket.Active}); err != nil {
			t.Fatal(err)
		}
	}
	v.store(&mapView{m: b.Build(), zvers: 0}, newPlanView(7, &planDoc{Moves: moves}, 8))
	return v
}

func TestPlacement(t *testing.T) {
	moves := []PlanMove{
		{VBucket: 0, From: "a", To: "b", Phase: PhaseCopying},
		{VBucket: 1, From: "a", To: "b", Phase: PhaseFenced},
		{VBucket: 2, From: "a", To: "b", Phase: PhasePending},
	}
	tests := []struct {
		name string
		self string
		vb   int
		want vbucket.Placement
	}{
		{"source copying", "a", 0, vbucket.Placement{VBucket: 0, Owner: "a", Self: true, Outgoing: true}},
		{"destination copying", "b", 0, vbucket.Placement{VBucket: 0, Owner: "a", Incoming: true}},
		{"source fenced", "a", 1, vbucket.Placement{VBucket: 1, Owner: "a", Self: true, Fenced: true, Outgoing: true}},
		{"destination fenced", "b", 1, vbucket.Placement{VBucket: 1, Owner: "a", Incoming: true}},
		{"pending is not started", "a", 2, vbucket.Placement{VBucket: 2, Owner: "a", Self: true}},
		{"pending destination", "b", 2, vbucket.Placement{VBucket: 2, Owner: "a"}},
		{"not moving", "b", 5, vbucket.Placement{VBucket: 5, Owner: "b", Self: true}},
		{"bystander", "c", 1, vbucket.Placement{VBucket: 1, Owner: "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := testViews(t, tt.self, moves...)
			tt.want.Version = 1
			if got := v.placement(v.plan.Load(), v.mp.Load().m, tt.vb); got != tt.want {
				t.Errorf("placement = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// Owner is on every routed call's path: it must not allocate.
func TestOwnerDoesNotAllocate(t *testing.T) {
	c, err := New(withTestDefaults(Config{VBuckets: 64}), nil)
	if err != nil {
		t.Fatal(err)
	}
	key := "some key of a routed call"
	if n := testing.AllocsPerRun(100, func() { _ = c.Owner(key) }); n != 0 {
		t.Fatalf("Owner allocates %v times per call", n)
	}
	if p := c.Owner(key); !p.Serves() || p.Version != 1 || c.VBuckets() != 64 {
		t.Fatalf("one-node Owner = %+v over %d vbuckets; want self, serving, version 1, 64", p, c.VBuckets())
	}
}

// Changed wakes on a plan change alone, and OnView runs at once and after
// it.
func TestViewsWakeAndHooks(t *testing.T) {
	c, err := New(withTestDefaults(Config{VBuckets: 8}), nil)
	if err != nil {
		t.Fatal(err)
	}
	runs := 0
	c.OnView(func() { runs++ })
	_, next := c.Changed()
	m := c.Map()
	c.views.store(&mapView{m: m, zvers: -1}, newPlanView(9, &planDoc{}, 8))
	if !isClosed(next) || c.PlanVersion() != 9 || runs != 2 {
		t.Fatalf("after a plan change: woken %v, plan version %d, hook runs %d; want woken, 9, 2",
			isClosed(next), c.PlanVersion(), runs)
	}
	c.views.store(&mapView{m: m, zvers: -1}, newPlanView(9, &planDoc{}, 8))
	if runs != 2 {
		t.Fatalf("the same views again ran the hooks: %d runs", runs)
	}
}

func BenchmarkOwner(b *testing.B) {
	c, err := New(DefaultConfig(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = c.Owner("user:12345:profile")
	}
}
