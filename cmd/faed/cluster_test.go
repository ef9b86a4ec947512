package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/scripts/testserver"

	"github.com/apache/thrift/lib/go/thrift"
)

// Cluster tests: faed child processes clustering through a real ZooKeeper.
// They find the owner of a key in the vbucket map the nodes serve on GET
// /cluster/map (handoff_test.go), and check it against the nodes' own
// counters.

// clusterRoot is the znode the test clusters live under.
const clusterRoot = "/fae/test"

// node is one faed of a test cluster with a client connected to it.
type node struct {
	*testserver.Faed
	fun *rpc.FunServantClient
}

// clusterOpts shapes the nodes startNodes starts.
type clusterOpts struct {
	zookeeper      []string
	sessionTimeout string // ZooKeeper session timeout, e.g. "2s"
	firstWorker    int    // worker ids are firstWorker, firstWorker+1, ...
	root           string // the cluster's znode; clusterRoot if empty
	vbuckets       int    // [cluster] vbuckets; testVBuckets if zero
	replicas       int    // [cluster] replicas: the tests of before replicas have none
	lockExpiry     string // [servant.lock] expiry; 60s if empty
	extra          string // more TOML for every node, after the cluster's
}

// testVBuckets is the vbucket count of the test clusters: each move is a
// few ZooKeeper writes, and 1024 (faed's default, which the benchmark
// uses) take a three-node cluster many seconds to spread on two cores.
const testVBuckets = 128

// nodeToml is the extra configuration of one node; testserver.Faed fills in {{TCP}}.
func nodeToml(o clusterOpts, worker int) string {
	quoted := make([]string, len(o.zookeeper))
	for i, z := range o.zookeeper {
		quoted[i] = fmt.Sprintf("%q", z)
	}
	return fmt.Sprintf(`
[servant.idgen]
worker_id = %d
[servant.lock]
expiry = %q
[cluster]
zookeeper = [%s]
root = %q
session_timeout = %q
advertise = "{{TCP}}"
vbuckets = %d
replicas = %d
%s`, worker, cmp.Or(o.lockExpiry, "60s"), strings.Join(quoted, ", "), cmp.Or(o.root, clusterRoot), o.sessionTimeout, cmp.Or(o.vbuckets, testVBuckets), o.replicas, o.extra)
}

// startNodes starts n faed nodes with distinct worker ids, one after the
// other, each returning once its admin port answers.
func startNodes(t *testing.T, o clusterOpts, n int) []*node {
	t.Helper()
	nodes := make([]*node, n)
	for i := range nodes {
		d := testserver.StartFaed(t, t.TempDir(), nodeToml(o, o.firstWorker+i))
		nodes[i] = &node{Faed: d, fun: dialNode(t, d.TCP)}
	}
	return nodes
}

