// Package vbucket owns the vbucket map — which node holds each vbucket as
// active owner or replica, and in which state — its encoding for one
// ZooKeeper znode, and the planner that computes the moves a membership
// change needs (NewPlan). It is pure data and arithmetic: it does not talk
// to ZooKeeper, move data, route calls, or decide when to plan (a departed
// node's grace period and the failover delay are the caller's).
//
// Limits: a map names at most MaxNodes nodes and has at most MaxVBuckets
// vbuckets and MaxReplicas replicas; its encoding stays far below ZooKeeper's
// 1 MiB znode limit (see Map.MarshalBinary). With replicas, the planner
// copies no more data than needed in the simulations of its tests, but may
// change more active owners than the least possible: it serves a vbucket
// whose owner is gone from a replica at once, and balances the two roles
// by passing active roles along chains of holders.
package vbucket

import (
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"strings"
)

const (
	// DefaultVBuckets is the number of vbuckets of a cluster that does not
	// configure one (SPEC §5.3).
	DefaultVBuckets = 1024
	// MaxVBuckets is the largest number of vbuckets a map may have.
	MaxVBuckets = 1 << 16
	// MaxReplicas is the largest number of replica copies per vbucket.
	MaxReplicas = 2
	// MaxNodes is the largest number of distinct nodes a map may name.
	MaxNodes = 1<<16 - 2
)

var (
	// ErrInvalid reports a map or an entry that breaks the map's rules.
	ErrInvalid = errors.New("vbucket: invalid map")
	// ErrStale reports a move whose starting entry is not the map's entry.
	ErrStale = errors.New("vbucket: move does not match the map")
)

// State is what a vbucket's entry says about serving it. The names follow
// Couchbase's vbucket states; replica is not a state here because replicas
// are listed beside the active owner.
type State uint8

const (
	// Dead: the vbucket has no active owner and nobody serves it. A new map
	// starts with every vbucket dead; the planner assigns them.
	Dead State = iota
	// Active: the active owner serves reads and writes.
	Active
	// Pending: a move of the vbucket is in flight. The active owner still
	// serves it, but its writes may be fenced for the hand-off's last step.
	Pending
)

