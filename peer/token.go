package peer

import (
	"crypto/rand"
	"errors"
	"fmt"
	"path"

	"github.com/go-zookeeper/zk"
)

// The peer token is the cluster's secret: 32 random bytes in the znode
// Root+"/peer_token", created by the first node that needs it. Every node
// sends it with its vb_* calls (Context.peerToken) and refuses those that
// lack it, so a client reaching a node's Thrift port cannot pull, push,
// drop or replicate a vbucket's state. Clients never see the cluster's
// znodes (the zk servant is confined to its own root).

const peerTokenSize = 32

func (c *Cluster) tokenPath() string { return c.members.cfg.Root + "/peer_token" }

// PeerToken returns the cluster's peer token, reading it (or creating it)
// in ZooKeeper the first time. It never changes once read. Without a
// session before that it fails.
func (c *Cluster) PeerToken() ([]byte, error) {
	if t := c.token.Load(); t != nil {
		return *t, nil
	}
	c.tokenMu.Lock()
	defer c.tokenMu.Unlock()
	if t := c.token.Load(); t != nil {
		return *t, nil
	}
	conn, ok := c.members.session()
	if !ok {
		return nil, fmt.Errorf("peer: reading the peer token: %w", errNoSession)
	}
	t, err := readOrCreateToken(conn, c.tokenPath())
	if err != nil {
		return nil, err
	}
	c.token.Store(&t)
	return t, nil
}

func readOrCreateToken(conn *zk.Conn, p string) ([]byte, error) {
	fresh := make([]byte, peerTokenSize)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	if err := ensurePath(conn, path.Dir(p)); err != nil {
		return nil, err
	}
	_, err := conn.Create(p, fresh, 0, openACL)
	if err != nil && !errors.Is(err, zk.ErrNodeExists) {
		return nil, fmt.Errorf("peer: create %s: %w", p, err)
	}
	t, _, err := conn.Get(p)
	if err != nil {
		return nil, fmt.Errorf("peer: read %s: %w", p, err)
	}
	if len(t) != peerTokenSize {
		return nil, fmt.Errorf("peer: %s holds %d bytes, want %d", p, len(t), peerTokenSize)
	}
	return t, nil
}