// dialNode is goClient on TCP with a socket timeout, so a stuck call fails
// the test instead of hanging it. The timeout is past forward_retry_wait
// (15s), the longest a routed call may legitimately take.
func dialNode(t *testing.T, addr string) *rpc.FunServantClient {
	t.Helper()
	c, conn, err := dialFun(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return c
}

// dialFun is dialNode for callers that are not the test goroutine: the
// caller closes conn.
func dialFun(addr string) (*rpc.FunServantClient, net.Conn, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	sock := thrift.NewTSocketFromConnConf(conn, &thrift.TConfiguration{SocketTimeout: 30 * time.Second})
	trans := thrift.NewTBufferedTransport(sock, 4096)
	p := thrift.NewTBinaryProtocolConf(trans, nil)
	return rpc.NewFunServantClient(thrift.NewTStandardClient(p, p)), conn, nil
}

// clusterStats is the "cluster" section of GET /stats, as far as the
// tests read it.
type clusterStats struct {
	Self            string   `json:"self"`
	ZooKeeper       string   `json:"zookeeper"`
	Members         []string `json:"members"`
	Stale           bool     `json:"stale"`
	StaleReason     string   `json:"stale_reason"`
	Registrations   uint64   `json:"registrations"`
	SessionExpiries uint64   `json:"session_expiries"`
	WorkerID        int      `json:"worker_id"`
	WorkerHeld      bool     `json:"worker_held"`
	Received        uint64   `json:"received"`
	Peers           []struct {
		Addr      string `json:"addr"`
		Forwarded uint64 `json:"forwarded"`
	} `json:"peers"`
}

// forwarded is the number of calls this node forwarded to addr ("" for all
// peers).
func (s clusterStats) forwarded(addr string) uint64 {
	var n uint64
	for _, p := range s.Peers {
		if addr == "" || p.Addr == addr {
			n += p.Forwarded
		}
	}
	return n
}

func readClusterStats(d *testserver.Faed) (clusterStats, error) {
	var body struct {
		Cluster *clusterStats `json:"cluster"`
	}
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + d.HTTP + "/stats")
	if err != nil {
		return clusterStats{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return clusterStats{}, err
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return clusterStats{}, fmt.Errorf("GET /stats: %w", err)
	}
	if body.Cluster == nil {
		return clusterStats{}, fmt.Errorf("GET /stats of %s has no cluster section", d.TCP)
	}
	return *body.Cluster, nil
}

func mustClusterStats(t *testing.T, n *node) clusterStats {
	t.Helper()
	s, err := readClusterStats(n.Faed)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func addrsOf(nodes []*node) []string {
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.TCP
	}
	slices.Sort(addrs)
	return addrs
}

// membersAgreed checks that every node has a fresh member list of exactly
// the nodes given.
func membersAgreed(nodes []*node) error {
	want := addrsOf(nodes)
	return eachNode(nodes, func(n *node, s clusterStats) error {
		switch {
		case s.Stale:
			return fmt.Errorf("%s: members stale: %s", n.TCP, s.StaleReason)
		case !slices.Equal(s.Members, want):
			return fmt.Errorf("%s: members %v, want %v", n.TCP, s.Members, want)
		}
		return nil
	})
}

// waitMap waits until the nodes agree on their members and on a settled
// vbucket map of exactly themselves (mapSettled), and returns the map.
func waitMap(t *testing.T, nodes []*node, timeout time.Duration) clusterMap {
	t.Helper()
	var m clusterMap
	testserver.EventuallyNil(t, fmt.Sprintf("%d nodes to agree on a map of themselves", len(nodes)), timeout, func() (err error) {
		if err = membersAgreed(nodes); err == nil {
			m, err = mapSettled(nodes)
		}
		return err
	})
	return m
}

// keysByOwner returns, for every node the map gives vbuckets, perOwner keys
// it owns.
func keysByOwner(m clusterMap, prefix string, perOwner int) map[string][]string {
	members := m.members()
	keys := make(map[string][]string, len(members))
	for i, full := 0, 0; full < len(members); i++ {
		k := fmt.Sprintf("%s-%d", prefix, i)
		owner := m.owner(k)
		if len(keys[owner]) < perOwner {
			keys[owner] = append(keys[owner], k)
			if len(keys[owner]) == perOwner {
				full++
			}
		}
	}
	return keys
}

// allKeys flattens keysByOwner in member order.
func allKeys(m clusterMap, byOwner map[string][]string) []string {
	var all []string
	for _, o := range m.members() {
		all = append(all, byOwner[o]...)
	}
	return all
}

func isMiss(err error) bool {
	var miss *rpc.TCacheMissed
	return errors.As(err, &miss)
}

// TestClusterRouting runs one three-node cluster through convergence, key
// routing, and the crash of a key's owner, in that order.
func TestClusterRouting(t *testing.T) {
	zk := testserver.StartZooKeeper(t)
	// A crashed owner's vbuckets are reassigned once its 2s session expired
	// and the 1s leave_grace passed; the idempotent retry must fit that wait
	// in the call's deadline.
	nodes := startNodes(t, clusterOpts{zookeeper: []string{zk.Addr}, sessionTimeout: "2s", firstWorker: 1,
		extra: "leave_grace = \"1s\"\n[engine]\ncall_timeout = \"8s\"\n[servant]\nforward_retry_wait = \"6s\"\n"}, 3)
	var m clusterMap
	if !t.Run("converge", func(t *testing.T) { m = waitMap(t, nodes, 10*time.Second) }) {
		return
	}
	if !t.Run("locks", func(t *testing.T) { checkClusterLocks(t, nodes, m) }) {
		return
	}
	if !t.Run("lcache and kvdb", func(t *testing.T) { checkClusterCoherence(t, nodes, m) }) {
		return
	}
	t.Run("kill -9 an owner", func(t *testing.T) { checkOwnerCrash(t, nodes, m) })
}

// checkClusterLocks takes locks through node 0 on keys of every owner and
// checks that the others are refused, then unlocks through node 2.
func checkClusterLocks(t *testing.T, nodes []*node, m clusterMap) {
	ctx := t.Context()
	for _, key := range allKeys(m, keysByOwner(m, "lock", 2)) {
		if ok, err := nodes[0].fun.Lock(ctx, rc, "cluster.test", key); err != nil || !ok {
			t.Fatalf("lock %q (owner %s) through %s = %v, %v; want true", key, m.owner(key), nodes[0].TCP, ok, err)
		}
		for _, n := range nodes {
			if ok, err := n.fun.Lock(ctx, rc, "cluster.test", key); err != nil || ok {
				t.Errorf("lock %q (owner %s) through %s while held = %v, %v; want false", key, m.owner(key), n.TCP, ok, err)
			}
		}
		if err := nodes[2].fun.Unlock(ctx, rc, "cluster.test", key); err != nil {
			t.Fatalf("unlock %q through %s: %v", key, nodes[2].TCP, err)
		}
		if ok, err := nodes[1].fun.Lock(ctx, rc, "cluster.test", key); err != nil || !ok {
			t.Errorf("lock %q (owner %s) through %s after unlock = %v, %v; want true", key, m.owner(key), nodes[1].TCP, ok, err)
		}
		if err := nodes[1].fun.Unlock(ctx, rc, "cluster.test", key); err != nil {
			t.Fatalf("unlock %q through %s: %v", key, nodes[1].TCP, err)
		}
	}
}

// checkClusterCoherence writes through one node and reads through the
// others, for lcache and kvdb, on keys of every owner.
func checkClusterCoherence(t *testing.T, nodes []*node, m clusterMap) {
	ctx := t.Context()
	for i, key := range allKeys(m, keysByOwner(m, "coherent", 3)) {
		a, b, c := nodes[i%3], nodes[(i+1)%3], nodes[(i+2)%3]
		val := []byte("value of " + key)
		if ok, err := a.fun.LcSet(ctx, rc, key, val); err != nil || !ok {
			t.Fatalf("lc_set %q through %s = %v, %v", key, a.TCP, ok, err)
		}
		for _, n := range []*node{b, c} {
			if got, err := n.fun.LcGet(ctx, rc, key); err != nil || string(got) != string(val) {
				t.Errorf("lc_get %q (owner %s, set through %s) through %s = %q, %v; want %q", key, m.owner(key), a.TCP, n.TCP, got, err, val)
			}
		}
		if err := c.fun.LcDel(ctx, rc, key); err != nil {
			t.Fatalf("lc_del %q through %s: %v", key, c.TCP, err)
		}
		for _, n := range nodes {
			if got, err := n.fun.LcGet(ctx, rc, key); !isMiss(err) {
				t.Errorf("lc_get %q through %s after lc_del through %s = %q, %v; want TCacheMissed", key, n.TCP, c.TCP, got, err)
			}
		}
		if ok, err := a.fun.KvdbSet(ctx, rc, []byte(key), val); err != nil || !ok {
			t.Fatalf("kvdb_set %q through %s = %v, %v", key, a.TCP, ok, err)
		}
		if got, err := b.fun.KvdbGet(ctx, rc, []byte(key)); err != nil || string(got) != string(val) {
			t.Errorf("kvdb_get %q (owner %s, set through %s) through %s = %q, %v; want %q", key, m.owner(key), a.TCP, b.TCP, got, err, val)
		}
		if ok, err := c.fun.KvdbDel(ctx, rc, []byte(key)); err != nil || !ok {
			t.Errorf("kvdb_del %q through %s = %v, %v; want true", key, c.TCP, ok, err)
		}
		if got, err := a.fun.KvdbGet(ctx, rc, []byte(key)); !isMiss(err) {
			t.Errorf("kvdb_get %q through %s after kvdb_del = %q, %v; want TCacheMissed", key, a.TCP, got, err)
		}
	}
	checkOwnerReceives(t, nodes, m)
	for _, n := range nodes {
		s := mustClusterStats(t, n)
		if s.forwarded("") == 0 || s.Received == 0 {
			t.Errorf("%s /stats cluster: forwarded %d, received %d; want both > 0 (%+v)", n.TCP, s.forwarded(""), s.Received, s)
		}
	}
}

// checkOwnerReceives makes one call through a node that does not own the key
// and checks that exactly the owner the test computed received it: faed
// places keys as its map says.
func checkOwnerReceives(t *testing.T, nodes []*node, m clusterMap) {
	for _, owner := range nodes {
		key := keysByOwner(m, "placed", 1)[owner.TCP][0]
		via := nodes[0]
		if via == owner {
			via = nodes[1]
		}
		before := make([]clusterStats, len(nodes))
		for i, n := range nodes {
			before[i] = mustClusterStats(t, n)
		}
		if _, err := via.fun.LcGet(t.Context(), rc, key); !isMiss(err) {
			t.Fatalf("lc_get %q through %s = %v, want TCacheMissed", key, via.TCP, err)
		}
		for i, n := range nodes {
			after := mustClusterStats(t, n)
			want := uint64(0)
			if n == owner {
				want = 1
			}
			if got := after.Received - before[i].Received; got != want {
				t.Errorf("one lc_get %q through %s: %s received %d calls, want %d (the test computes owner %s)", key, via.TCP, n.TCP, got, want, owner.TCP)
			}
		}
		if got := mustClusterStats(t, via).forwarded(owner.TCP) - before[slices.Index(nodes, via)].forwarded(owner.TCP); got != 1 {
			t.Errorf("%s forwarded %d calls to %s, want 1", via.TCP, got, owner.TCP)
		}
	}
}

// checkOwnerCrash kills the owner of a key and checks that the survivors
// take the key over once its ZooKeeper session expires, and that an
// idempotent call made at once succeeds by its retry after the map changes.
func checkOwnerCrash(t *testing.T, nodes []*node, m clusterMap) {
	ctx := t.Context()
	victim, via, other := nodes[2], nodes[0], nodes[1]
	key := keysByOwner(m, "crash", 1)[victim.TCP][0]
	lockKey := keysByOwner(m, "crashlock", 1)[victim.TCP][0]
	if ok, err := via.fun.LcSet(ctx, rc, key, []byte("before")); err != nil || !ok {
		t.Fatalf("lc_set %q through %s = %v, %v", key, via.TCP, ok, err)
	}
	killed := time.Now()
	victim.Kill(t)

	// Not idempotent: answered at once with an error naming the owner.
	_, err := via.fun.Lock(ctx, rc, "cluster.test", lockKey)
	if err == nil || !strings.Contains(err.Error(), victim.TCP) {
		t.Errorf("lock %q through %s right after its owner %s died: err %v, want an error naming the owner", lockKey, via.TCP, victim.TCP, err)
	} else {
		t.Logf("lock right after the owner died: %v", err)
	}
	// Idempotent: waits for the map to change, then runs on the new owner.
	if ok, err := via.fun.LcSet(ctx, rc, key, []byte("after")); err != nil || !ok {
		t.Fatalf("lc_set %q through %s right after its owner %s died = %v, %v; want the retry on the new owner to succeed", key, via.TCP, victim.TCP, ok, err)
	}
	retried := time.Since(killed)
	if s := mustClusterStats(t, via); slices.Contains(s.Members, victim.TCP) {
		t.Errorf("lc_set returned while %s still lists %s: %v (it cannot have retried on a new owner)", via.TCP, victim.TCP, s.Members)
	}
	survivors := []*node{via, other}
	m2 := waitMap(t, survivors, 15*time.Second)
	t.Logf("idempotent call retried after %v; survivors agreed on map %d %v after %v",
		retried.Round(time.Millisecond), m2.Version, m2.Counts, time.Since(killed).Round(time.Millisecond))
	for _, n := range survivors {
		if got, err := n.fun.LcGet(ctx, rc, key); err != nil || string(got) != "after" {
			t.Errorf("lc_get %q through %s (new owner %s) = %q, %v; want \"after\"", key, n.TCP, m2.owner(key), got, err)
		}
	}
	if ok, err := other.fun.Lock(ctx, rc, "cluster.test", lockKey); err != nil || !ok {
		t.Errorf("lock %q through %s after failover = %v, %v; want true", lockKey, other.TCP, ok, err)
	}
	if ok, err := via.fun.Lock(ctx, rc, "cluster.test", lockKey); err != nil || ok {
		t.Errorf("lock %q through %s while held = %v, %v; want false", lockKey, via.TCP, ok, err)
	}
	if err := via.fun.Unlock(ctx, rc, "cluster.test", lockKey); err != nil {
		t.Errorf("unlock %q through %s: %v", lockKey, via.TCP, err)
	}
}

// checkRouted exercises routed calls on keys of every owner in m,
// writing through one node and reading through the next.
func checkRouted(t *testing.T, nodes []*node, m clusterMap, prefix string) {
	t.Helper()
	ctx := t.Context()
	for i, key := range allKeys(m, keysByOwner(m, prefix, 2)) {
		a, b := nodes[i%len(nodes)], nodes[(i+1)%len(nodes)]
		if ok, err := a.fun.LcSet(ctx, rc, key, []byte(key)); err != nil || !ok {
			t.Fatalf("lc_set %q (owner %s) through %s = %v, %v", key, m.owner(key), a.TCP, ok, err)
		}
		if got, err := b.fun.LcGet(ctx, rc, key); err != nil || string(got) != key {
			t.Fatalf("lc_get %q (owner %s) through %s = %q, %v", key, m.owner(key), b.TCP, got, err)
		}
		if ok, err := a.fun.Lock(ctx, rc, "cluster.test", key); err != nil || !ok {
			t.Fatalf("lock %q (owner %s) through %s = %v, %v", key, m.owner(key), a.TCP, ok, err)
		}
		if ok, err := b.fun.Lock(ctx, rc, "cluster.test", key); err != nil || ok {
			t.Fatalf("lock %q (owner %s) through %s while held = %v, %v", key, m.owner(key), b.TCP, ok, err)
		}
		if err := b.fun.Unlock(ctx, rc, "cluster.test", key); err != nil {
			t.Fatalf("unlock %q through %s: %v", key, b.TCP, err)
		}
	}
}

// TestClusterZooKeeperOutage stops ZooKeeper under a running cluster for
// longer than a session lasts: the nodes keep the last map and member list,
// say it is stale, refuse ids (their worker id claim cannot be vouched for)
// and, once a session timeout has passed, the routed calls of their own
// vbuckets (another node may be given them), and rejoin by themselves when
// ZooKeeper is back.
func TestClusterZooKeeperOutage(t *testing.T) {
	zk := testserver.StartZooKeeper(t)
	nodes := startNodes(t, clusterOpts{zookeeper: []string{zk.Addr}, sessionTimeout: "2s", firstWorker: 1}, 3)
	m := waitMap(t, nodes, 10*time.Second)

	zk.Stop()
	down := time.Now()
	testserver.EventuallyNil(t, "every node to mark its members stale", 10*time.Second, func() error {
		return eachNode(nodes, func(n *node, s clusterStats) error {
			if !s.Stale || s.WorkerHeld {
				return fmt.Errorf("%s: stale %v, worker id held %v, zookeeper %q", n.TCP, s.Stale, s.WorkerHeld, s.ZooKeeper)
			}
			return nil
		})
	})
	for _, n := range nodes {
		if id, err := n.fun.IDNext(t.Context(), rc); err == nil {
			t.Errorf("id_next through %s without zookeeper = %d; want it refused", n.TCP, id)
		}
	}
	// Past a session timeout without ZooKeeper a node's session may have
	// expired and its vbuckets be given away: it stops serving them.
	key := ""
	for i := 0; key == ""; i++ {
		if k := fmt.Sprintf("outage-%d", i); m.owner(k) == nodes[0].TCP {
			key = k
		}
	}
	testserver.EventuallyNil(t, "routed calls refused once a session timeout passed without zookeeper", 10*time.Second, func() error {
		ok, err := nodes[0].fun.LcSet(t.Context(), rc, key, []byte("v"))
		if err == nil || !strings.Contains(err.Error(), "no ZooKeeper session") {
			return fmt.Errorf("lc_set %q on its owner %s = %v, %v; want refused for want of a session", key, nodes[0].TCP, ok, err)
		}
		return nil
	})
	t.Logf("routed calls refused %v after zookeeper went down", time.Since(down).Round(time.Millisecond))
	if err := eachNode(nodes, func(n *node, s clusterStats) error {
		if !slices.Equal(s.Members, m.members()) || !s.Stale {
			return fmt.Errorf("%s: members %v (stale %v), want the last known %v", n.TCP, s.Members, s.Stale, m.members())
		}
		return sameMap(n, m)
	}); err != nil {
		t.Error(err)
	}

	zk.Restart()
	back := time.Now()
	m = waitMap(t, nodes, 20*time.Second)
	testserver.EventuallyNil(t, "every node to hold its worker id again", 10*time.Second, func() error {
		return eachNode(nodes, func(n *node, s clusterStats) error {
			if !s.WorkerHeld {
				return fmt.Errorf("%s: worker id %d not held", n.TCP, s.WorkerID)
			}
			return nil
		})
	})
	for _, n := range nodes {
		s := mustClusterStats(t, n)
		t.Logf("%s fresh %v after zookeeper restarted: map %d, %d registrations, %d session expiries",
			n.TCP, time.Since(back).Round(time.Millisecond), m.Version, s.Registrations, s.SessionExpiries)
		if _, err := n.fun.IDNext(t.Context(), rc); err != nil {
			t.Errorf("id_next through %s after zookeeper is back: %v", n.TCP, err)
		}
	}
	checkRouted(t, nodes, m, "rejoined")
}

// eachNode reads every node's cluster stats and checks them with check.
func eachNode(nodes []*node, check func(*node, clusterStats) error) error {
	for _, n := range nodes {
		s, err := readClusterStats(n.Faed)
		if err != nil {
			return err
		}
		if err := check(n, s); err != nil {
			return err
		}
	}
	return nil
}

// sameMap checks that n serves the map m, of the same version.
func sameMap(n *node, m clusterMap) error {
	got, err := readMap(n.Faed)
	switch {
	case err != nil:
		return err
	case got.Version != m.Version || !slices.Equal(got.Owners, m.Owners):
		return fmt.Errorf("%s: map %d %v, want the last known %d %v", n.TCP, got.Version, got.Counts, m.Version, m.Counts)
	}
	return nil
}

// TestClusterZooKeeperEnsemble stops ZooKeeper servers of a three-server
// ensemble one at a time under two faed nodes: first one a node is connected
// to, then the leader. The nodes keep their sessions, so the map never
// changes, and routed calls between them never fail.
func TestClusterZooKeeperEnsemble(t *testing.T) {
	zks := testserver.StartZooKeeperEnsemble(t, 3)
	addrs := make([]string, len(zks))
	for i, z := range zks {
		addrs[i] = z.Addr
	}
	// A leader election takes a few ticks; a generous session rides it out.
	nodes := startNodes(t, clusterOpts{zookeeper: addrs, sessionTimeout: "6s", firstWorker: 1}, 2)
	m := waitMap(t, nodes, 10*time.Second)
	load := startRoutedLoad(t, nodes, m)

	connected := busiestZooKeeper(t, zks)
	t.Logf("stopping zookeeper %d (%s, %s) with %d faed client(s)", connected.ID, connected.Addr, connected.Mode(), zkClients(connected.Addr))
	connected.Stop()
	waitReconnected(t, nodes, zks, m)
	connected.Restart()

	leader := findLeader(t, zks)
	t.Logf("stopping zookeeper %d (%s), the leader, with %d faed client(s)", leader.ID, leader.Addr, zkClients(leader.Addr))
	leader.Stop()
	// A new leader means the followers went through an election, which
	// drops their clients: every node has been disconnected.
	t.Logf("zookeeper %d leads now", findLeader(t, zks).ID)
	waitReconnected(t, nodes, zks, m)

	calls, err := load.stop()
	if err != nil {
		t.Errorf("routed calls failed while zookeeper servers went down: %v", err)
	}
	if calls < 10 {
		t.Errorf("only %d routed calls ran during the test", calls)
	}
	t.Logf("%d routed calls, none failed", calls)
}

// waitReconnected waits until the running servers have every node as a
// client again, and checks that each node kept its session: no expiry, one
// registration, the members and the map unchanged.
func waitReconnected(t *testing.T, nodes []*node, zks []*testserver.ZooKeeper, m clusterMap) {
	t.Helper()
	testserver.EventuallyNil(t, "every node to be connected to a running zookeeper again", 20*time.Second, func() error {
		clients := 0
		for _, z := range zks {
			clients += zkClients(z.Addr)
		}
		if clients != len(nodes) {
			return fmt.Errorf("running zookeeper servers have %d clients, want %d", clients, len(nodes))
		}
		return eachNode(nodes, func(n *node, s clusterStats) error {
			switch {
			case s.SessionExpiries != 0 || s.Registrations != 1:
				return fmt.Errorf("%s noticed: %d session expiries, %d registrations", n.TCP, s.SessionExpiries, s.Registrations)
			case !slices.Equal(s.Members, m.members()):
				return fmt.Errorf("%s: members changed to %v", n.TCP, s.Members)
			case sameMap(n, m) != nil:
				return sameMap(n, m)
			case s.ZooKeeper != "HasSession" || s.Stale || !s.WorkerHeld:
				return fmt.Errorf("%s: zookeeper %q, stale %v (%s), worker id held %v", n.TCP, s.ZooKeeper, s.Stale, s.StaleReason, s.WorkerHeld)
			}
			return nil
		})
	})
	for _, n := range nodes {
		if s := mustClusterStats(t, n); s.SessionExpiries != 0 || s.Registrations != 1 {
			t.Fatalf("%s noticed the zookeeper failover: %d session expiries, %d registrations", n.TCP, s.SessionExpiries, s.Registrations)
		}
	}
}

// busiestZooKeeper returns the running server with the most clients: one
// that a faed node is connected to.
func busiestZooKeeper(t *testing.T, zks []*testserver.ZooKeeper) *testserver.ZooKeeper {
	t.Helper()
	var best *testserver.ZooKeeper
	most := 0
	for _, z := range zks {
		if n := zkClients(z.Addr); n > most {
			best, most = z, n
		}
	}
	if best == nil {
		t.Fatal("no zookeeper server reports a client")
	}
	return best
}

// zkClients is how many clients the server at addr serves, or 0 if it does
// not answer: the "Connections:" count of srvr, less the connection srvr
// itself is asked on, which ZooKeeper 3.8 counts.
func zkClients(addr string) int {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return 0
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("srvr")); err != nil {
		return 0
	}
	out, _ := io.ReadAll(conn)
	for _, line := range strings.Split(string(out), "\n") {
		var n int
		if _, err := fmt.Sscanf(line, "Connections: %d", &n); err == nil && n > 0 {
			return n - 1
		}
	}
	return 0
}

