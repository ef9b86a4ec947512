package peer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/peer/vbucket"
	"github.com/faed/faed/scripts/testserver"

	"github.com/go-zookeeper/zk"
)

// testVBuckets keeps the maps of the tests small.
const testVBuckets = 16

// vbNode stands in for a faed node's vb_* handlers: kvdb keys by vbucket in
// a map, pages of two keys, every pull recorded. It answers nothing else
// but noop.
type vbNode struct {
	rpc.FunServant
	addr string

	mu     sync.Mutex                  // guards data and pulls
	data   map[int32]map[string]string // by vbucket
	held   map[int32][]string          // by vbucket: keys of the locks and lcache entries pushed
	pulls  []pullCall
	blockF chan struct{} // if not nil, a final pull waits for it to close
	inF    chan int32    // told the vbucket of a final pull that waits (cap 16)
	refuse atomic.Bool   // refuse every pull but an abort
}

type pullCall struct{ vb, step int32 }

func (n *vbNode) Noop(_ context.Context, x int32) (int32, error) { return x, nil }

func (n *vbNode) VbPull(_ context.Context, _ *rpc.Context, vb, step int32, cursor []byte, _ int64) (*rpc.VBucketBatch, error) {
	n.mu.Lock()
	n.pulls = append(n.pulls, pullCall{vb, step})
	block := n.blockF
	n.mu.Unlock()
	if n.refuse.Load() && step != pullAbort {
		return nil, errors.New("refused by the test")
	}
	switch step {
	case pullSnapshot:
		return n.page(vb, string(cursor)), nil
	case pullFinal:
		if block != nil {
			n.inF <- vb
			<-block
		}
		return finalPage(vb, string(cursor)), nil
	}
	return &rpc.VBucketBatch{Vbucket: vb}, nil
}

// finalPage is the final pull in two pages: a held lock, then an lcache
// entry.
func finalPage(vb int32, cursor string) *rpc.VBucketBatch {
	ttl := int64(5000)
	if cursor == "" {
		return &rpc.VBucketBatch{Vbucket: vb, More: true, Cursor: []byte("1"),
			Locks: []*rpc.VBucketItem{{Key: []byte("lock"), TtlMs: &ttl}}}
	}
	return &rpc.VBucketBatch{Vbucket: vb, Lcache: []*rpc.VBucketItem{{Key: []byte("lc"), Value: []byte("v")}}}
}

// page returns up to two keys of vb after cursor.
func (n *vbNode) page(vb int32, cursor string) *rpc.VBucketBatch {
	n.mu.Lock()
	defer n.mu.Unlock()
	var keys []string
	for k := range n.data[vb] {
		if k > cursor {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	b := &rpc.VBucketBatch{Vbucket: vb}
	for i, k := range keys {
		if i == 2 {
			b.More = true
			break
		}
		b.Kvdb = append(b.Kvdb, &rpc.VBucketItem{Key: []byte(k), Value: []byte(n.data[vb][k])})
		b.Cursor = []byte(k)
	}
	return b
}

func (n *vbNode) VbPush(_ context.Context, _ *rpc.Context, b *rpc.VBucketBatch, _ int64) (bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, it := range b.Kvdb {
		n.put(b.Vbucket, string(it.Key), string(it.Value))
	}
	for _, it := range slices.Concat(b.Locks, b.Lcache) {
		n.held[b.Vbucket] = append(n.held[b.Vbucket], string(it.Key))
	}
	return true, nil
}

func (n *vbNode) put(vb int32, k, v string) {
	if n.data[vb] == nil {
		n.data[vb] = map[string]string{}
	}
	n.data[vb][k] = v
}

func (n *vbNode) keys(vb int) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.data[int32(vb)])
}

// heldKeys returns the lock and lcache keys pushed for vb, in order.
func (n *vbNode) heldKeys(vb int) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.held[int32(vb)])
}

func (n *vbNode) pulled(vb int, step int32) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Contains(n.pulls, pullCall{int32(vb), step})
}

