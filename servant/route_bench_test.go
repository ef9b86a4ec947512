package servant

import (
	"context"
	"hash/crc32"
	"testing"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/peer/vbucket"
)

// BenchmarkRouted measures the routed calls on the local fast path, with no
// cluster and with a Router that says this node owns every key: the routing
// decision should cost no allocation there. "forwarded" is the path to an
// owner elsewhere, a servant called in-process.
func BenchmarkRouted(b *testing.B) {
	ctx := context.Background()
	calls := []struct {
		name string
		call func(s *FunServant) error
	}{
		{"lc_get", func(s *FunServant) error { _, err := s.LcGet(ctx, rc, "bench-key"); return err }},
		{"lc_set", func(s *FunServant) error { _, err := s.LcSet(ctx, rc, "bench-key", benchValue); return err }},
		{"kvdb_get", func(s *FunServant) error { _, err := s.KvdbGet(ctx, rc, benchKey); return err }},
		{"lock_unlock", func(s *FunServant) error {
			if _, err := s.Lock(ctx, rc, "bench", "bench-lock"); err != nil {
				return err
			}
			return s.Unlock(ctx, rc, "bench", "bench-lock")
		}},
	}
	for _, setup := range benchSetups(b) {
		for _, c := range calls {
			b.Run(setup.name+"/"+c.name, func(b *testing.B) {
				s := setup.s
				if _, err := s.KvdbSet(ctx, rc, benchKey, benchValue); err != nil {
					b.Fatal(err)
				}
				if _, err := s.LcSet(ctx, rc, "bench-key", benchValue); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if err := c.call(s); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

var (
	benchKey   = []byte("bench-key")
	benchValue = []byte("bench-value")
)

type benchSetup struct {
	name string
	s    *FunServant
}

// benchSetups are the three placements BenchmarkRouted measures.
func benchSetups(b *testing.B) []benchSetup {
	one := newServant(b)
	owned := newServantWith(b, &fakeRouter{self: true})
	forwarder := newServantWith(b, &fakeRouter{owner: newServant(b)})
	return []benchSetup{{"one_node", one}, {"owned_here", owned}, {"forwarded", forwarder}}
}

// fakeRouter owns every key (self) or forwards each to owner, in-process.
type fakeRouter struct {
	staticRing
	self  bool
	owner rpc.FunServant
}

// Owner computes the key's vbucket as the map does, for the cost of it.
func (r *fakeRouter) Owner(key string) vbucket.Placement { return r.VBucket(testVBucket(key)) }

func (r *fakeRouter) VBucket(vb int) vbucket.Placement {
	if r.self {
		return vbucket.Placement{VBucket: vb, Owner: "self:1", Self: true, Version: 1}
	}
	return vbucket.Placement{VBucket: vb, Owner: "owner:1", Version: 1}
}
func (r *fakeRouter) Forward(_ context.Context, _ string, fn func(rpc.FunServant) error) error {
	return fn(r.owner)
}

// testVBucket is the vbucket map's placement of key: crc32 IEEE % n.
func testVBucket(key string) int {
	crc := ^uint32(0)
	for i := 0; i < len(key); i++ {
		crc = crc32.IEEETable[byte(crc)^key[i]] ^ crc>>8
	}
	return int(^crc % testVBuckets)
}