func findLeader(t *testing.T, zks []*testserver.ZooKeeper) *testserver.ZooKeeper {
	t.Helper()
	var leader *testserver.ZooKeeper
	testserver.EventuallyNil(t, "a zookeeper leader", 20*time.Second, func() error {
		for _, z := range zks {
			if z.Mode() == "leader" {
				leader = z
				return nil
			}
		}
		return errors.New("no server reports Mode: leader")
	})
	return leader
}

// routedLoad makes routed calls between two nodes in the background.
type routedLoad struct {
	done  chan struct{}
	wg    sync.WaitGroup
	calls atomic.Int64
	mu    sync.Mutex // guards err
	err   error
}

// startRoutedLoad sets a key owned by one node through the other and reads
// it back through the first, for keys of both, until stop.
func startRoutedLoad(t *testing.T, nodes []*node, m clusterMap) *routedLoad {
	t.Helper()
	l := &routedLoad{done: make(chan struct{})}
	a, b := dialNode(t, nodes[0].TCP), dialNode(t, nodes[1].TCP)
	keys := allKeys(m, keysByOwner(m, "load", 1))
	l.wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-l.done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if err := routedRoundTrip(a, b, keys[i%len(keys)], i); err != nil {
				l.mu.Lock()
				l.err = errors.Join(l.err, fmt.Errorf("%s: %w", time.Now().Format("15:04:05.000"), err))
				l.mu.Unlock()
			}
			l.calls.Add(2)
		}
	})
	t.Cleanup(func() { l.stop() })
	return l
}

