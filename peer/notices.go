package peer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
)

// This file carries change notices between the nodes of a cluster, and tells
// this node's own code when the member list changes.
//
// A topic is a persistent znode, Root+"/notices/"+topic. Publish sets its
// data (the publisher's address), which moves its modification zxid; every
// node keeps a watch on it and runs the topic's handlers whenever the zxid it
// reads differs from the one it saw last. A notice says only that something
// changed, never what: a handler drops whatever the topic covers. Notices
// published close together may reach a handler once (the watch is re-armed
// after each fire), and a handler also runs on the first read and whenever a
// change went by while the session was down, so it must be idempotent and
// cheap. Delivery takes one ZooKeeper watch event, milliseconds on a healthy
// ensemble; while there is no session none arrive, which is why every cache
// a topic covers also needs a TTL.
//
// Anyone with write access to the znode may publish, a migration tool
// included: `set /fae/cluster/notices/<topic> x` in zkCli has the same effect
// as Publish.

// noticesDir is the znode under Root holding one znode per topic.
const noticesDir = "/notices"

// notices implements Cluster's Publish, Subscribe and OnMembersChange. It is
// safe for concurrent use.
type notices struct {
	m   *Membership
	log *slog.Logger

	published, received atomic.Uint64

	// mu guards subs, pending and memberHooks.
	mu          sync.Mutex
	subs        map[string][]func() // by topic
	pending     []string            // topics subscribed to that run has no watcher for yet
	memberHooks []func()
	added       chan struct{} // cap 1: a topic was added to pending
}

func newNotices(m *Membership, log *slog.Logger) *notices {
	return &notices{m: m, log: orDefaultLog(log).With("node", m.self),
		subs: map[string][]func(){}, added: make(chan struct{}, 1)}
}

func (n *notices) path(topic string) string { return n.m.cfg.Root + noticesDir + "/" + topic }

// Publish tells every node, this one included, that topic changed, and
// returns once ZooKeeper has recorded it; the other nodes' handlers run
// shortly after, as their watches fire. Without a session it fails, wrapping
// errNoSession, and nobody is told. Without ZooKeeper it does nothing: there
// is no other node to tell. topic must be a plain znode name.
func (c *Cluster) Publish(topic string) error { return c.notices.publish(topic) }

// Subscribe runs fn whenever topic is published, by any node, and also once
// when this node first reads the topic and after any change it missed while
// it had no session. fn runs on a goroutine of Run's, one call at a time per
// topic; it must be idempotent. Subscribe may be called before or after Run
// starts.
func (c *Cluster) Subscribe(topic string, fn func()) { c.notices.subscribe(topic, fn) }

// OnMembersChange runs fn after every member list swap, synchronously: the
// new list is already in use, and the next one is not applied before fn returns, so fn
// sees every change in order. fn must be quick and must not call the
// Cluster's membership methods (Join, Leave, ClaimWorker).
func (c *Cluster) OnMembersChange(fn func()) {
	c.notices.mu.Lock()
	defer c.notices.mu.Unlock()
	c.notices.memberHooks = append(c.notices.memberHooks, fn)
}

// membersChanged is the membership's member list hook: the peer pools first,
// then the hooks registered with OnMembersChange.
func (c *Cluster) membersChanged(l *MemberList) {
	c.peers.retain(l)
	c.notices.mu.Lock()
	hooks := slices.Clone(c.notices.memberHooks)
	c.notices.mu.Unlock()
	for _, fn := range hooks {
		fn()
	}
}

// PublishData is Publish with data: topic's znode holds data, which every
// node's handlers read with NoticeData. The last data published wins.
func (c *Cluster) PublishData(topic string, data []byte) error {
	return c.notices.publishData(topic, data)
}

// NoticeData reads what topic's znode holds now: the data of the last
// PublishData, a publisher's address after Publish, empty if never
// published. Without a session it fails, wrapping errNoSession.
func (c *Cluster) NoticeData(topic string) ([]byte, error) {
	conn, ok := c.notices.m.session()
	if !ok {
		return nil, fmt.Errorf("peer: notice %s: %w", topic, errNoSession)
	}
	data, _, err := conn.Get(c.notices.path(topic))
	if errors.Is(err, zk.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("peer: notice %s: %w", topic, err)
	}
	return data, nil
}

// updateTries bounds UpdateData's version-checked writes lost to others.
const updateTries = 5

