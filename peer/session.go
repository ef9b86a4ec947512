package peer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"
)

// This file holds the ZooKeeper session side of Membership: connecting,
// following the session state, and marking the member list stale while it is lost.

// staleness says whether the member list may be out of date, why, and since when.
type staleness struct {
	on     bool
	reason string
	since  time.Time
}

// dial starts the ZooKeeper client once; it does not wait for a session.
func (m *Membership) dial() (*zk.Conn, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if m.conn != nil {
		return m.conn, nil
	}
	conn, _, err := zk.Connect(m.cfg.ZooKeeper, m.cfg.SessionTimeout,
		zk.WithLogger(zkLogger{m.log}), zk.WithEventCallback(m.onEvent), zk.WithDialer(m.heard.dial))
	if err != nil {
		return nil, fmt.Errorf("peer: zookeeper: %w", err)
	}
	m.conn = conn
	return conn, nil
}

// connect dials ZooKeeper if need be and waits for a session until ctx is
// done.
func (m *Membership) connect(ctx context.Context) (*zk.Conn, error) {
	conn, err := m.dial()
	if err != nil {
		return nil, err
	}
	for {
		changed := m.changes()
		if _, ok := m.session(); ok {
			return conn, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("peer: no zookeeper session with %s: %w",
				strings.Join(m.cfg.ZooKeeper, ","), context.Cause(ctx))
		}
	}
}

// session returns the client if it has a live session.
func (m *Membership) session() (*zk.Conn, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.conn, m.conn != nil && !m.closed && m.state == zk.StateHasSession
}

// changes returns a channel closed at the next session event.
func (m *Membership) changes() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

// onEvent follows the session state. The client calls it from its own
// goroutine, sometimes with its locks held: it must not call the client.
func (m *Membership) onEvent(ev zk.Event) {
	if ev.Type != zk.EventSession {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	was := m.state
	m.state = ev.State
	switch ev.State {
	case zk.StateHasSession:
		m.log.Info("peer: zookeeper session up", "server", ev.Server)
	case zk.StateExpired:
		m.expired++
		m.held = false
		m.markStaleLocked("zookeeper session expired")
		m.log.Warn("peer: zookeeper session expired; registering again in a new one")
		if m.onLost != nil {
			m.onLost()
		}
	default:
		// Without a session we cannot know whether it still lives: another node
		// may claim our worker id the moment it expires.
		m.held = false
		m.markStaleLocked("no zookeeper session: " + strings.TrimPrefix(ev.State.String(), "State"))
		if was == zk.StateHasSession {
			m.log.Warn("peer: zookeeper connection lost; keeping the last member list", "server", ev.Server)
		}
		if m.onLost != nil {
			m.onLost()
		}
	}
	close(m.changed)
	m.changed = make(chan struct{})
}

func (m *Membership) markStale(reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.markStaleLocked(reason)
}

// markStaleLocked records why the member list may be out of date; since stays the
// start of the stale spell.
func (m *Membership) markStaleLocked(reason string) {
	if !m.stale.on {
		m.stale = staleness{on: true, since: time.Now()}
	}
	m.stale.reason = reason
}

// markFresh clears the stale mark after a member list was applied, unless
// the session was lost since it was read.
func (m *Membership) markFresh() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state == zk.StateHasSession {
		m.stale = staleness{}
	}
}

// ensurePath creates p and its missing parents as persistent znodes.
func ensurePath(conn *zk.Conn, p string) error {
	ok, _, err := conn.Exists(p)
	if err != nil || ok {
		return err
	}
	if parent := path.Dir(p); parent != "/" {
		if err := ensurePath(conn, parent); err != nil {
			return err
		}
	}
	_, err = conn.Create(p, nil, 0, openACL)
	if err != nil && !errors.Is(err, zk.ErrNodeExists) {
		return fmt.Errorf("peer: create %s: %w", p, err)
	}
	return nil
}

// zkLogger routes the ZooKeeper client's log lines to slog at debug level.
type zkLogger struct{ log *slog.Logger }

func (l zkLogger) Printf(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug("zookeeper: " + fmt.Sprintf(format, args...))
	}
}

func orDefaultLog(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.Default()
	}
	return log
}