// startVBNode serves a vbNode on loopback until the test ends.
func startVBNode(t *testing.T) *vbNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &vbNode{addr: ln.Addr().String(), data: map[int32]map[string]string{}, held: map[int32][]string{}, inF: make(chan int32, 16)}
	proc := rpc.NewFunServantProcessor(n)
	var wg sync.WaitGroup
	var mu sync.Mutex // guards conns
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { serveConn(proc, c) })
		}
	})
	t.Cleanup(func() {
		n.mu.Lock()
		if n.blockF != nil {
			close(n.blockF)
			n.blockF = nil
		}
		n.mu.Unlock()
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return n
}

// fill puts keys into n's vbuckets of a testVBuckets map.
func (n *vbNode) fill(keys int) {
	m, _ := vbucket.New(testVBuckets, 0)
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := range keys {
		k := fmt.Sprintf("key-%03d", i)
		n.put(int32(m.VBucket(k)), k, "value of "+k)
	}
}

func moverConfig(zkAddrs []string, root, advertise string) Config {
	cfg := nodeConfig(zkAddrs, root, advertise)
	cfg.AutoRebalance, cfg.VBuckets, cfg.MaxMoves = ptr(true), testVBuckets, 2
	return cfg
}

func adminConn(t *testing.T, zkAddrs []string) *zk.Conn {
	t.Helper()
	conn, _, err := zk.Connect(zkAddrs, testSession, zk.WithLogger(zkLogger{quietLog(t)}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	return conn
}

// waitMap waits until every node has read a map.
func waitMap(t *testing.T, cs ...*Cluster) {
	t.Helper()
	testserver.EventuallyNil(t, "every node to read a map", 10*time.Second, func() error {
		for _, c := range cs {
			if c.Map().Version() == 0 {
				return fmt.Errorf("%s has no map yet", c.self)
			}
		}
		return nil
	})
}

// counts returns how many vbuckets each node owns by c's map.
func counts(c *Cluster) map[string]int {
	a, _ := c.Map().Counts()
	return a
}

// balanced waits until every node's map gives each of want its share and
// no move is in flight.
func waitBalanced(t *testing.T, cs []*Cluster, want map[string]int) {
	t.Helper()
	testserver.EventuallyNil(t, "a balanced map", 20*time.Second, func() error {
		for _, c := range cs {
			got := counts(c)
			for n, k := range want {
				if got[n] != k {
					return fmt.Errorf("%s's map (version %d): %v, want %v", c.self, c.Map().Version(), got, want)
				}
			}
			if cur := c.mapStats().Rebalance.Current; len(cur) > 0 {
				return fmt.Errorf("%s: moves in flight %v", c.self, cur)
			}
		}
		return nil
	})
}

// TestCoordinator runs the map and move scenarios on one ZooKeeper server,
// each under its own root, in parallel.
func TestCoordinator(t *testing.T) {
	z := testserver.StartZooKeeper(t)
	zkAddrs := []string{z.Addr}
	for _, tt := range []struct {
		name string
		run  func(t *testing.T, zkAddrs []string, root string)
	}{
		{"map created and moves hand data off", testMapAndMoves},
		{"a new coordinator rolls back", testCoordinatorRollsBack},
		{"a stale coordinator is refused", testStaleCoordinatorRefused},
		{"rebalance on request", testRebalanceRequest},
		{"views re-armed after a session expiry", testViewsAfterExpiry},
		{"a vanished node keeps its vbuckets for leave_grace", testLeaveGrace},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, zkAddrs, "/test/"+strings.ReplaceAll(tt.name, " ", "-"))
		})
	}
}

