package peer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
)

// This file elects the coordinator with ZooKeeper's recipe: every node
// creates an ephemeral sequential znode Root+"/election/n_"; the lowest
// leads; the others each watch their predecessor, so one departure wakes
// one node, not all.

// term is one leadership: the election znode that proves it, in one
// session. Every write of the coordinator checks that the znode still
// exists, so a leader that lost its session cannot write after its
// successor took over.
type term struct {
	conn  *zk.Conn
	znode string
	sid   int64
}

func (c *Cluster) electionPath() string { return c.members.cfg.Root + "/election" }

// elect blocks until this node leads, ctx is done (error), or the session
// is lost (error).
func (c *Cluster) elect(ctx context.Context) (*term, error) {
	conn, err := c.members.connect(ctx)
	if err != nil {
		return nil, err
	}
	t, err := c.candidate(conn)
	if err != nil {
		return nil, err
	}
	for {
		changed := c.members.changes()
		pred, err := t.predecessor()
		if err != nil || pred == "" {
			return t, err
		}
		ok, _, w, err := conn.ExistsW(c.electionPath() + "/" + pred)
		if err != nil {
			return nil, err
		}
		if ok {
			if err := t.await(ctx, changed, w); err != nil {
				t.resign()
				return nil, err
			}
		}
	}
}

// candidate enters the election: it removes this session's leftover znodes
// (a term that stepped down) and creates a new one.
func (c *Cluster) candidate(conn *zk.Conn) (*term, error) {
	dir := c.electionPath()
	if err := ensurePath(conn, dir); err != nil {
		return nil, err
	}
	sid := conn.SessionID()
	kids, _, err := conn.Children(dir)
	if err != nil {
		return nil, fmt.Errorf("peer: election: %w", err)
	}
	for _, k := range kids {
		if _, st, err := conn.Get(dir + "/" + k); err == nil && st.EphemeralOwner == sid {
			_ = conn.Delete(dir+"/"+k, -1) // ours, from a term that ended
		}
	}
	p, err := conn.Create(dir+"/n_", []byte(c.self), zk.FlagEphemeral|zk.FlagSequence, openACL)
	if err != nil {
		return nil, fmt.Errorf("peer: election: %w", err)
	}
	return &term{conn: conn, znode: p, sid: sid}, nil
}

// predecessor returns the name of the election znode just below ours, ""
// if ours is the lowest. Sequence numbers are zero-padded to one width, so
// names sort as numbers.
func (t *term) predecessor() (string, error) {
	dir, me := splitZnode(t.znode)
	kids, _, err := t.conn.Children(dir)
	if err != nil {
		return "", fmt.Errorf("peer: election: %w", err)
	}
	slices.Sort(kids)
	i, ok := slices.BinarySearch(kids, me)
	if !ok {
		return "", fmt.Errorf("peer: election: our znode %s is gone", t.znode)
	}
	if i == 0 {
		return "", nil
	}
	return kids[i-1], nil
}

// await waits for the predecessor's watch; an error if ctx ends or the
// session changes under us.
func (t *term) await(ctx context.Context, changed <-chan struct{}, w <-chan zk.Event) error {
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-w:
		return nil
	case <-changed:
		if t.conn.State() != zk.StateHasSession || t.conn.SessionID() != t.sid {
			return errNoSession
		}
		return nil
	}
}

// resign deletes our election znode, best effort: without a session it goes
// with the session.
func (t *term) resign() {
	if err := t.conn.Delete(t.znode, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
		_ = err // the session's end removes it
	}
}

// check is the multi op that makes a write depend on this term.
func (t *term) check() *zk.CheckVersionRequest {
	return &zk.CheckVersionRequest{Path: t.znode, Version: -1}
}

// runCoordinator takes part in the election until ctx is done, and
// coordinates while it leads. A lost session ends the term at once: the
// znode may be gone and a successor leading.
func (c *Cluster) runCoordinator(ctx context.Context) {
	for ctx.Err() == nil {
		t, err := c.elect(ctx)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, errNoSession) {
				c.members.log.Warn("peer: coordinator election, retrying", "err", err)
			}
			sleepCtx(ctx, retryInterval)
			continue
		}
		c.members.log.Info("peer: leading as the vbucket coordinator", "znode", t.znode)
		tctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { c.stepDownOnSessionLoss(tctx, cancel, t) })
		c.coordinate(tctx, t)
		cancel()
		wg.Wait()
		t.resign()
		c.members.log.Info("peer: no longer the vbucket coordinator")
	}
}

// stepDownOnSessionLoss cancels the term once its session is not live.
func (c *Cluster) stepDownOnSessionLoss(ctx context.Context, cancel func(), t *term) {
	for {
		changed := c.members.changes()
		if t.conn.State() != zk.StateHasSession || t.conn.SessionID() != t.sid {
			cancel()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

func splitZnode(p string) (dir, name string) {
	i := len(p) - 1
	for i >= 0 && p[i] != '/' {
		i--
	}
	return p[:i], p[i+1:]
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