func routedRoundTrip(a, b *rpc.FunServantClient, key string, i int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	val := fmt.Sprintf("%s=%d", key, i)
	if ok, err := a.LcSet(ctx, rc, key, []byte(val)); err != nil || !ok {
		return fmt.Errorf("lc_set %q = %v, %v", key, ok, err)
	}
	if got, err := b.LcGet(ctx, rc, key); err != nil || string(got) != val {
		return fmt.Errorf("lc_get %q = %q, %v; want %q", key, got, err, val)
	}
	return nil
}

// stop ends the load and returns how many calls ran and what failed. It is
// idempotent.
func (l *routedLoad) stop() (int64, error) {
	select {
	case <-l.done:
	default:
		close(l.done)
	}
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls.Load(), l.err
}

// TestClusterDuplicateWorkerID starts a second node with a worker id a live
// node holds: it must refuse to start and name the holder. Once the holder
// shuts down cleanly the id is free again.
func TestClusterDuplicateWorkerID(t *testing.T) {
	zk := testserver.StartZooKeeper(t)
	o := clusterOpts{zookeeper: []string{zk.Addr}, sessionTimeout: "2s", firstWorker: 5}
	holder := startNodes(t, o, 1)[0]
	if s := mustClusterStats(t, holder); s.WorkerID != 5 || !s.WorkerHeld {
		t.Fatalf("%s holds worker %d (held %v), want 5", holder.TCP, s.WorkerID, s.WorkerHeld)
	}

	second := testserver.NewFaed(t, t.TempDir())
	second.WriteConfig(t, nodeToml(o, 5))
	second.Launch(t)
	select {
	case <-second.Done():
		err := second.Err()
		log := second.Log.String()
		if err == nil {
			t.Fatalf("second node with worker id 5 exited 0; want non-zero. Log:\n%s", log)
		}
		if !strings.Contains(log, "worker id") || !strings.Contains(log, holder.TCP) {
			t.Fatalf("second node's log does not name the holder %s of worker id 5:\n%s", holder.TCP, log)
		}
		t.Logf("second node refused to start (%v): %s", err, strings.TrimSpace(log))
	case <-time.After(15 * time.Second):
		t.Fatal("second node with a taken worker id still running after 15s")
	}
	if id, err := holder.fun.IDNext(t.Context(), rc); err != nil || (id>>12)&31 != 5 {
		t.Errorf("id_next on the holder = %d (worker %d), %v; want worker 5", id, (id>>12)&31, err)
	}

	if err := holder.Stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("holder exit after SIGTERM: %v", err)
	}
	third := startNodes(t, o, 1)[0]
	if s := mustClusterStats(t, third); s.WorkerID != 5 || !s.WorkerHeld {
		t.Errorf("after the holder stopped, %s holds worker %d (held %v), want 5", third.TCP, s.WorkerID, s.WorkerHeld)
	}
}