// A first node gets every vbucket; a second one joining gets half, with
// their keys, over vb_pull and vb_push; a drain moves them back.
func testMapAndMoves(t *testing.T, zkAddrs []string, root string) {
	na, nb := startVBNode(t), startVBNode(t)
	na.fill(100)
	a := startNode(t, moverConfig(zkAddrs, root, na.addr))
	join(t, a)
	waitBalanced(t, []*Cluster{a}, map[string]int{na.addr: testVBuckets})
	if p := a.Owner("key-001"); !p.Serves() || p.Owner != na.addr || p.Incoming || p.Outgoing {
		t.Fatalf("a's placement of key-001 = %+v, want a serving", p)
	}
	if a.Drained() {
		t.Fatal("a node owning every vbucket says it is drained")
	}

	if idle, err := New(withTestDefaults(moverConfig(zkAddrs, root, nb.addr)), nil); err != nil {
		t.Fatal(err)
	} else if p := idle.Owner("key-001"); p.Owner != "" || p.Self || p.Version != 0 {
		t.Fatalf("before reading the map, a node's placement = %+v; want no owner", p)
	}
	b := startNode(t, moverConfig(zkAddrs, root, nb.addr))
	join(t, b)
	half := map[string]int{na.addr: testVBuckets / 2, nb.addr: testVBuckets / 2}
	waitBalanced(t, []*Cluster{a, b}, half)
	for vb := range testVBuckets {
		pa, pb := a.VBucket(vb), b.VBucket(vb)
		if pa.Owner != pb.Owner || pa.Self == pb.Self || pa.Version != pb.Version {
			t.Fatalf("vbucket %d: a says %+v, b says %+v", vb, pa, pb)
		}
		if pb.Self && (nb.keys(vb) != na.keys(vb) || !slices.Equal(nb.heldKeys(vb), []string{"lock", "lc"})) {
			t.Fatalf("vbucket %d moved to b with %d of %d keys, final state %q (want both pages)",
				vb, nb.keys(vb), na.keys(vb), nb.heldKeys(vb))
		}
	}
	copied := uint64(2 * testVBuckets / 2) // a lock and an lcache entry per move
	for vb := range testVBuckets {
		if b.VBucket(vb).Self {
			copied += uint64(na.keys(vb))
		}
	}
	testserver.EventuallyNil(t, "the rebalance stats", 5*time.Second, func() error {
		st := a.mapStats()
		if st.Balance != 0 || st.Rebalance.MovesDone != testVBuckets/2 || st.Rebalance.MovesTotal != testVBuckets/2 ||
			st.Rebalance.KeysCopied != copied || st.Coordinator != na.addr {
			return fmt.Errorf("map stats %+v: want balance 0, %d moves of %d done, %d keys copied, coordinator a",
				st, testVBuckets/2, testVBuckets/2, copied)
		}
		return nil
	})

	if err := a.Drain(nb.addr); err != nil {
		t.Fatal(err)
	}
	waitBalanced(t, []*Cluster{a, b}, map[string]int{na.addr: testVBuckets, nb.addr: 0})
	testserver.EventuallyNil(t, "b to be drained", 5*time.Second, func() error {
		if !b.Drained() {
			return errors.New("b, owning nothing, is not drained")
		}
		return nil
	})
	b.Close()
	admin := adminConn(t, zkAddrs)
	testserver.EventuallyNil(t, "the drain request of a node that left to go", 10*time.Second, func() error {
		if ok, _, err := admin.Exists(root + "/drain/" + nb.addr); err != nil || ok {
			return fmt.Errorf("drain request of a node that left: exists %v, %v", ok, err)
		}
		return nil
	})
}

// With auto_rebalance off a joining node gets nothing until Rebalance.
func testRebalanceRequest(t *testing.T, zkAddrs []string, root string) {
	na, nb := startVBNode(t), startVBNode(t)
	cfg := moverConfig(zkAddrs, root, na.addr)
	cfg.AutoRebalance = ptr(false)
	a := startNode(t, cfg)
	join(t, a)
	waitBalanced(t, []*Cluster{a}, map[string]int{na.addr: testVBuckets})
	cfg.Advertise = nb.addr
	b := startNode(t, cfg)
	join(t, b)
	waitConverged(t, []*Cluster{a, b}, na.addr, nb.addr)
	testserver.Consistently(t, "the map with no move requested", 300*time.Millisecond, func() error {
		if got := counts(a); got[na.addr] != testVBuckets {
			return fmt.Errorf("moved without a request: %v", got)
		}
		return nil
	})
	if err := b.Rebalance(); err != nil {
		t.Fatal(err)
	}
	waitBalanced(t, []*Cluster{a, b}, map[string]int{na.addr: testVBuckets / 2, nb.addr: testVBuckets / 2})
}

