package peer

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// This file holds the operators' requests to the coordinator (drain a node,
// rebalance now) and the map's state for the admin pages.

// Drain asks the coordinator to move every vbucket off node, which stays a
// member meanwhile, by creating Root+"/drain/<node>". The request stands
// until the node has left the members holding nothing; then the
// coordinator deletes it, so the node gets its share when it comes back.
// Without ZooKeeper it fails: a one-node cluster has nowhere to move
// anything.
func (c *Cluster) Drain(node string) error {
	if node == "" {
		return errors.New("peer: drain: no node named")
	}
	return c.request(c.drainPath() + "/" + node)
}

// Rebalance asks the coordinator to rebalance now, also with
// auto_rebalance off, by creating Root+"/rebalance".
func (c *Cluster) Rebalance() error { return c.request(c.rebalancePath()) }

// request creates the persistent znode p; one that exists already is the
// same request.
func (c *Cluster) request(p string) error {
	if !c.members.zkEnabled() {
		return errors.New("peer: no zookeeper: a one-node cluster does not move vbuckets")
	}
	conn, ok := c.members.session()
	if !ok {
		return fmt.Errorf("peer: %s: %w", p, errNoSession)
	}
	if err := ensurePath(conn, p); err != nil {
		return fmt.Errorf("peer: %s: %w", p, err)
	}
	return nil
}

// Drained reports whether this node is the active owner of no vbucket and
// no move of the plan goes to it: it may leave without losing anything.
// It is false before a map is read, and always without ZooKeeper (the one
// node owns everything).
func (c *Cluster) Drained() bool {
	m := c.views.mp.Load().m
	if m.Version() == 0 {
		return false // no map read yet: we cannot know
	}
	active, _ := m.Counts()
	return active[c.self] == 0 && !c.views.plan.Load().targets(c.self)
}

// MapStats is the vbucket map and the rebalance at one instant (GET
// /cluster/map).
type MapStats struct {
	Version  uint64     `json:"version"`
	VBuckets int        `json:"vbuckets"`
	Owners   []string   `json:"owners"`   // by vbucket; "" unknown
	Replicas [][]string `json:"replicas"` // by vbucket: the nodes holding a replica
	// ReplicaSlots is how many replicas each vbucket should have (the map's
	// count, less when there are fewer other members); Underreplicated
	// counts the vbuckets with fewer, until the coordinator rebuilds them.
	ReplicaSlots    int            `json:"replica_slots"`
	Underreplicated int            `json:"underreplicated"`
	Counts          map[string]int `json:"counts"`         // active vbuckets per node, live members included
	ReplicaCounts   map[string]int `json:"replica_counts"` // replica vbuckets per node
	Balance         int            `json:"balance"`        // max - min of Counts
	Coordinator     string         `json:"coordinator"`
	PlanVersion     uint64         `json:"plan_version"`
	Rebalance       RebalanceStats `json:"rebalance"`
}

// RebalanceStats is the progress of the plan: moves done of the total, keys and
// bytes pushed, the moves in flight.
type RebalanceStats struct {
	MovesTotal  int        `json:"moves_total"`
	MovesDone   int        `json:"moves_done"`
	KeysCopied  uint64     `json:"keys_copied"`
	BytesCopied uint64     `json:"bytes_copied"`
	Current     []PlanMove `json:"current"`
}

// MapStats returns a MapStats (typed any for the admin pages).
func (c *Cluster) MapStats() any { return c.mapStats() }

func (c *Cluster) mapStats() MapStats {
	m, pv := c.views.mp.Load().m, c.views.plan.Load()
	s := MapStats{Version: m.Version(), VBuckets: m.Len(), Owners: make([]string, m.Len()),
		Coordinator: pv.doc.Coordinator, PlanVersion: pv.version}
	s.Replicas = make([][]string, m.Len())
	members := c.members.MemberList().Members
	s.ReplicaSlots = min(m.Replicas(), max(len(members)-1, 0))
	for vb := range s.Owners {
		e := m.Entry(vb)
		s.Owners[vb], s.Replicas[vb] = e.Active, e.Replicas
		if len(e.Replicas) < s.ReplicaSlots {
			s.Underreplicated++
		}
	}
	s.Counts, s.ReplicaCounts = m.Counts()
	for _, n := range c.members.MemberList().Members {
		if _, ok := s.Counts[n]; !ok && m.Version() > 0 {
			s.Counts[n] = 0
		}
	}
	if len(s.Counts) > 0 {
		counts := slices.Collect(maps.Values(s.Counts))
		s.Balance = slices.Max(counts) - slices.Min(counts)
	}
	d := pv.doc
	s.Rebalance = RebalanceStats{MovesTotal: d.MovesTotal, MovesDone: d.MovesDone,
		KeysCopied: d.KeysCopied, BytesCopied: d.BytesCopied, Current: d.current()}
	if co := c.coord.Load(); co != nil {
		s.Rebalance.KeysCopied += co.keys.Load() // not yet written to the plan
		s.Rebalance.BytesCopied += co.bytes.Load()
	}
	return s
}

// stopping marks a drain request made by a node about to stop (DrainToStop).
var stopping = []byte("stopping")

// DrainToStop is Drain of this node by a node about to stop (SIGTERM). The
// request is marked so that the node's next start withdraws it (Join): a
// node restarted at the same address gets its share again, while a drain an
// operator asked for (Drain, faectl drain) stays until withdrawn by hand.
func (c *Cluster) DrainToStop() error {
	if err := c.Drain(c.self); err != nil {
		return err
	}
	conn, ok := c.members.session()
	if !ok {
		return fmt.Errorf("peer: %s: %w", c.drainPath(), errNoSession)
	}
	if _, err := conn.Set(c.drainPath()+"/"+c.self, stopping, -1); err != nil {
		return fmt.Errorf("peer: mark the drain of %s: %w", c.self, err)
	}
	return nil
}

// withdrawStopDrain deletes this node's drain request if its last stop
// made it (DrainToStop); best effort, logged.
func (c *Cluster) withdrawStopDrain() {
	conn, ok := c.members.session()
	if !ok {
		return
	}
	p := c.drainPath() + "/" + c.self
	data, stat, err := conn.Get(p)
	if err != nil || !bytes.Equal(data, stopping) {
		return // none, or an operator's
	}
	if err := conn.Delete(p, stat.Version); err != nil {
		c.members.log.Warn("peer: cannot withdraw the drain request of our last stop", "znode", p, "err", err)
		return
	}
	c.members.log.Info("peer: withdrew the drain request of our last stop", "znode", p)
}
