package vbucket

import (
	"strconv"
	"testing"
)

func BenchmarkVBucket(b *testing.B) {
	m, _ := New(DefaultVBuckets, 1)
	m = NewPlan(m, nodeNames(0, 200)).Target
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "kvdb:user:session:" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, owner := m.Owner(keys[i%len(keys)]); owner == "" {
			b.Fatal("no owner")
		}
		i++
	}
}

// BenchmarkPlan plans 16384 vbuckets over 200 nodes after one node joins,
// after one leaves, and from an empty map.
func BenchmarkPlan(b *testing.B) {
	for _, r := range []int{0, 1} {
		empty, _ := New(16384, r)
		at199 := NewPlan(empty, nodeNames(0, 199)).Target
		at200 := NewPlan(empty, nodeNames(0, 200)).Target
		cases := []struct {
			name    string
			m       *Map
			members []string
		}{
			{"join", at199, nodeNames(0, 200)},
			{"leave", at200, nodeNames(1, 200)},
			{"empty", empty, nodeNames(0, 200)},
		}
		for _, c := range cases {
			b.Run(c.name+"/replicas="+strconv.Itoa(r), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					NewPlan(c.m, c.members)
				}
			})
		}
	}
}
