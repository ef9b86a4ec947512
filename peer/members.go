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

// retryInterval is how soon Run tries again after a ZooKeeper operation
// failed while the session was up.
const retryInterval = 500 * time.Millisecond

var (
	// errNoSession means there is no live ZooKeeper session right now; Run
	// waits for the next session event rather than retrying.
	errNoSession = errors.New("peer: no zookeeper session")
	// errNotListed means the member list lacks this node although it joined.
	errNotListed = errors.New("peer: this node is missing from the member list")
	// errZnodeHeld means our znode exists but belongs to another session,
	// typically a previous run of this node whose session has not ended yet.
	errZnodeHeld = errors.New("peer: znode held by another session")
)

var openACL = zk.WorldACL(zk.PermAll)

// Membership keeps this node registered in ZooKeeper, under Root+"/members",
// and the list of the live members. It also holds the node's idgen
// worker id claim. It is safe for concurrent use.
//
// Its life cycle: NewMembership; ClaimWorker (optional, before serving); start
// Run; Join once the node listens on Advertise; and at shutdown Leave first,
// then cancel Run's ctx, then Close.
type Membership struct {
	cfg       Config
	self      string
	log       *slog.Logger
	onMembers func(*MemberList) // called after each member list swap, with opMu held; may be nil
	list      atomic.Pointer[MemberList]

	// opMu serialises every ZooKeeper conversation (register, claim, read and
	// apply the members, leave), so that member lists are applied in the order they
	// were read and a Leave is never undone by a registration under way. It is
	// held across ZooKeeper calls; the session event callback never takes it.
	opMu sync.Mutex

	mu    sync.Mutex // guards the fields below; never held across a ZooKeeper call
	conn  *zk.Conn
	state zk.State
	// onLost is called, under mu, at each session event that leaves us
	// without a live session; it must not block. Set before Join.
	onLost  func()
	heard   heard         // when ZooKeeper was last heard of, for onLost's clock
	changed chan struct{} // closed and replaced on every session event
	joined  bool
	left    bool
	closed  bool
	stale   staleness
	worker  int // claimed worker id, or -1
	held    bool
	regs    uint64 // registrations of our member znode
	expired uint64 // session expiries seen
}

// NewMembership returns a membership that has not contacted ZooKeeper yet.
// Its member list holds just this node. If log is nil, slog.Default() is used.
func NewMembership(cfg Config, log *slog.Logger) (*Membership, error) {
	return newMembership(cfg, log, nil)
}

func newMembership(cfg Config, log *slog.Logger, onMembers func(*MemberList)) (*Membership, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	m := &Membership{cfg: cfg, self: cfg.self(), onMembers: onMembers,
		changed: make(chan struct{}), state: zk.StateDisconnected, worker: -1}
	m.log = orDefaultLog(log).With("node", m.self)
	m.list.Store(newMemberList([]string{m.self}, 0))
	if m.zkEnabled() {
		m.stale = staleness{true, "no member list read from zookeeper yet", time.Now()}
	}
	return m, nil
}

// MemberList returns the current member list; never nil. It is the last
// list read from ZooKeeper, or just this node before the first read and
// without ZooKeeper. An empty list is never applied: the last one stays, and
// Stats says it is stale.
func (m *Membership) MemberList() *MemberList { return m.list.Load() }

func (m *Membership) zkEnabled() bool { return len(m.cfg.ZooKeeper) > 0 }

func (m *Membership) membersPath() string { return m.cfg.Root + "/members" }

func (m *Membership) memberPath() string { return m.membersPath() + "/" + m.self }

// Join registers this node as a member: call it once the node listens on
// Advertise. It waits for a ZooKeeper session until ctx is done, registers,
// and reads the member list before it returns, so the member list includes this node.
// If a previous run's znode still holds our address, Join returns nil and Run
// registers as soon as it goes. Join fails after Leave. Without ZooKeeper it
// does nothing.
func (m *Membership) Join(ctx context.Context) error {
	if !m.zkEnabled() {
		return nil
	}
	if _, err := m.connect(ctx); err != nil {
		return err
	}
	if err := m.markJoined(); err != nil {
		return err
	}
	// A worker id problem is reclaim's to log and WorkerHeld's to report.
	_, err, _ := m.reconcile(false)
	if errors.Is(err, errZnodeHeld) || errors.Is(err, errNotListed) {
		m.log.Warn("peer: joined, registration pending", "err", err)
		return nil
	}
	return err
}

func (m *Membership) markJoined() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.left {
		return errors.New("peer: cannot join after leaving")
	}
	m.joined = true
	return nil
}

// wantRegistered reports whether our member znode should exist.
func (m *Membership) wantRegistered() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.joined && !m.left
}

// Run keeps the registration, the worker id claim and the member list in
// step with ZooKeeper until ctx is done: it rereads the member list on every
// change, re-registers and re-claims after a session expiry or when our
// znode vanishes, and re-arms its watch. It blocks; call it once. Without
// ZooKeeper it just waits for ctx.
func (m *Membership) Run(ctx context.Context) {
	if !m.zkEnabled() {
		<-ctx.Done()
		return
	}
	if _, err := m.dial(); err != nil {
		m.log.Error("peer: membership not running", "err", err)
		<-ctx.Done()
		return
	}
	var watch <-chan zk.Event
	for {
		changed := m.changes()
		w, err, claimErr := m.reconcile(watch == nil)
		if w != nil {
			watch = w
		}
		if !m.wait(ctx, changed, &watch, errors.Join(err, claimErr)) {
			return
		}
	}
}

