package peer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/faed/faed/peer/vbucket"

	"github.com/go-zookeeper/zk"
)

// This file is what the active owner of a vbucket needs of the cluster to
// replicate its writes (SPEC §5.4): the replicas its map lists, and taking
// out of the map a replica that stopped answering, so that a write is
// acknowledged only once every replica the map lists has it, and the
// replica a failover promotes has every acknowledged write.

// ReplicaTimeout is [cluster] replica_timeout: the bound of one
// vb_replicate call.
func (c *Cluster) ReplicaTimeout() time.Duration { return c.members.cfg.ReplicaTimeout }

// dropTries bounds DropReplica's version-checked writes lost to other
// writers of the map.
const dropTries = 5

// Replicas returns the version of the map in use and the replicas it lists
// for vbucket vb (a new slice; none for a vbucket out of range).
func (c *Cluster) Replicas(vb int) (mapVersion uint64, nodes []string) {
	m := c.views.mp.Load().m
	if vb < 0 || vb >= m.Len() {
		return m.Version(), nil
	}
	return m.Version(), m.Entry(vb).Replicas
}

// DropReplica takes node out of the replicas of vbucket vb in the map in
// ZooKeeper, and out of those of every other vbucket this node is the
// active owner of (a replica that failed one call is likely to fail the
// next), with a version-checked write, then waits until our view has that
// map. It fails if the map read from ZooKeeper does not give vb to this
// node: a write of ours for it must not be acknowledged then.
//
// The coordinator learns of the change when its next version-checked write
// fails; it reads the map again and plans the missing copies.
func (c *Cluster) DropReplica(ctx context.Context, vb int, node string) error {
	c.dropMu.Lock()
	defer c.dropMu.Unlock()
	for try := 1; ; try++ {
		conn, ok := c.members.session()
		if !ok {
			return fmt.Errorf("peer: dropping replica %s of vbucket %d: %w", node, vb, errNoSession)
		}
		m, version, err := c.readMapNow(conn)
		if err != nil {
			return err
		}
		if vb < 0 || vb >= m.Len() || m.Active(vb) != c.self {
			return fmt.Errorf("peer: dropping replica %s of vbucket %d: map version %d gives the vbucket to %q, not this node",
				node, vb, m.Version(), m.Active(vb))
		}
		if !m.HasReplica(vb, node) {
			return c.AwaitView(ctx, m.Version(), 0) // another waiter dropped it
		}
		next, n, err := c.withoutReplica(m, node)
		if err != nil {
			return err
		}
		data, err := next.MarshalBinary()
		if err != nil {
			return err
		}
		_, err = conn.Set(c.mapPath(), data, version)
		if errors.Is(err, zk.ErrBadVersion) && try < dropTries {
			continue
		}
		if err != nil {
			return fmt.Errorf("peer: dropping replica %s of vbucket %d: write %s: %w", node, vb, c.mapPath(), err)
		}
		c.members.log.Warn("peer: dropped a replica that did not answer from the vbuckets this node owns",
			"replica", node, "vbuckets", n, "map_version", next.Version())
		return c.AwaitView(ctx, next.Version(), 0)
	}
}

// readMapNow reads the map znode with its data version.
func (c *Cluster) readMapNow(conn *zk.Conn) (*vbucket.Map, int32, error) {
	data, st, err := conn.Get(c.mapPath())
	if err != nil {
		return nil, 0, fmt.Errorf("peer: read %s: %w", c.mapPath(), err)
	}
	m, err := vbucket.Decode(data)
	if err != nil {
		return nil, 0, fmt.Errorf("peer: %s: %w", c.mapPath(), err)
	}
	return m, st.Version, nil
}

// withoutReplica returns m without node among the replicas of the
// vbuckets this node owns, and how many lost it.
func (c *Cluster) withoutReplica(m *vbucket.Map, node string) (*vbucket.Map, int, error) {
	b, n := m.Edit(), 0
	for vb := range m.Len() {
		if m.Active(vb) != c.self || !m.HasReplica(vb, node) {
			continue
		}
		e := m.Entry(vb)
		e.Replicas = slices.DeleteFunc(e.Replicas, func(r string) bool { return r == node })
		if err := b.Set(vb, e); err != nil {
			return nil, 0, err
		}
		n++
	}
	return b.Build(), n, nil
}
