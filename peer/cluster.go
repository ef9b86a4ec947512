// Package peer knows who owns a key and how to reach it: ZooKeeper
// membership, the vbucket map and the coordinator that changes it, and
// pooled connections to other faed nodes. It knows nothing of servants.
package peer

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
)

// Cluster is this node's view of the cluster: Membership for who is in it,
// the vbucket map and the rebalance plan for who owns a key (Owner), the
// coordinator election, and Peers for forwarding calls to the owners. It is
// safe for concurrent use, and holds no package-level state, so one process
// may run several.
//
// Start-up: New, ClaimWorker (if idgen runs), OnView (the servants' drop
// on sight), start Run in a goroutine, wait for a map (AwaitView(ctx, 1, 0))
// before serving routed calls, start listening, Join. Shutdown, in this
// order: Drain(self) and wait for Drained (bounded), Leave, drain in-flight
// calls, cancel Run's ctx, Close. The member list (MemberList) decides no
// ownership.
type Cluster struct {
	self     string
	members  *Membership
	peers    *Peers
	notices  *notices
	views    *views                      // the vbucket map and plan Owner answers by
	coord    atomic.Pointer[coordinator] // while this node leads, else nil
	wake     chan struct{}               // cap 1: the members changed; the coordinator replans
	received atomic.Uint64
	close    sync.Once
	dropMu   sync.Mutex             // one DropReplica at a time: the first drops for all the waiters
	tokenMu  sync.Mutex             // one read of the peer token at a time
	token    atomic.Pointer[[]byte] // the peer token once read
}

// Stats is a Cluster's state at one instant, for the admin pages.
type Stats struct {
	Self            string         `json:"self"`
	ZooKeeper       string         `json:"zookeeper"` // session state; "" without ZooKeeper
	MembersVersion  uint64         `json:"members_version"`
	Members         []string       `json:"members"`
	Stale           bool           `json:"stale"`                // the member list may be out of date
	StaleReason     string         `json:"stale_reason"`         // why, while Stale
	StaleSince      time.Time      `json:"stale_since,omitzero"` // since when, while Stale
	Registrations   uint64         `json:"registrations"`        // times our member znode was created
	SessionExpiries uint64         `json:"session_expiries"`
	WorkerID        int            `json:"worker_id"` // -1 if none claimed
	WorkerHeld      bool           `json:"worker_held"`
	Received        uint64         `json:"received"` // sticky calls served for peers
	Peers           []PeerStats    `json:"peers"`
	Notices         NoticeStats    `json:"notices"`
	Map             MapStats       `json:"map"`
	Rebalance       RebalanceStats `json:"rebalance"`
}

// New returns a Cluster for cfg that has not contacted anyone yet. It fails
// only if cfg is invalid. If log is nil, slog.Default() is used.
func New(cfg Config, log *slog.Logger) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	full := cfg.withDefaults()
	c := &Cluster{self: cfg.self(), peers: NewPeers(cfg, log),
		views: newViews(cfg.self(), full.VBuckets), wake: make(chan struct{}, 1)}
	m, err := newMembership(cfg, log, c.membersSwapped)
	if err != nil {
		return nil, err
	}
	c.members, c.notices = m, newNotices(m, log)
	m.onLost = func() { c.views.disconnected(m.heard.deadline(full.SessionTimeout)) }
	if !m.zkEnabled() {
		c.views.oneNode()
	}
	return c, nil
}

// ClaimWorker claims idgen worker id; see Membership.ClaimWorker.
func (c *Cluster) ClaimWorker(id int) error { return c.members.ClaimWorker(id) }

// WorkerHeld reports whether the worker id is held now; see
// Membership.WorkerHeld.
func (c *Cluster) WorkerHeld() bool { return c.members.WorkerHeld() }

// Join registers this node as a member; see Membership.Join.
// Then a drain request left by this node's own last stop is withdrawn.
func (c *Cluster) Join(ctx context.Context) error {
	if err := c.members.Join(ctx); err != nil {
		return err
	}
	c.withdrawStopDrain()
	return nil
}

// Run keeps the membership, the vbucket map and plan views and the peer
// connections healthy until ctx is done, and takes part in the coordinator
// election (coordinating while it leads). It blocks; call it once. Without
// ZooKeeper there is no coordinator and the map never changes.
func (c *Cluster) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { c.peers.Run(ctx) })
	wg.Go(func() { c.notices.run(ctx) })
	if c.members.zkEnabled() {
		wg.Go(func() { c.watchViews(ctx) })
		wg.Go(func() { c.runCoordinator(ctx) })
	}
	c.members.Run(ctx)
	wg.Wait()
}

// Leave takes this node out of the member list; see Membership.Leave.
func (c *Cluster) Leave() { c.members.Leave() }

// Close closes the peer connections and ends the ZooKeeper session. It is
// idempotent.
func (c *Cluster) Close() {
	c.close.Do(func() {
		c.peers.Close()
		c.members.Close()
	})
}

// MemberList returns the current member list; never nil.
func (c *Cluster) MemberList() *MemberList { return c.members.MemberList() }

// Forward runs fn against the node at addr (an Owner), as Peers.Do does.
// An addr that is not a live member fails fast with an error wrapping
// ErrUnreachable. The caller marks the request sticky.
func (c *Cluster) Forward(ctx context.Context, addr string, fn func(rpc.FunServant) error) error {
	if l := c.members.MemberList(); !l.Has(addr) {
		return fmt.Errorf("peer %s: %w: not a live member (member list version %d)", addr, ErrUnreachable, l.Version)
	}
	return c.peers.Do(ctx, addr, fn)
}

// CountReceived counts one sticky call served on behalf of a peer.
func (c *Cluster) CountReceived() { c.received.Add(1) }

// Stats returns the cluster's state as a Stats value (typed any so the admin
// pages can take it through a small interface): member list version and members,
// the stale flag with its reason and start, registrations and session
// expiries, the worker id, calls received from peers, per peer the calls
// forwarded, their errors, and the pool and breaker state, the notices
// published and received, and the map and rebalance progress (MapStats).
func (c *Cluster) Stats() any {
	s := c.members.Stats()
	s.Received = c.received.Load()
	s.Peers = c.peers.Stats()
	s.Notices = c.notices.stats()
	s.Map = c.mapStats()
	s.Map.Owners, s.Map.Replicas = nil, nil // 1024 entries each: /cluster/map has them
	s.Rebalance = s.Map.Rebalance
	return s
}

// Stats returns the membership part of Stats: Received and Peers are zero.
func (m *Membership) Stats() Stats {
	l := m.MemberList()
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Stats{Self: m.self, MembersVersion: l.Version, Members: slices.Clone(l.Members),
		Stale: m.stale.on, StaleReason: m.stale.reason, StaleSince: m.stale.since,
		Registrations: m.regs, SessionExpiries: m.expired, WorkerID: m.worker, WorkerHeld: m.held}
	if m.zkEnabled() {
		s.ZooKeeper = strings.TrimPrefix(m.state.String(), "State")
	}
	return s
}

// MembersVersion is the version of the member list in use; it changes
// whenever the member list does.
func (c *Cluster) MembersVersion() uint64 { return c.MemberList().Version }
