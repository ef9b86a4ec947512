package memcache

import (
	"testing"

	"faed/scripts/testserver"
)

func BenchmarkPick(b *testing.B) {
	servers := ringServers(10)
	for _, sel := range []string{SelectStandard, SelectConsistent, SelectPHPConsistent} {
		b.Run(sel, func(b *testing.B) {
			s := newSelector(PoolConfig{Servers: servers, Selection: sel, Replicas: 2}.withDefaults())
			keys := make([]string, 1024)
			for i := range keys {
				keys[i] = keyN("user:session", i)
			}
			b.ReportAllocs()
			n := 0
			for i := 0; b.Loop(); i++ {
				n += s.pick(keys[i%len(keys)])[0]
			}
			_ = n
		})
	}
}

// BenchmarkGet measures a 100-byte hit through Client against a real
// memcached, beside the same Get through gomemcache as a yardstick.
func BenchmarkGet(b *testing.B) {
	m := testserver.StartMemcached(b)
	c := newTestClient(b, testPoolConfig(m.Addr))
	value := make([]byte, 100)
	if err := c.Set("p", "bench", value, 0, 0); err != nil {
		b.Fatal(err)
	}
	b.Run("client", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := c.Get("p", "bench"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("client-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, _, err := c.Get("p", "bench"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("gomemcache", func(b *testing.B) {
		r := raw(m.Addr)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.Get("bench"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkSet(b *testing.B) {
	m := testserver.StartMemcached(b)
	c := newTestClient(b, testPoolConfig(m.Addr))
	value := make([]byte, 100)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Set("p", "bench", value, 0, 0); err != nil {
			b.Fatal(err)
		}
	}
}
