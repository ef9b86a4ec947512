package memcache

import (
	"fmt"
	"slices"
	"testing"
)

// Expected values computed with PHP 8.2's crc32() and the formula of the PHP
// memcache extension (php -r '$h = (crc32($k) >> 16) & 0x7fff; ...').
func TestStandardIndex(t *testing.T) {
	tests := []struct {
		name string
		key  string
		n    int
		want int
	}{
		{name: "one server", key: "foo", n: 1, want: 0},
		{name: "foo of 2", key: "foo", n: 2, want: 1},       // crc 2356372769, h 3187
		{name: "foo of 3", key: "foo", n: 3, want: 1},       //
		{name: "foo of 5", key: "foo", n: 5, want: 2},       //
		{name: "a of 3", key: "a", n: 3, want: 2},           // crc 3904355907, h 26807
		{name: "user:1 of 3", key: "user:1", n: 3, want: 0}, // crc 2074460802, h 31653
		{name: "user:1 of 5", key: "user:1", n: 5, want: 3},
		{name: "session:42 of 2", key: "session:42", n: 2, want: 0}, // h 8766
		{name: "faed of 5", key: "faed", n: 5, want: 4},             // h 9289
		// crc32("k25") = 28033, so h = 0, which the extension turns into 1:
		// server 1, where a bare h % n would say 0.
		{name: "zero hash of 3", key: "k25", n: 3, want: 1},
		{name: "zero hash of 2", key: "k59206", n: 2, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := standardIndex(tt.key, tt.n); got != tt.want {
				t.Errorf("standardIndex(%q, %d) = %d, want %d", tt.key, tt.n, got, tt.want)
			}
		})
	}
}

func TestCRC32MatchesPHP(t *testing.T) {
	tests := []struct {
		name string
		key  string
		want uint32
	}{
		{name: "empty", key: "", want: 0},
		{name: "foo", key: "foo", want: 2356372769},
		{name: "a", key: "a", want: 3904355907},
		{name: "user:1", key: "user:1", want: 2074460802},
		{name: "key-0", key: "key-0", want: 2045480940},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := crc32Key(tt.key); got != tt.want {
				t.Errorf("crc32Key(%q) = %d, want %d", tt.key, got, tt.want)
			}
		})
	}
}

func TestPickReplicas(t *testing.T) {
	servers := []string{"10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211", "10.0.0.4:11211"}
	tests := []struct {
		name     string
		sel      string
		replicas int
	}{
		{name: "standard 1", sel: SelectStandard, replicas: 1},
		{name: "standard 3", sel: SelectStandard, replicas: 3},
		{name: "consistent 2", sel: SelectConsistent, replicas: 2},
		{name: "consistent all", sel: SelectConsistent, replicas: 4},
		{name: "php-consistent 2", sel: SelectPHPConsistent, replicas: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pc := PoolConfig{Servers: servers, Selection: tt.sel, Replicas: tt.replicas}.withDefaults()
			one := newSelector(PoolConfig{Servers: servers, Selection: tt.sel}.withDefaults())
			sel := newSelector(pc)
			for i := range 2000 {
				key := keyN("k", i)
				got := sel.pick(key)
				checkReplicaSet(t, key, got, tt.replicas, one.pick(key)[0])
				if tt.sel == SelectStandard {
					checkSuccessors(t, key, got, len(servers))
				}
			}
		})
	}
}

func checkReplicaSet(t *testing.T, key string, got []int, n, primary int) {
	t.Helper()
	if len(got) != n || got[0] != primary {
		t.Fatalf("pick(%q) = %v, want %d servers starting with %d", key, got, n, primary)
	}
	for i, s := range got {
		if slices.Contains(got[:i], s) {
			t.Fatalf("pick(%q) = %v: server %d twice", key, got, s)
		}
	}
}

