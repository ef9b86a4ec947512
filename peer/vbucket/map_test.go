package vbucket

import (
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

func TestVBucketIsCRC32(t *testing.T) {
	m, _ := New(DefaultVBuckets, 1)
	for _, key := range []string{"", "a", "user:42", string(make([]byte, 300))} {
		want := int(crc32.ChecksumIEEE([]byte(key)) % DefaultVBuckets)
		if got := m.VBucket(key); got != want {
			t.Errorf("VBucket(%q) = %d, want %d", key, got, want)
		}
	}
}

func TestSetRejects(t *testing.T) {
	m, _ := New(8, 1)
	tests := []struct {
		name string
		e    Entry
	}{
		{"active state without owner", Entry{State: Active}},
		{"dead with owner", Entry{Active: "a", State: Dead}},
		{"replica is active", Entry{Active: "a", Replicas: []string{"a"}, State: Active}},
		{"too many replicas", Entry{Active: "a", Replicas: []string{"b", "c"}, State: Active}},
		{"unknown state", Entry{Active: "a", State: 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := m.Edit().Set(0, tt.e); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Set(%v) = %v, want ErrInvalid", tt.e, err)
			}
		})
	}
}

func TestApplyStale(t *testing.T) {
	m, _ := New(16, 1)
	p := NewPlan(m, []string{"a", "b"})
	next, err := m.Apply(p.Moves)
	if err != nil || next.Version() != 1 {
		t.Fatalf("Apply = %v, %v", next, err)
	}
	if _, err := next.Apply(p.Moves); !errors.Is(err, ErrStale) {
		t.Fatalf("applying a plan twice = %v, want ErrStale", err)
	}
	if m.Active(0) != "" {
		t.Fatal("Apply changed the map it started from")
	}
}

func TestPlanIgnoresMemberOrder(t *testing.T) {
	m, _ := New(1024, 1)
	m = NewPlan(m, nodeNames(0, 40)).Target
	members := append(nodeNames(3, 40), nodeNames(50, 55)...)
	want := NewPlan(m, members)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5 {
		shuffled := append(slices.Clone(members), members[:3]...) // duplicates too
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if got := NewPlan(m, shuffled); !reflect.DeepEqual(got.Moves, want.Moves) {
			t.Fatal("member order changed the plan")
		}
	}
}

func TestPlanStableWhenBalanced(t *testing.T) {
	m, _ := New(1024, 2)
	m = NewPlan(m, nodeNames(0, 7)).Target
	if p := NewPlan(m, nodeNames(0, 7)); len(p.Moves) != 0 {
		t.Fatalf("replanning a balanced map moves %d vbuckets", len(p.Moves))
	}
}

func TestFailoverFirst(t *testing.T) {
	m, _ := New(256, 1)
	m = NewPlan(m, nodeNames(0, 8)).Target
	p := NewPlan(m, nodeNames(1, 8))
	gone := nodeName(0)
	lost := 0
	for v := range m.Len() {
		if m.Active(v) == gone {
			lost++
		}
	}
	if len(p.Failovers) != lost {
		t.Fatalf("%d failovers, want %d", len(p.Failovers), lost)
	}
	for _, mv := range p.Failovers {
		if mv.Kind != Failover || mv.From.Active != gone || !slices.Contains(mv.From.Replicas, mv.To.Active) {
			t.Fatalf("failover %v %v → %v, want %s's vbucket to a replica", mv.Kind, mv.From, mv.To, gone)
		}
	}
	for _, mv := range p.Moves {
		if mv.From.Active == gone {
			t.Fatalf("move %v starts from the departed node", mv)
		}
	}
}

// TestSmallClusters covers tight cases (replicas = members−1, odd counts)
// over random sequences of member sets.
func TestSmallClusters(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 2, 3, 5, 7, 16, 33} {
		for r := range MaxReplicas + 1 {
			m, _ := New(n, r)
			for range 40 {
				members := nodeNames(0, 8)
				rng.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
				members = members[:1+rng.IntN(6)]
				p := NewPlan(m, members)
				checkBalanced(t, p.Target, members)
				m = p.Target
			}
		}
	}
}
