package peer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/scripts/testserver"

	"github.com/go-zookeeper/zk"
)

// testSession is the shortest session the harness's ZooKeeper grants (two
// ticks), so expiries take about a second.
const testSession = 2 * testserver.ZooKeeperTick

// nodeConfig is a test node's config. Its advertised address serves no
// vb_* calls, so it does not rebalance by itself: tests of moves turn
// AutoRebalance on. Its maps have no replicas, as the tests of the moves
// expect; the tests of replicas set them.
func nodeConfig(zkAddrs []string, root, advertise string) Config {
	return Config{ZooKeeper: zkAddrs, Root: root, Advertise: advertise, SessionTimeout: testSession,
		AutoRebalance: ptr(false), Replicas: ptr(0)}
}

// startNode builds a Cluster and runs it until the test ends. It does not
// join.
func startNode(t *testing.T, cfg Config) *Cluster {
	t.Helper()
	c, err := New(withTestDefaults(cfg), quietLog(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { c.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait(); c.Close() })
	return c
}

func join(t *testing.T, cs ...*Cluster) {
	t.Helper()
	for _, c := range cs {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := c.Join(ctx)
		cancel()
		if err != nil {
			t.Fatalf("join %s: %v", c.self, err)
		}
	}
}

// startNodes starts and joins one node per advertised address.
func startNodes(t *testing.T, zkAddrs []string, root string, addrs ...string) []*Cluster {
	t.Helper()
	cs := make([]*Cluster, len(addrs))
	for i, a := range addrs {
		cs[i] = startNode(t, nodeConfig(zkAddrs, root, a))
	}
	join(t, cs...)
	return cs
}

func stats(c *Cluster) Stats { return c.Stats().(Stats) }

// converged says whether every node has the same fresh member list, want.
func converged(cs []*Cluster, want ...string) error {
	want = slices.Sorted(slices.Values(want))
	first := stats(cs[0])
	for _, c := range cs {
		s := stats(c)
		switch {
		case s.Stale:
			return fmt.Errorf("%s: member list stale: %s", s.Self, s.StaleReason)
		case !slices.Equal(s.Members, want):
			return fmt.Errorf("%s: members %v, want %v", s.Self, s.Members, want)
		case s.MembersVersion != first.MembersVersion:
			return fmt.Errorf("%s: members version %d, %s has %d", s.Self, s.MembersVersion, first.Self, first.MembersVersion)
		}
	}
	return nil
}

func waitConverged(t *testing.T, cs []*Cluster, want ...string) {
	t.Helper()
	testserver.EventuallyNil(t, "the nodes to converge", 15*time.Second, func() error { return converged(cs, want...) })
}

// TestZooKeeperCluster runs the membership scenarios that share one ZooKeeper
// server, each under its own root, in parallel.
func TestZooKeeperCluster(t *testing.T) {
	z := testserver.StartZooKeeper(t)
	zkAddrs := []string{z.Addr}
	for _, tt := range []struct {
		name string
		run  func(t *testing.T, zkAddrs []string, root string)
	}{
		{"converge and leave", testConvergeAndLeave},
		{"re-register when the znode vanishes", testReregister},
		{"session expiry", testSessionExpiry},
		{"worker id", testWorkerID},
		{"forward to the owner", testForwardToOwner},
		{"changed wakes on a plan swap", testChangedWakes},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, zkAddrs, "/test/"+strings.ReplaceAll(tt.name, " ", "-"))
		})
	}
}

func testConvergeAndLeave(t *testing.T, zkAddrs []string, root string) {
	addrs := []string{"10.9.0.3:9001", "10.9.0.1:9001", "10.9.0.2:9001"}
	cs := startNodes(t, zkAddrs, root, addrs...)
	waitConverged(t, cs, addrs...)
	testserver.EventuallyNil(t, "the nodes to agree on 1000 owners", 10*time.Second, func() error { return sameOwners(cs, 1000) })
	cs[2].Leave()
	waitConverged(t, cs, addrs[:2]...) // the leaver follows the member list too
	if err := cs[2].Join(context.Background()); err == nil {
		t.Errorf("Join after Leave succeeded")
	}
}

