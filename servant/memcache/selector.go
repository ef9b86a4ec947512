package memcache

import (
	"cmp"
	"hash/crc32"
	"slices"
	"strconv"
	"unsafe"
)

// selector maps a key to the servers that hold it. A selector is built once
// and never changes, so it is safe for concurrent use.
type selector interface {
	// pick returns the indexes, into the configured server list, of the
	// servers that hold key: the primary first, then its replicas, all
	// distinct. The slice is shared; callers must not modify it.
	pick(key string) []int
}

// newSelector builds the selector of a pool whose config has its defaults.
func newSelector(pc PoolConfig) selector {
	switch pc.Selection {
	case SelectConsistent:
		return newConsistent(pc.Servers, pc.VirtualNodes, pc.Replicas)
	case SelectPHPConsistent:
		return newPHPConsistent(pc.Servers, pc.VirtualNodes, pc.Replicas)
	}
	return newStandard(len(pc.Servers), pc.Replicas)
}

// crc32Key is the IEEE CRC-32 of key (PHP's crc32()), without copying it.
func crc32Key(key string) uint32 {
	// crc32 only reads the bytes, so aliasing the string is safe.
	return crc32.ChecksumIEEE(unsafe.Slice(unsafe.StringData(key), len(key)))
}

// standard is the PHP memcache extension's "standard" strategy; see
// standardIndex. A key's replicas are the servers after its primary in the
// configured order, wrapping around.
type standard struct {
	sets [][]int // sets[i] is server i followed by its successors
}

func newStandard(n, replicas int) *standard {
	s := &standard{sets: make([][]int, n)}
	for i := range s.sets {
		for k := range replicas {
			s.sets[i] = append(s.sets[i], (i+k)%n)
		}
	}
	return s
}

func (s *standard) pick(key string) []int { return s.sets[standardIndex(key, len(s.sets))] }

// standardIndex is the server index the PHP memcache extension's standard
// strategy gives key among n servers of weight 1 (its default), as in its
// mmc_standard_find_server (memcache 2.2 to 4.0, hash_function crc32):
//
//	h := (crc32(key) >> 16) & 0x7fff
//	if h == 0 { h = 1 }
//	return h % n
//
// The zero-to-one step is the extension's too: it moves the rare key whose h
// is 0 (1 in 32768) from server 0 to server 1.
func standardIndex(key string, n int) int {
	if n <= 1 {
		return 0
	}
	h := (crc32Key(key) >> 16) & 0x7fff
	if h == 0 {
		h = 1
	}
	return int(h) % n
}

// consistent is a consistent-hash ring whose points and keys are hashed with
// ringHash, which spreads them evenly (within about 20% of a fair share with
// 160 points per server). A key belongs to the first point at or after its
// hash; its replicas are the next distinct servers round the ring.
type consistent struct {
	r    *ring
	sets [][]int // sets[i] is the servers met going round from point i
}

func newConsistent(servers []string, vnodes, replicas int) *consistent {
	c := &consistent{r: newRing(servers, vnodes, ringHash)}
	c.sets = make([][]int, len(c.r.points))
	for i := range c.sets {
		c.sets[i] = c.r.walk(i, replicas)
	}
	return c
}

func (c *consistent) pick(key string) []int { return c.sets[c.r.search(ringHash(key))] }

// ringHash is crc32 followed by murmur3's 32-bit finaliser, which spreads
// crc32's near-linear output for similar inputs ("host:port-1", "-2", ...)
// over the whole circle.
func ringHash(s string) uint32 {
	h := crc32Key(s)
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// phpBuckets is how many equal arcs the PHP memcache extension cuts its ring
// into; a key's arc is crc32(key) % phpBuckets.
const phpBuckets = 1024

// phpConsistent is the PHP memcache extension's "consistent" strategy (its
// default since 3.0): a ring of crc32("host:port-i") points, looked up once
// per arc at build time as its mmc_consistent_populate_buckets does. With 160
// virtual nodes it places keys as the extension does with servers of weight
// 1. Plain crc32 spreads the points poorly: a server may get half or twice
// its fair share.
type phpConsistent struct {
	sets [phpBuckets][]int // the servers of each arc
}

func newPHPConsistent(servers []string, vnodes, replicas int) *phpConsistent {
	r := newRing(servers, vnodes, crc32Key)
	const step = 0xffffffff / phpBuckets
	c := new(phpConsistent)
	for b := range c.sets {
		c.sets[b] = r.walk(r.search(uint32(b)*step), replicas)
	}
	return c
}

func (c *phpConsistent) pick(key string) []int { return c.sets[crc32Key(key)%phpBuckets] }

// ring is a consistent-hash ring: each server has vnodes points on a circle
// of uint32, and a position belongs to the first point at or after it,
// wrapping past the top. It is immutable once built.
type ring struct {
	points []ringPoint // sorted by hash, then by server
	n      int         // servers
}

type ringPoint struct {
	hash   uint32
	server int // index into the configured server list
}

// newRing places vnodes points per server, the point i of server s at
// hash(s + "-" + i). Adding a server moves only the keys its points take
// over: about 1/(n+1) of them.
func newRing(servers []string, vnodes int, hash func(string) uint32) *ring {
	r := &ring{points: make([]ringPoint, 0, len(servers)*vnodes), n: len(servers)}
	for s, addr := range servers {
		for i := range vnodes {
			r.points = append(r.points, ringPoint{hash(addr + "-" + strconv.Itoa(i)), s})
		}
	}
	slices.SortFunc(r.points, func(a, b ringPoint) int {
		return cmp.Or(cmp.Compare(a.hash, b.hash), cmp.Compare(a.server, b.server))
	})
	return r
}

// search returns the index of the first point at or after h, by binary
// search, wrapping to 0 past the last point.
func (r *ring) search(h uint32) int {
	i, _ := slices.BinarySearchFunc(r.points, h, func(p ringPoint, h uint32) int {
		return cmp.Compare(p.hash, h)
	})
	if i == len(r.points) {
		return 0
	}
	return i
}

// walk returns the first n distinct servers met going round from point i.
func (r *ring) walk(i, n int) []int {
	n = min(n, r.n)
	out := make([]int, 0, n)
	for k := 0; len(out) < n; k++ {
		s := r.points[(i+k)%len(r.points)].server
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