// A coordinator that dies with a move fenced is followed by one that rolls
// the move back: the source serves the vbucket again and no node shows it
// moving.
func testCoordinatorRollsBack(t *testing.T, zkAddrs []string, root string) {
	na, nb := startVBNode(t), startVBNode(t)
	na.fill(50)
	na.blockF = make(chan struct{})
	cfg := moverConfig(zkAddrs, root, na.addr)
	cfg.MaxMoves = 1
	a := startNode(t, cfg)
	join(t, a)
	waitBalanced(t, []*Cluster{a}, map[string]int{na.addr: testVBuckets})
	b := startNode(t, moverConfig(zkAddrs, root, nb.addr))
	join(t, b)

	var vb int
	select {
	case v := <-na.inF:
		vb = int(v)
	case <-time.After(15 * time.Second):
		t.Fatal("no move reached its final pull")
	}
	testserver.EventuallyNil(t, "both sides to see the fence", 5*time.Second, func() error {
		if pa, pb := a.VBucket(vb), b.VBucket(vb); !pa.Fenced || !pa.Outgoing || !pb.Incoming || pb.Self {
			return fmt.Errorf("while fenced: a says %+v, b says %+v", pa, pb)
		}
		return nil
	})
	before := b.Map().Version()
	na.refuse.Store(true) // the new coordinator's own moves fail, leaving the map alone
	a.Close()

	testserver.EventuallyNil(t, "b to take over as coordinator", 15*time.Second, func() error {
		switch st := b.mapStats(); {
		case st.Coordinator != nb.addr:
			return fmt.Errorf("coordinator %q, want b", st.Coordinator)
		case !na.pulled(vb, pullAbort):
			return fmt.Errorf("no abort pulled for vbucket %d", vb)
		}
		if p := b.VBucket(vb); p.Incoming || p.Owner != na.addr {
			return fmt.Errorf("after the rollback b says %+v", p)
		}
		return nil
	})
	if v := b.Map().Version(); v != before {
		t.Fatalf("map version %d after the rollback, was %d: a failed move changed the map", v, before)
	}
}

// A coordinator whose election znode is gone cannot write the plan or the
// map; nor can one whose map is older than the znode's.
func testStaleCoordinatorRefused(t *testing.T, zkAddrs []string, root string) {
	admin := adminConn(t, zkAddrs)
	c, err := New(withTestDefaults(moverConfig(zkAddrs, root, "10.9.8.1:9001")), quietLog(t))
	if err != nil {
		t.Fatal(err)
	}
	m0, _ := vbucket.New(testVBuckets, 0)
	m1 := vbucket.NewPlan(m0, []string{"10.9.8.1:9001"}).Target
	data, _ := m1.MarshalBinary()
	if err := ensurePath(admin, root); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Create(c.mapPath(), data, 0, openACL); err != nil {
		t.Fatal(err)
	}
	co := newTestCoordinator(t, c, admin)
	m2 := vbucket.NewPlan(m1, []string{"10.9.8.2:9001"}).Target
	co.mu.Lock()
	defer co.mu.Unlock()
	if _, err := co.commitLocked(m2, co.plan.clone()); err != nil {
		t.Fatalf("a live term's write: %v", err)
	}
	if err := admin.Delete(co.t.znode, -1); err != nil {
		t.Fatal(err)
	}
	_, err = co.commitLocked(m1.Edit().Build(), co.plan.clone())
	if !errors.Is(err, errStaleTerm) {
		t.Fatalf("write after the term ended: err = %v, want errStaleTerm", err)
	}
	got, _, err := admin.Get(c.mapPath())
	if m, derr := vbucket.Decode(got); err != nil || derr != nil || m.Version() != m2.Version() {
		t.Fatalf("map after the refused write: %v %v, want version %d", err, derr, m2.Version())
	}

	co2 := newTestCoordinator(t, c, admin)
	co2.mvers-- // as if it had read an older map
	if _, err := co2.commitLocked(m2.Edit().Build(), co2.plan.clone()); !errors.Is(err, zk.ErrBadVersion) {
		t.Fatalf("write over a newer map: err = %v, want ErrBadVersion", err)
	}
}

