package peer

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"time"

	"github.com/go-zookeeper/zk"
)

// ErrWorkerTaken is wrapped by the error ClaimWorker returns when another
// live node holds the worker id; the error names the holder.
var ErrWorkerTaken = errors.New("peer: worker id taken")

func (m *Membership) workerPath(id int) string {
	return m.cfg.Root + "/workers/" + strconv.Itoa(id)
}

// ClaimWorker claims idgen worker id for this node, as an ephemeral znode
// Root+"/workers/<id>" holding Advertise. If another live session holds it,
// the error wraps ErrWorkerTaken and names the holder: the node must refuse
// to start. If the holder is a previous run of this node (same address), it
// waits up to 1.5×SessionTimeout for that session to end. Run re-claims the id
// after a session expiry. ClaimWorker blocks up to SessionTimeout for a
// session, plus that wait. Without ZooKeeper it always succeeds.
func (m *Membership) ClaimWorker(id int) error {
	if id < 0 {
		return fmt.Errorf("peer: worker id %d: must not be negative", id)
	}
	if err := m.setWorker(id); err != nil {
		return err
	}
	err := m.claimNow(id)
	if err != nil {
		m.mu.Lock()
		m.worker, m.held = -1, false
		m.mu.Unlock()
		return fmt.Errorf("peer: claim worker id %d: %w", id, err)
	}
	m.log.Info("peer: claimed worker id", "worker", id)
	return nil
}

func (m *Membership) setWorker(id int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.worker >= 0 && m.worker != id {
		return fmt.Errorf("peer: worker id %d already claimed; cannot claim %d too", m.worker, id)
	}
	m.worker = id
	if !m.zkEnabled() {
		m.held = true
	}
	return nil
}

func (m *Membership) claimNow(id int) error {
	if !m.zkEnabled() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.SessionTimeout)
	defer cancel()
	conn, err := m.connect(ctx)
	if err != nil {
		return err
	}
	m.opMu.Lock()
	defer m.opMu.Unlock()
	return m.claim(conn, id, true)
}

// WorkerHeld reports whether this node holds its claimed worker id in a live
// ZooKeeper session now. It turns false the moment the session is lost — a
// disconnected node cannot know whether its session still lives, and once it
// expires another node may claim the id — and true again once Run confirms the
// claim. idgen must refuse ids while it is false. Without ZooKeeper it is true
// once ClaimWorker succeeded.
func (m *Membership) WorkerHeld() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.held
}

// reclaim confirms or renews the worker id claim, if there is one. Called
// with opMu held.
func (m *Membership) reclaim(conn *zk.Conn) error {
	m.mu.Lock()
	id, held := m.worker, m.held
	m.mu.Unlock()
	if id < 0 {
		return nil
	}
	if err := m.claim(conn, id, false); err != nil {
		m.log.Error("peer: worker id not held; idgen refuses ids until it is", "worker", id, "err", err)
		return err
	}
	if !held {
		m.log.Info("peer: worker id held", "worker", id)
	}
	return nil
}

// claim makes the worker id znode ours in the current session, or says who
// holds it. wait allows one wait for a previous run of this node to let go.
// Called with opMu held.
func (m *Membership) claim(conn *zk.Conn, id int, wait bool) error {
	p, sid := m.workerPath(id), conn.SessionID()
	if err := ensurePath(conn, path.Dir(p)); err != nil {
		return m.unheld(err)
	}
	for range 3 {
		data, stat, err := conn.Get(p)
		switch {
		case errors.Is(err, zk.ErrNoNode):
			_, err = conn.Create(p, []byte(m.self), zk.FlagEphemeral, openACL)
			if errors.Is(err, zk.ErrNodeExists) {
				continue
			}
			if err != nil {
				return m.unheld(err)
			}
			return m.markHeld(conn, sid)
		case err != nil:
			return m.unheld(err)
		case stat.EphemeralOwner == sid:
			return m.markHeld(conn, sid)
		case wait && string(data) == m.self:
			wait = false
			m.log.Info("peer: worker id held by a previous run of this node; waiting for it to go", "worker", id)
			if err := waitGone(conn, p, m.cfg.SessionTimeout*3/2); err != nil {
				return m.unheld(err)
			}
		default:
			return m.unheld(fmt.Errorf("%w: %d is held by %s (zookeeper session 0x%x)",
				ErrWorkerTaken, id, data, stat.EphemeralOwner))
		}
	}
	return m.unheld(fmt.Errorf("%s keeps changing hands", p))
}

// markHeld records the claim made in session sid, unless that session is no
// longer the live one.
func (m *Membership) markHeld(conn *zk.Conn, sid int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	// Session events update state under mu, so a loss after this check
	// clears held again.
	if m.state != zk.StateHasSession || conn.SessionID() != sid {
		m.held = false
		return errNoSession
	}
	m.held = true
	return nil
}

func (m *Membership) unheld(err error) error {
	m.mu.Lock()
	m.held = false
	m.mu.Unlock()
	return err
}

// waitGone waits up to timeout for znode p to be deleted (or changed).
func waitGone(conn *zk.Conn, p string, timeout time.Duration) error {
	ok, _, ev, err := conn.ExistsW(p)
	if err != nil || !ok {
		return err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ev:
		return nil
	case <-t.C:
		return fmt.Errorf("%s still held after %v", p, timeout)
	}
}