func (s State) String() string {
	switch s {
	case Dead:
		return "dead"
	case Active:
		return "active"
	case Pending:
		return "pending"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Entry is one vbucket's placement as plain values.
type Entry struct {
	// Active is the node that serves the vbucket; "" only when State is Dead.
	Active string
	// Replicas are the other nodes holding a copy, at most the map's replica
	// count, none of them Active and no two the same.
	Replicas []string
	State    State
}

// equalHolders reports whether e and o name the same active owner and the
// same set of replicas (in any order).
func (e Entry) equalHolders(o Entry) bool {
	if e.Active != o.Active || len(e.Replicas) != len(o.Replicas) {
		return false
	}
	for _, r := range e.Replicas {
		if !slices.Contains(o.Replicas, r) {
			return false
		}
	}
	return true
}

// none is the node index meaning "no node"; Map.nodes[none] is "".
const none = 0

// Map is a vbucket map. It is immutable once built and safe for concurrent
// use: a change (Edit, Apply, a Plan) produces a new Map, swapped in whole.
type Map struct {
	version  uint64
	replicas int      // replica slots per vbucket
	nodes    []string // nodes[0] is "", then every node the map names, sorted
	active   []uint16 // per vbucket, index into nodes (none if dead)
	replica  []uint16 // replicas slots per vbucket, index into nodes or none
	state    []State  // per vbucket
}

// New returns a version-0 map of n vbuckets with replicas replica slots
// each, every vbucket dead.
func New(n, replicas int) (*Map, error) {
	if n < 1 || n > MaxVBuckets {
		return nil, fmt.Errorf("%w: %d vbuckets, want 1 to %d", ErrInvalid, n, MaxVBuckets)
	}
	if replicas < 0 || replicas > MaxReplicas {
		return nil, fmt.Errorf("%w: %d replicas, want 0 to %d", ErrInvalid, replicas, MaxReplicas)
	}
	return &Map{
		replicas: replicas,
		nodes:    []string{""},
		active:   make([]uint16, n),
		replica:  make([]uint16, n*replicas),
		state:    make([]State, n),
	}, nil
}

// Version is the map's version: each change adds one.
func (m *Map) Version() uint64 { return m.version }

// Len is the number of vbuckets.
func (m *Map) Len() int { return len(m.active) }

// Replicas is the number of replica slots per vbucket.
func (m *Map) Replicas() int { return m.replicas }

// Nodes returns every node the map names, sorted. The slice is shared:
// callers must not modify it.
func (m *Map) Nodes() []string { return m.nodes[1:] }

// VBucket returns the vbucket of key: crc32 (IEEE) of key modulo Len. It
// does not allocate.
func (m *Map) VBucket(key string) int {
	return int(checksum(key) % uint32(len(m.active)))
}

// Owner returns the vbucket of key and its active owner ("" if the vbucket
// is dead). It does not allocate.
func (m *Map) Owner(key string) (vb int, owner string) {
	vb = m.VBucket(key)
	return vb, m.nodes[m.active[vb]]
}

// Active returns the active owner of vbucket vb, "" if it is dead.
func (m *Map) Active(vb int) string { return m.nodes[m.active[vb]] }

// State returns the state of vbucket vb.
func (m *Map) State(vb int) State { return m.state[vb] }

// Entry returns vbucket vb's entry (Replicas is a new slice).
func (m *Map) Entry(vb int) Entry {
	e := Entry{Active: m.nodes[m.active[vb]], State: m.state[vb]}
	for _, r := range m.replicaSlots(vb) {
		if r != none {
			e.Replicas = append(e.Replicas, m.nodes[r])
		}
	}
	return e
}

// HasReplica reports whether node holds a replica of vbucket vb. It does
// not allocate.
func (m *Map) HasReplica(vb int, node string) bool {
	for _, r := range m.replicaSlots(vb) {
		if r != none && m.nodes[r] == node {
			return true
		}
	}
	return false
}

// replicaSlots returns vbucket vb's replica slots (shared).
func (m *Map) replicaSlots(vb int) []uint16 {
	return m.replica[vb*m.replicas : (vb+1)*m.replicas]
}

// Counts returns how many vbuckets each node holds as active owner and as
// replica; a node holding none is absent.
func (m *Map) Counts() (active, replica map[string]int) {
	active, replica = make(map[string]int), make(map[string]int)
	for _, a := range m.active {
		if a != none {
			active[m.nodes[a]]++
		}
	}
	for _, r := range m.replica {
		if r != none {
			replica[m.nodes[r]]++
		}
	}
	return active, replica
}

// Edit returns a Builder starting from m's entries.
func (m *Map) Edit() *Builder {
	b := &Builder{
		version:  m.version,
		replicas: m.replicas,
		nodes:    slices.Clone(m.nodes),
		index:    make(map[string]uint16, len(m.nodes)),
		active:   slices.Clone(m.active),
		replica:  slices.Clone(m.replica),
		state:    slices.Clone(m.state),
	}
	for i, n := range m.nodes {
		b.index[n] = uint16(i)
	}
	return b
}

// Apply returns the map after moves, with its version one above m's: each
// move's vbucket takes the move's To entry. It fails with ErrStale, and
// changes nothing, if a move's From does not match m's entry.
func (m *Map) Apply(moves []Move) (*Map, error) {
	b := m.Edit()
	for _, mv := range moves {
		if mv.VBucket < 0 || mv.VBucket >= m.Len() {
			return nil, fmt.Errorf("%w: vbucket %d of %d", ErrInvalid, mv.VBucket, m.Len())
		}
		if cur := m.Entry(mv.VBucket); !cur.equalHolders(mv.From) {
			return nil, fmt.Errorf("%w: vbucket %d is %v, move starts from %v", ErrStale, mv.VBucket, cur, mv.From)
		}
		if err := b.Set(mv.VBucket, mv.To); err != nil {
			return nil, err
		}
	}
	return b.Build(), nil
}

// Builder assembles a new Map from an old one. It is not safe for
// concurrent use.
type Builder struct {
	version  uint64
	replicas int
	nodes    []string
	index    map[string]uint16
	active   []uint16
	replica  []uint16
	state    []State
}

// Set makes e vbucket vb's entry. The entry must be dead with no holders,
// or name an active owner; it may not have more replicas than the map has
// slots, repeat a node, or list the active owner as a replica.
func (b *Builder) Set(vb int, e Entry) error {
	if vb < 0 || vb >= len(b.active) {
		return fmt.Errorf("%w: vbucket %d of %d", ErrInvalid, vb, len(b.active))
	}
	if err := checkEntry(e, b.replicas); err != nil {
		return fmt.Errorf("vbucket %d: %w", vb, err)
	}
	b.active[vb] = b.node(e.Active)
	slots := b.replica[vb*b.replicas : (vb+1)*b.replicas]
	clear(slots)
	for i, r := range e.Replicas {
		slots[i] = b.node(r)
	}
	b.state[vb] = e.State
	return nil
}

// checkEntry reports whether e may stand in a map with replicas slots.
func checkEntry(e Entry, replicas int) error {
	switch {
	case e.State > Pending:
		return fmt.Errorf("%w: %v", ErrInvalid, e.State)
	case (e.State == Dead) != (e.Active == ""):
		return fmt.Errorf("%w: state %v with active owner %q", ErrInvalid, e.State, e.Active)
	case len(e.Replicas) > replicas:
		return fmt.Errorf("%w: %d replicas in %d slots", ErrInvalid, len(e.Replicas), replicas)
	case e.Active == "" && len(e.Replicas) > 0:
		return fmt.Errorf("%w: replicas without an active owner", ErrInvalid)
	}
	for i, r := range e.Replicas {
		if r == "" || r == e.Active || slices.Contains(e.Replicas[:i], r) {
			return fmt.Errorf("%w: replica %q twice or empty", ErrInvalid, r)
		}
	}
	return nil
}

// node returns the index of name, adding it if new. Past MaxNodes it
// panics: Build could not encode the map.
func (b *Builder) node(name string) uint16 {
	if i, ok := b.index[name]; ok {
		return i
	}
	if len(b.nodes) > MaxNodes {
		panic("vbucket: more than MaxNodes nodes")
	}
	b.nodes = append(b.nodes, name)
	b.index[name] = uint16(len(b.nodes) - 1)
	return uint16(len(b.nodes) - 1)
}

// Build returns the map, its version one above the map Edit started from.
// Nodes no entry names any more are dropped.
func (b *Builder) Build() *Map {
	return assemble(b.version+1, b.replicas, b.nodes, b.active, b.replica, b.state)
}

// assemble builds a Map from node indices into names (names[0] is ""),
// renumbering to the sorted set of nodes actually used. The slices are
// not kept.
func assemble(version uint64, replicas int, names []string, active, replica []uint16, state []State) *Map {
	used := make([]bool, len(names))
	for _, a := range active {
		used[a] = true
	}
	for _, r := range replica {
		used[r] = true
	}
	order := make([]int, 0, len(names))
	for i := 1; i < len(names); i++ {
		if used[i] {
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(x, y int) int { return strings.Compare(names[x], names[y]) })
	renum := make([]uint16, len(names))
	m := &Map{version: version, replicas: replicas, nodes: make([]string, 1, len(order)+1)}
	for _, i := range order {
		renum[i] = uint16(len(m.nodes))
		m.nodes = append(m.nodes, names[i])
	}
	m.active = remap(active, renum)
	m.replica = remap(replica, renum)
	m.state = slices.Clone(state)
	return m
}

func remap(idx, renum []uint16) []uint16 {
	out := make([]uint16, len(idx))
	for i, x := range idx {
		out[i] = renum[x]
	}
	return out
}

// checksum is crc32.ChecksumIEEE of s without converting s to a []byte,
// which would allocate for keys longer than the compiler's stack buffer.
func checksum(s string) uint32 {
	crc := ^uint32(0)
	for i := 0; i < len(s); i++ {
		crc = crc32.IEEETable[byte(crc)^s[i]] ^ crc>>8
	}
	return ^crc
}
