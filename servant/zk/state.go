package zk

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-zookeeper/zk"
)

// Stats counts a Client's activity since New and shows its session.
type Stats struct {
	Calls    int64 `json:"calls"`    // Create, Children and Delete calls
	Errors   int64 `json:"errors"`   // calls that returned an error (a false answer is not one)
	Timeouts int64 `json:"timeouts"` // errors that were ErrTimeout

	State      string    `json:"state"`            // session state, e.g. "StateHasSession"
	StateSince time.Time `json:"state_since"`      // when State last changed (New at first)
	Server     string    `json:"server"`           // the server last connected or tried
	Expired    int64     `json:"sessions_expired"` // sessions ZooKeeper expired; a new one follows
}

// Stats returns a snapshot of the counters and the session state.
func (c *Client) Stats() Stats {
	s := Stats{Calls: c.calls.Load(), Errors: c.errs.Load(), Timeouts: c.timeouts.Load()}
	c.mu.Lock()
	s.State, s.StateSince, s.Server, s.Expired = c.state.String(), c.since, c.server, c.expired
	c.mu.Unlock()
	return s
}

// onEvent records session state changes. The library calls it from its
// connection goroutine, so it must not block; it logs each change once
// (the library repeats "connecting" on every retry).
func (c *Client) onEvent(ev zk.Event) {
	if ev.Type != zk.EventSession {
		return
	}
	c.mu.Lock()
	prev := c.state
	changed := ev.State != prev
	if changed {
		c.state, c.since = ev.State, time.Now()
	}
	c.server = ev.Server
	if ev.State == zk.StateExpired {
		c.expired++
	}
	c.mu.Unlock()
	if changed {
		c.log.Log(context.Background(), stateLevel(prev, ev.State), "zk session state",
			"state", ev.State.String(), "server", ev.Server)
	}
}

// stateLevel keeps the log quiet while the ensemble is down: the loss of
// a session and its expiry are warnings, gaining one is news, and the
// steps of every retry in between are debug lines.
func stateLevel(prev, next zk.State) slog.Level {
	switch {
	case next == zk.StateHasSession:
		return slog.LevelInfo
	case next == zk.StateExpired, prev == zk.StateHasSession:
		return slog.LevelWarn
	}
	return slog.LevelDebug
}

// libLogger sends the ZooKeeper library's own messages (one per failed
// dial, every second while the ensemble is down) to slog at Debug.
type libLogger struct{ log *slog.Logger }

func (l libLogger) Printf(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug("zk library: " + fmt.Sprintf(format, args...))
	}
}