// TestPHPClusterCoherence runs testdata/cluster.php, which picks one of
// three nodes at random for every call, as the original's TSocketPool did.
func TestPHPClusterCoherence(t *testing.T) {
	requireInstalled(t, scriptClient{
		probe: []string{"php", "-r", `require "../../idl/php/autoload.php";
			if (!class_exists("Thrift\\Transport\\TSocket")) {
				echo "no Thrift\\Transport\\TSocket under ", getenv("FAE_THRIFT_LIB") ?: "/usr/lib/php";
				exit(3);
			}`},
		install: "php-cli and php-thrift",
	})
	zk := testserver.StartZooKeeper(t)
	nodes := startNodes(t, clusterOpts{zookeeper: []string{zk.Addr}, sessionTimeout: "2s", firstWorker: 1}, 3)
	waitMap(t, nodes, 10*time.Second)

	args := []string{"testdata/cluster.php"}
	for _, n := range nodes {
		args = append(args, "tcp:"+n.TCP)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "php", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("php %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if !strings.Contains(string(out), "checks ok") {
		t.Fatalf("php %s: output %q lacks \"checks ok\"", strings.Join(args, " "), out)
	}
	t.Log(strings.TrimSpace(string(out)))
	for _, n := range nodes {
		if s := mustClusterStats(t, n); s.Received == 0 || s.forwarded("") == 0 {
			t.Errorf("%s: received %d, forwarded %d; want both > 0 after random routing", n.TCP, s.Received, s.forwarded(""))
		}
	}
}