// wait blocks until there may be something to reconcile: a session event, the
// members watch firing, or a retry due after err. It returns false once ctx
// is done.
func (m *Membership) wait(ctx context.Context, changed <-chan struct{}, watch *<-chan zk.Event, err error) bool {
	var retry <-chan time.Time
	if err != nil && !errors.Is(err, errNoSession) {
		m.log.Warn("peer: zookeeper membership, retrying", "err", err, "in", retryInterval)
		t := time.NewTimer(retryInterval)
		defer t.Stop()
		retry = t.C
	}
	select {
	case <-ctx.Done():
		return false
	case <-changed:
	case <-*watch:
		*watch = nil // fired (or invalidated): a new one is needed
	case <-retry:
	}
	return true
}

// reconcile brings ZooKeeper and the member list in line with what this node
// wants: registered if joined, worker id claimed if claimed, the member list
// as ZooKeeper has it. It
// returns the new members watch if arm is set, and the membership and the
// worker id claim's errors apart.
func (m *Membership) reconcile(arm bool) (_ <-chan zk.Event, err, claimErr error) {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	conn, ok := m.session()
	if !ok {
		return nil, errNoSession, nil
	}
	if err := ensurePath(conn, m.membersPath()); err != nil {
		return nil, err, nil
	}
	// One answer for the whole pass: a Join landing midway must not make
	// apply expect a registration this pass did not attempt.
	joined := m.wantRegistered()
	var regErr error
	if joined {
		regErr = m.register(conn)
	}
	claimErr = m.reclaim(conn)
	children, stat, watch, err := readMembers(conn, m.membersPath(), arm)
	if err != nil {
		return nil, fmt.Errorf("peer: read members: %w", err), claimErr
	}
	return watch, errors.Join(regErr, m.apply(children, stat, joined)), claimErr
}

func readMembers(conn *zk.Conn, p string, arm bool) ([]string, *zk.Stat, <-chan zk.Event, error) {
	if arm {
		return conn.ChildrenW(p)
	}
	children, stat, err := conn.Children(p)
	return children, stat, nil, err
}

// register creates our ephemeral member znode unless it exists in this
// session. Called with opMu held.
func (m *Membership) register(conn *zk.Conn) error {
	p, sid := m.memberPath(), conn.SessionID()
	ok, stat, err := conn.Exists(p)
	switch {
	case err != nil:
		return fmt.Errorf("peer: register %s: %w", p, err)
	case ok && stat.EphemeralOwner == sid:
		return nil
	case ok:
		return fmt.Errorf("%w: %s belongs to session 0x%x, waiting for it to end", errZnodeHeld, p, stat.EphemeralOwner)
	}
	if _, err := conn.Create(p, []byte(m.self), zk.FlagEphemeral, openACL); err != nil {
		return fmt.Errorf("peer: register %s: %w", p, err)
	}
	m.mu.Lock()
	m.regs++
	m.mu.Unlock()
	m.log.Info("peer: registered as a cluster member", "znode", p, "session", fmt.Sprintf("0x%x", sid))
	return nil
}

// apply swaps in the member list read from ZooKeeper, which must list this
// node if it is joined. Called with opMu held, so lists are applied in the
// order they were read.
func (m *Membership) apply(children []string, stat *zk.Stat, joined bool) error {
	if len(children) == 0 {
		// Never ours to apply: while we are joined our own znode is listed, and
		// before we join or after we leave an empty cluster is no one to route to.
		m.markStale("zookeeper listed no members; keeping the last known member list")
		return nil
	}
	if joined && !slices.Contains(children, m.self) {
		m.markStale("this node is missing from the member list; re-registering")
		return errNotListed
	}
	m.markFresh()
	cur := m.list.Load()
	next := newMemberList(children, uint64(stat.Cversion))
	if next.Version == cur.Version && slices.Equal(next.Members, cur.Members) {
		return nil
	}
	m.list.Store(next)
	m.logChange(cur, next)
	if m.onMembers != nil {
		m.onMembers(next)
	}
	return nil
}

func (m *Membership) logChange(cur, next *MemberList) {
	added := slices.DeleteFunc(slices.Clone(next.Members), cur.Has)
	removed := slices.DeleteFunc(slices.Clone(cur.Members), next.Has)
	m.log.Info("peer: members changed", "version", next.Version, "members", next.Members,
		"added", added, "removed", removed)
}

// Leave deletes our member znode so the others stop routing keys to this
// node, and keeps Run from registering it again. Call it first in a graceful
// shutdown. Without a live session it only logs: the znode then goes when the
// session ends. It is idempotent.
func (m *Membership) Leave() {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	m.mu.Lock()
	was := m.joined && !m.left
	m.left = true
	m.mu.Unlock()
	if !was || !m.zkEnabled() {
		return
	}
	conn, ok := m.session()
	if !ok {
		m.log.Warn("peer: leaving without a zookeeper session; the member znode goes with the session")
		return
	}
	err := conn.Delete(m.memberPath(), -1)
	if err != nil && !errors.Is(err, zk.ErrNoNode) {
		m.log.Warn("peer: leave", "err", err)
		return
	}
	m.log.Info("peer: left the cluster", "znode", m.memberPath())
}

// Close ends the ZooKeeper session, which removes our znodes if Leave has
// not. It is idempotent.
func (m *Membership) Close() {
	m.mu.Lock()
	conn := m.conn
	m.closed = true
	m.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
}