// A node whose znode is deleted behind its back registers again.
func testReregister(t *testing.T, zkAddrs []string, root string) {
	addrs := []string{"10.9.1.1:9001", "10.9.1.2:9001"}
	cs := startNodes(t, zkAddrs, root, addrs...)
	waitConverged(t, cs, addrs...)

	admin, _, err := zk.Connect(zkAddrs, testSession, zk.WithLogger(zkLogger{quietLog(t)}))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.Delete(root+"/members/"+addrs[0], -1); err != nil {
		t.Fatal(err)
	}
	testserver.EventuallyNil(t, "a re-registration", 10*time.Second, func() error {
		if n := stats(cs[0]).Registrations; n < 2 {
			return fmt.Errorf("%d registrations", n)
		}
		return converged(cs, addrs...)
	})
}

// A node partitioned from ZooKeeper past its session timeout is dropped by the
// others, keeps its last member list meanwhile, and once back registers again and
// re-claims its worker id by itself.
func testSessionExpiry(t *testing.T, zkAddrs []string, root string) {
	proxy := startProxy(t, zkAddrs[0])
	addrs := []string{"10.9.2.1:9001", "10.9.2.2:9001", "10.9.2.3:9001"}
	cs := startNodes(t, zkAddrs, root, addrs[:2]...)
	c := startNode(t, nodeConfig([]string{proxy.addr}, root, addrs[2]))
	if err := c.ClaimWorker(3); err != nil {
		t.Fatal(err)
	}
	join(t, c)
	all := append(cs, c)
	waitConverged(t, all, addrs...)

	proxy.block()
	waitConverged(t, cs, addrs[:2]...)
	s := stats(c)
	if !s.Stale || len(s.Members) != 3 || c.WorkerHeld() {
		t.Fatalf("partitioned node: %+v; want a stale member list of 3 and the worker id not held", s)
	}
	proxy.unblock()
	waitConverged(t, all, addrs...)
	testserver.EventuallyNil(t, "a re-registration after the session expired", 5*time.Second, func() error {
		if s := stats(c); s.SessionExpiries < 1 || s.Registrations < 2 || !s.WorkerHeld {
			return fmt.Errorf("after the partition: %+v", s)
		}
		return nil
	})
}

func testWorkerID(t *testing.T, zkAddrs []string, root string) {
	a := startNode(t, nodeConfig(zkAddrs, root, "10.9.3.1:9001"))
	b := startNode(t, nodeConfig(zkAddrs, root, "10.9.3.2:9001"))
	if err := a.ClaimWorker(7); err != nil || !a.WorkerHeld() {
		t.Fatalf("first claim: %v (held %v)", err, a.WorkerHeld())
	}
	if err := a.ClaimWorker(7); err != nil {
		t.Fatalf("claiming the same id again: %v", err)
	}
	err := b.ClaimWorker(7)
	if !errors.Is(err, ErrWorkerTaken) || !strings.Contains(err.Error(), "10.9.3.1:9001") {
		t.Fatalf("second claim: err = %v, want ErrWorkerTaken naming 10.9.3.1:9001", err)
	}
	if b.WorkerHeld() {
		t.Fatalf("the refused node says it holds a worker id")
	}
	if err := b.ClaimWorker(8); err != nil {
		t.Fatalf("claiming a free id after a refusal: %v", err)
	}
	a.Close()
	c := startNode(t, nodeConfig(zkAddrs, root, "10.9.3.3:9001"))
	testserver.EventuallyNil(t, "worker id 7 to be free again", 5*time.Second, func() error { return c.ClaimWorker(7) })
}

// A node forwards to the owner of a key over a pooled Thrift connection, and
// drops the pool when the owner leaves.
func testForwardToOwner(t *testing.T, zkAddrs []string, root string) {
	srv := startThriftServer(t) // stands in for node b's Thrift server
	cs := startNodes(t, zkAddrs, root, "10.9.4.1:9001", srv.addr)
	a := cs[0]
	waitConverged(t, cs, "10.9.4.1:9001", srv.addr)
	key := "k1"
	var got []byte
	err := a.Forward(context.Background(), srv.addr, func(c rpc.FunServant) (err error) {
		got, err = c.LcGet(context.Background(), &rpc.Context{Reason: "test"}, key)
		return err
	})
	if err != nil || string(got) != "value of "+key {
		t.Fatalf("forwarded lc_get = %q, %v", got, err)
	}
	if p := stats(a).Peers; len(p) != 1 || p[0].Addr != srv.addr || p[0].Forwarded != 1 {
		t.Fatalf("peer stats %+v, want 1 call forwarded to %s", p, srv.addr)
	}
	cs[1].CountReceived()
	if n := stats(cs[1]).Received; n != 1 {
		t.Fatalf("received = %d, want 1", n)
	}
	err = a.Forward(context.Background(), "10.255.0.1:1", func(rpc.FunServant) error { return nil })
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("forward to a non-member: err = %v, want ErrUnreachable", err)
	}
	cs[1].Leave()
	testserver.EventuallyNil(t, "the peer to be dropped after the owner left", 10*time.Second, func() error {
		if p := stats(a).Peers; len(p) != 0 {
			return fmt.Errorf("peers %+v after the owner left", p)
		}
		return nil
	})
}