func checkSuccessors(t *testing.T, key string, got []int, n int) {
	t.Helper()
	for k, s := range got {
		if s != (got[0]+k)%n {
			t.Fatalf("pick(%q) = %v: want each replica the next index mod %d", key, got, n)
		}
	}
}

func TestRingSearch(t *testing.T) {
	r := &ring{n: 3, points: []ringPoint{{100, 0}, {200, 1}, {200, 2}, {300, 0}}}
	tests := []struct {
		name string
		h    uint32
		want int
	}{
		{name: "below first", h: 5, want: 0},
		{name: "exact", h: 100, want: 0},
		{name: "between", h: 101, want: 1},
		{name: "first of a tie", h: 200, want: 1},
		{name: "last", h: 300, want: 3},
		{name: "past last wraps", h: 301, want: 0},
		{name: "top wraps", h: 0xffffffff, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.search(tt.h); got != tt.want {
				t.Errorf("search(%d) = %d, want %d", tt.h, got, tt.want)
			}
		})
	}
	if got := r.walk(3, 3); !slices.Equal(got, []int{0, 1, 2}) {
		t.Errorf("walk(3, 3) = %v, want [0 1 2] (wrapping, skipping duplicates)", got)
	}
}

func ringServers(n int) []string {
	var s []string
	for i := range n {
		s = append(s, fmt.Sprintf("10.0.%d.%d:11211", i/250, i%250+1))
	}
	return s
}

func TestConsistentDistribution(t *testing.T) {
	const keys = 100000
	for _, n := range []int{2, 4, 8} {
		t.Run(fmt.Sprintf("%d servers", n), func(t *testing.T) {
			c := newConsistent(ringServers(n), DefaultVirtualNodes, 1)
			counts := make([]int, n)
			for i := range keys {
				counts[c.pick(keyN("user", i))[0]]++
			}
			for s, got := range counts {
				share := float64(got) * float64(n) / keys
				if share < 0.7 || share > 1.3 {
					t.Errorf("server %d holds %d of %d keys: %.2f of a fair share", s, got, keys, share)
				}
			}
		})
	}
}

func TestConsistentStability(t *testing.T) {
	const keys = 100000
	for _, sel := range []string{SelectConsistent, SelectPHPConsistent} {
		for _, n := range []int{3, 4, 9} {
			t.Run(fmt.Sprintf("%s %d to %d servers", sel, n, n+1), func(t *testing.T) {
				servers := ringServers(n + 1)
				before := newSelector(PoolConfig{Servers: servers[:n], Selection: sel}.withDefaults())
				after := newSelector(PoolConfig{Servers: servers, Selection: sel}.withDefaults())
				moved := countMoves(t, before, after, keys, n)
				// php-consistent's crc32 ring is lumpier: allow it more spread.
				frac, want := float64(moved)/keys, 1/float64(n+1)
				if frac < want*0.5 || frac > want*1.5 {
					t.Errorf("moved %.3f of the keys, want about %.3f", frac, want)
				}
			})
		}
	}
}

// countMoves counts the keys whose primary differs between before and after,
// and fails if one moved anywhere but to the new server.
func countMoves(t *testing.T, before, after selector, keys, newServer int) int {
	t.Helper()
	moved := 0
	for i := range keys {
		key := keyN("user", i)
		from, to := before.pick(key)[0], after.pick(key)[0]
		if from == to {
			continue
		}
		moved++
		if to != newServer {
			t.Fatalf("key %q moved from %d to %d, not to the new server %d", key, from, to, newServer)
		}
	}
	return moved
}

func TestStandardRemapsMost(t *testing.T) {
	// The contrast that makes consistent worth having: standard moves most
	// keys when a server is added.
	moved := 0
	for i := range 10000 {
		key := keyN("user", i)
		if standardIndex(key, 4) != standardIndex(key, 5) {
			moved++
		}
	}
	if moved < 7000 {
		t.Errorf("standard moved %d of 10000 keys from 4 to 5 servers, expected about 80%%", moved)
	}
}