// newTestCoordinator enters conn into c's election and loads map and plan.
func newTestCoordinator(t *testing.T, c *Cluster, conn *zk.Conn) *coordinator {
	t.Helper()
	if err := ensurePath(conn, c.electionPath()); err != nil {
		t.Fatal(err)
	}
	p, err := conn.Create(c.electionPath()+"/n_", nil, zk.FlagEphemeral|zk.FlagSequence, openACL)
	if err != nil {
		t.Fatal(err)
	}
	co := &coordinator{c: c, t: &term{conn: conn, znode: p, sid: conn.SessionID()},
		cfg: c.members.cfg, gone: map[string]time.Time{}}
	if err := co.load(); err != nil {
		t.Fatal(err)
	}
	return co
}

// A node that vanishes keeps its vbuckets for leave_grace; then they get new
// owners at once, with nothing copied.
func testLeaveGrace(t *testing.T, zkAddrs []string, root string) {
	na, nb := startVBNode(t), startVBNode(t)
	cfg := moverConfig(zkAddrs, root, na.addr)
	cfg.LeaveGrace = 1500 * time.Millisecond
	a := startNode(t, cfg)
	join(t, a)
	waitBalanced(t, []*Cluster{a}, map[string]int{na.addr: testVBuckets})
	cfg.Advertise = nb.addr
	b := startNode(t, cfg)
	join(t, b)
	half := map[string]int{na.addr: testVBuckets / 2, nb.addr: testVBuckets / 2}
	waitBalanced(t, []*Cluster{a, b}, half)
	moved := a.mapStats().Rebalance.MovesDone

	b.Close()
	gone := time.Now()
	waitConverged(t, []*Cluster{a}, na.addr)
	testserver.Consistently(t, "the map within the grace", 500*time.Millisecond, func() error {
		if got := counts(a); got[nb.addr] != testVBuckets/2 {
			return fmt.Errorf("within the grace: %v", got)
		}
		return nil
	})
	waitBalanced(t, []*Cluster{a}, map[string]int{na.addr: testVBuckets})
	if d := time.Since(gone); d < cfg.LeaveGrace {
		t.Fatalf("reassigned %v after the node vanished, before its grace of %v", d, cfg.LeaveGrace)
	}
	if st := a.mapStats(); st.Rebalance.MovesDone != moved {
		t.Fatalf("moves done went from %d to %d: a vanished node's vbuckets were copied", moved, st.Rebalance.MovesDone)
	}
}

// A node whose session expired reads the views again and watches them in
// its new session.
func testViewsAfterExpiry(t *testing.T, zkAddrs []string, root string) {
	proxy := startProxy(t, zkAddrs[0])
	a := startNode(t, nodeConfig(zkAddrs, root, "10.9.9.1:9001"))
	join(t, a)
	b := startNode(t, nodeConfig([]string{proxy.addr}, root, "10.9.9.2:9001"))
	join(t, b)
	waitMap(t, a, b)
	testserver.EventuallyNil(t, "a to list b", 10*time.Second, func() error {
		if !a.MemberList().Has("10.9.9.2:9001") {
			return errors.New("a does not list b yet")
		}
		return nil
	})
	proxy.block()
	// Unblocked before the server expired b's session, b would resume it:
	// wait until a sees b's member znode gone, then for a to own it all.
	testserver.EventuallyNil(t, "b to leave the members", 10*time.Second, func() error {
		if a.MemberList().Has("10.9.9.2:9001") {
			return errors.New("b is still a member")
		}
		return nil
	})
	waitConverged(t, []*Cluster{a}, "10.9.9.1:9001")
	proxy.unblock()
	// The client's reconnect backoff, under a loaded race run, has taken
	// more than 10s to hear of the expiry.
	testserver.EventuallyNil(t, "b to get a new session", 25*time.Second, func() error {
		if s := stats(b); s.SessionExpiries < 1 || s.Stale {
			return fmt.Errorf("b after the partition: expiries %d, stale %v", s.SessionExpiries, s.Stale)
		}
		return nil
	})
	before := b.PlanVersion()
	if _, err := adminConn(t, zkAddrs).Set(root+"/plan", []byte(`{"coordinator":"x"}`), -1); err != nil {
		t.Fatal(err)
	}
	testserver.EventuallyNil(t, "the new session to watch the plan", 10*time.Second, func() error {
		if v := b.PlanVersion(); v <= before {
			return fmt.Errorf("b's plan version %d (was %d): the new session's watch did not fire", v, before)
		}
		return nil
	})
}