// UpdateData is PublishData of change(what topic holds now), written with
// ZooKeeper's version check so that two changes at once through two nodes
// cannot undo each other: the one that loses reads again and changes that
// (at most updateTries times). change gets nil when nothing was published
// yet; its error is returned as it is, nothing written. It returns what was
// written.
func (c *Cluster) UpdateData(topic string, change func(old []byte) ([]byte, error)) ([]byte, error) {
	n := c.notices
	conn, ok := n.m.session()
	if !ok {
		return nil, fmt.Errorf("peer: notice %s: %w", topic, errNoSession)
	}
	p := n.path(topic)
	if err := ensurePath(conn, p); err != nil {
		return nil, fmt.Errorf("peer: notice %s: %w", p, err)
	}
	for try := 1; ; try++ {
		old, st, err := conn.Get(p)
		if err != nil {
			return nil, fmt.Errorf("peer: notice %s: %w", p, err)
		}
		if len(old) == 0 {
			old = nil
		}
		data, err := change(old)
		if err != nil {
			return nil, err
		}
		_, err = conn.Set(p, data, st.Version)
		if errors.Is(err, zk.ErrBadVersion) && try < updateTries {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("peer: notice %s: %w", p, err)
		}
		n.published.Add(1)
		return data, nil
	}
}

func (n *notices) publish(topic string) error { return n.publishData(topic, []byte(n.m.self)) }

func (n *notices) publishData(topic string, data []byte) error {
	if !n.m.zkEnabled() {
		return nil
	}
	conn, ok := n.m.session()
	if !ok {
		return fmt.Errorf("peer: notice %s: %w", topic, errNoSession)
	}
	p := n.path(topic)
	_, err := conn.Set(p, data, -1)
	if errors.Is(err, zk.ErrNoNode) {
		if err = ensurePath(conn, p); err == nil {
			_, err = conn.Set(p, data, -1)
		}
	}
	if err != nil {
		return fmt.Errorf("peer: notice %s: %w", p, err)
	}
	n.published.Add(1)
	return nil
}

func (n *notices) subscribe(topic string, fn func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.subs[topic]; !ok {
		n.pending = append(n.pending, topic)
		select {
		case n.added <- struct{}{}:
		default:
		}
	}
	n.subs[topic] = append(n.subs[topic], fn)
}

// run watches every subscribed topic until ctx is done. Without ZooKeeper
// it just waits.
func (n *notices) run(ctx context.Context) {
	if !n.m.zkEnabled() {
		<-ctx.Done()
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		for _, topic := range n.takePending() {
			wg.Go(func() { n.watch(ctx, topic) })
		}
		select {
		case <-ctx.Done():
			return
		case <-n.added:
		}
	}
}

func (n *notices) takePending() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.pending
	n.pending = nil
	return p
}

// watch keeps a watch on topic's znode and fires its handlers whenever the
// znode's modification zxid is not the one last seen, until ctx is done.
func (n *notices) watch(ctx context.Context, topic string) {
	last := int64(-1) // no read yet: the first one fires
	for {
		changed := n.m.changes()
		w, zxid, err := n.arm(topic)
		if err == nil && zxid != last {
			last = zxid
			n.fire(topic)
		}
		if !n.wait(ctx, changed, w, err) {
			return
		}
	}
}

// arm reads topic's znode, creating it if missing, and sets a watch on it.
func (n *notices) arm(topic string) (<-chan zk.Event, int64, error) {
	conn, ok := n.m.session()
	if !ok {
		return nil, 0, errNoSession
	}
	p := n.path(topic)
	if err := ensurePath(conn, p); err != nil {
		return nil, 0, err
	}
	_, stat, w, err := conn.GetW(p)
	if err != nil {
		return nil, 0, fmt.Errorf("peer: watch %s: %w", p, err)
	}
	return w, stat.Mzxid, nil
}

// wait blocks until the watch fires, the session changes, or a retry is due
// after err; false once ctx is done.
func (n *notices) wait(ctx context.Context, changed <-chan struct{}, w <-chan zk.Event, err error) bool {
	var retry <-chan time.Time
	if err != nil && !errors.Is(err, errNoSession) {
		n.log.Warn("peer: zookeeper notices, retrying", "err", err, "in", retryInterval)
		t := time.NewTimer(retryInterval)
		defer t.Stop()
		retry = t.C
	}
	select {
	case <-ctx.Done():
		return false
	case <-changed:
	case <-w: // a nil w (no watch armed) never fires
	case <-retry:
	}
	return true
}

func (n *notices) fire(topic string) {
	n.received.Add(1)
	n.mu.Lock()
	fns := slices.Clone(n.subs[topic])
	n.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// NoticeStats counts notices, for the admin pages.
type NoticeStats struct {
	Published uint64 `json:"published"` // Publish calls that reached ZooKeeper
	Received  uint64 `json:"received"`  // handler runs, first reads included
}

func (n *notices) stats() NoticeStats {
	return NoticeStats{Published: n.published.Load(), Received: n.received.Load()}
}