// sameOwners says whether every node has a map and names the same owner
// for each of n keys.
func sameOwners(cs []*Cluster, n int) error {
	for i := range n {
		key := fmt.Sprintf("key-%d", i)
		want := cs[0].Owner(key)
		for _, c := range cs {
			got := c.Owner(key)
			if got.Owner == "" || got.Owner != want.Owner || got.Version != want.Version {
				return fmt.Errorf("%s says %s (map %d) owns %q; %s says %s (map %d)",
					c.self, got.Owner, got.Version, key, cs[0].self, want.Owner, want.Version)
			}
		}
	}
	return nil
}

// With ZooKeeper down every node keeps its last member list, marked stale; when it
// is back they carry on.
func TestClusterKeepsMembersWhileZooKeeperIsDown(t *testing.T) {
	z := testserver.StartZooKeeper(t)
	addrs := []string{"10.9.5.1:9001", "10.9.5.2:9001", "10.9.5.3:9001"}
	cs := startNodes(t, []string{z.Addr}, "/fae/cluster", addrs...)
	waitConverged(t, cs, addrs...)

	z.Stop()
	testserver.EventuallyNil(t, "every node to mark its members stale", 10*time.Second, func() error {
		for _, c := range cs {
			s := stats(c)
			if !s.Stale || !strings.Contains(s.StaleReason, "no zookeeper session") || len(s.Members) != 3 {
				return fmt.Errorf("%s: stale %v (%q), members %v", s.Self, s.Stale, s.StaleReason, s.Members)
			}
		}
		return nil
	})
	z.Restart()
	waitConverged(t, cs, addrs...)
}

// Losing one server of a three-server ensemble changes nothing: sessions move
// to the others, no member is dropped, and watches keep working.
func TestClusterSurvivesEnsembleMemberLoss(t *testing.T) {
	zs := testserver.StartZooKeeperEnsemble(t, 3)
	var zkAddrs []string
	for _, z := range zs {
		zkAddrs = append(zkAddrs, z.Addr)
	}
	addrs := []string{"10.9.6.1:9001", "10.9.6.2:9001", "10.9.6.3:9001"}
	cs := make([]*Cluster, len(addrs))
	for i, a := range addrs {
		cfg := nodeConfig(zkAddrs, "/fae/cluster", a)
		cfg.SessionTimeout = 6 * time.Second // room for a leader election
		cs[i] = startNode(t, cfg)
	}
	join(t, cs...)
	waitConverged(t, cs, addrs...)
	version := stats(cs[0]).MembersVersion

	victim := cs[0].members.conn.Server()
	for _, z := range zs {
		if z.Addr == victim {
			t.Logf("stopping %s (%s), the server %s is connected to", z.Addr, z.Mode(), addrs[0])
			z.Stop()
		}
	}
	testserver.Consistently(t, "the member lists", 3*time.Second, func() error {
		for _, c := range cs {
			if s := stats(c); len(s.Members) != 3 || s.MembersVersion != version {
				return fmt.Errorf("%s: members %v version %d, want 3 members at version %d", s.Self, s.Members, s.MembersVersion, version)
			}
		}
		return nil
	})
	waitConverged(t, cs, addrs...)
	cs[2].Leave()
	waitConverged(t, cs[:2], addrs[:2]...)
}

// Without ZooKeeper a node is a one-node cluster that owns every key.
func TestOneNodeCluster(t *testing.T) {
	c := startNode(t, Config{})
	join(t, c)
	if err := c.ClaimWorker(1); err != nil || !c.WorkerHeld() {
		t.Fatalf("ClaimWorker: %v (held %v)", err, c.WorkerHeld())
	}
	if p := c.Owner("k"); p.Owner != "self" || !p.Serves() || p.Version != 1 {
		t.Fatalf("Owner = %+v; want self, serving, map version 1", p)
	}
	s := stats(c)
	if s.Stale || s.ZooKeeper != "" || !slices.Equal(s.Members, []string{"self"}) {
		t.Fatalf("stats %+v", s)
	}
	c.Leave()
	if !c.Owner("k").Self {
		t.Fatalf("a one-node cluster stopped owning keys after Leave")
	}
}
