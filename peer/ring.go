package peer

import (
	"cmp"
	"slices"
	"strconv"
)

// DefaultVirtualNodes is how many points each member gets on a ring when
// NewRing is given fewer than one. With 160 points each of ten members
// typically carries within 20% of its fair share.
const DefaultVirtualNodes = 160

// Ring maps keys to members by consistent hashing with virtual nodes. A Ring
// is immutable once built: it is safe for concurrent use, and a new member
// list means a new Ring, swapped in whole.
//
// Placement depends only on the set of members, never on the order they were
// listed in, so every node that sees the same members routes every key the
// same way. Adding an N+1th member moves about 1/(N+1) of the keys, all of
// them to the new member.
//
// The hash is 64-bit FNV-1a followed by the MurmurHash3 64-bit finaliser:
// FNV-1a alone mixes short, similar strings poorly into the high bits that
// decide ring position; the finaliser spreads every input bit over all 64.
type Ring struct {
	// Version identifies the member list the ring was built from. Rings built
	// from ZooKeeper carry the child version of the members znode, the same on
	// every node that read the same list.
	Version uint64
	// Members are the member addresses, sorted and without duplicates. The
	// slice is shared: callers must not modify it.
	Members []string

	points []point // sorted by hash, then by owner
}

// point is one virtual node: a position on the ring and the index of its
// member in Members.
type point struct {
	hash  uint64
	owner int32
}

// NewRing builds a ring over members (copied, sorted, deduplicated, empty
// strings dropped) with vnodes points per member (DefaultVirtualNodes if
// vnodes < 1).
func NewRing(members []string, vnodes int, version uint64) *Ring {
	if vnodes < 1 {
		vnodes = DefaultVirtualNodes
	}
	m := slices.Clone(members)
	slices.Sort(m)
	m = slices.Compact(m)
	m = slices.DeleteFunc(m, func(s string) bool { return s == "" })
	r := &Ring{Version: version, Members: slices.Clip(m)}
	r.points = placePoints(r.Members, vnodes)
	return r
}

// placePoints returns the sorted virtual nodes of members. Point i of member
// m sits at hash(m + "#" + i).
func placePoints(members []string, vnodes int) []point {
	pts := make([]point, 0, len(members)*vnodes)
	buf := make([]byte, 0, 64)
	for i, m := range members {
		for v := range vnodes {
			buf = append(append(append(buf[:0], m...), '#'), strconv.Itoa(v)...)
			pts = append(pts, point{hash: hashString(string(buf)), owner: int32(i)})
		}
	}
	// Ties (a 64-bit collision) go to the lower member, the same everywhere.
	slices.SortFunc(pts, func(a, b point) int {
		return cmp.Or(cmp.Compare(a.hash, b.hash), cmp.Compare(a.owner, b.owner))
	})
	return pts
}

// Owner returns the member that owns key, or "" if the ring has no members.
// It does not allocate.
func (r *Ring) Owner(key string) string {
	switch len(r.Members) {
	case 0:
		return ""
	case 1:
		return r.Members[0]
	}
	return r.Members[r.points[r.search(hashString(key))].owner]
}

// search returns the index of the first point at or after h, wrapping to 0
// past the last.
func (r *Ring) search(h uint64) int {
	lo, hi := 0, len(r.points)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if r.points[mid].hash < h {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == len(r.points) {
		return 0
	}
	return lo
}

// Has reports whether addr is a member.
func (r *Ring) Has(addr string) bool {
	_, ok := slices.BinarySearch(r.Members, addr)
	return ok
}

const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

// hashString is 64-bit FNV-1a of s, finalised by fmix64.
func hashString(s string) uint64 {
	h := uint64(fnvOffset64)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime64
	}
	return fmix64(h)
}

// fmix64 is MurmurHash3's 64-bit finaliser.
func fmix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
