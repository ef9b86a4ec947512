package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/scripts/testserver"
)

// The replica scenarios of issue 9 (SPEC §5.4): nodes with one replica per
// vbucket lose an active owner to kill -9, or to a cut from ZooKeeper,
// under a load from a Go and a Python client through the nodes that stay.
// After each, every acknowledged kvdb value is read through every node
// and every held lock is still held, lost with nobody; only lcache entries
// of the lost node's vbuckets may be gone (caches are not replicated), and
// client calls fail only for its vbuckets, only until the failover.

// replicaOpts are the nodes of one scenario. leave_grace is far longer
// than any scenario: a vbucket that moves to a new owner before it does
// moves by failover to its replica.
func replicaOpts(zk, name string, firstWorker int) clusterOpts {
	return clusterOpts{zookeeper: []string{zk}, sessionTimeout: "2s", firstWorker: firstWorker, root: "/fae/replicas/" + name,
		vbuckets: 64, replicas: 1, extra: `leave_grace = "120s"
failover_delay = "3s"
max_moves = 4
move_batch_keys = 100
[engine]
call_timeout = "20s"
[servant]
forward_retry_wait = "5s"
`}
}

func TestReplicas(t *testing.T) {
	requireInstalled(t, scriptClient{
		probe:   []string{"/usr/bin/python3", "-c", "import thrift.transport.TSocket"},
		install: "/usr/bin/python3 with python3-thrift",
	})
	server := testserver.StartZooKeeper(t)
	t.Run("kill -9 two owners one after the other, then both rejoin", func(t *testing.T) { checkKillTwice(t, server.Addr) })
	t.Run("an owner cut from zookeeper stops before its replica takes over", func(t *testing.T) { checkCutFromZooKeeper(t, server.Addr) })
	t.Run("a replica that stops answering is dropped, then rebuilt", func(t *testing.T) { checkReplicaStalled(t, server.Addr) })
}

// checkReplicaStalled: three nodes; a replica is stopped (SIGSTOP) while
// its session, long here, lives on. Writes to vbuckets it is a replica of
// are acknowledged once the owner dropped it from their replicas, which the
// first write waits replica_timeout for; the others find it dropped. Once
// it runs again, it becomes a replica again and has every write.
func checkReplicaStalled(t *testing.T, zk string) {
	o := replicaOpts(zk, "stall", 1)
	o.sessionTimeout = "30s"
	nodes := startNodes(t, o, 3)
	m := waitReplicated(t, nodes, 30*time.Second)
	owner, stalled := nodes[0], pickVictims(m, nodes, 1)[0]
	checkVBucketCallsRefused(t, stalled, m)
	var keys []string
	for i := 0; len(keys) < 20; i++ {
		k := fmt.Sprintf("stall-%d", i)
		if vb := m.vbucket(k); m.Owners[vb] == owner.TCP && slices.Contains(m.Replicas[vb], stalled.TCP) {
			keys = append(keys, k)
		}
	}
	stalled.Freeze(t)
	stopped := true
	defer func() {
		if stopped {
			stalled.Thaw()
		}
	}()
	began := time.Now()
	for _, k := range keys {
		if ok, err := owner.fun.KvdbSet(t.Context(), rc, []byte(k), []byte("v-"+k)); err != nil || !ok {
			t.Fatalf("kvdb_set %q through its owner with its replica stopped = %v, %v", k, ok, err)
		}
	}
	took := time.Since(began)
	t.Logf("%d writes with their replica stopped took %v", len(keys), took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("%d writes took %v: each waited for the stopped replica instead of finding it dropped", len(keys), took)
	}
	after := mustMap(t, owner)
	for _, k := range keys {
		if vb := after.vbucket(k); slices.Contains(after.Replicas[vb], stalled.TCP) {
			t.Errorf("map %d still lists the stopped %s as a replica of vbucket %d", after.Version, stalled.TCP, vb)
		}
	}
	if s, err := readRouting(owner.Faed); err != nil || s.ReplicaDropped == 0 {
		t.Errorf("owner's routing stats %+v, %v: want replica_dropped counted", s, err)
	}
	stalled.Thaw()
	stopped = false
	waitReplicated(t, nodes, 60*time.Second)
	want := wantKV{}
	for _, k := range keys {
		want[k] = "v-" + k
	}
	onEveryNode(t, nodes, func(n *node) []string { return kvdbWrong(n, want) })
}

// checkKillTwice: four nodes; one is killed under load, then, once its
// vbuckets failed over and their replicas were rebuilt, a second; then both
// come back on their own dirs and get their share again, serving nothing
// stale.
func checkKillTwice(t *testing.T, zk string) {
	o := replicaOpts(zk, "kill", 1)
	nodes := startNodes(t, o, 4)
	m0 := waitReplicated(t, nodes, 30*time.Second)
	ds := seed(t, nodes[0], "r-")
	want := wantAfter(ds.kv)

	live := slices.Clone(nodes)
	var killed []*node
	for round, victim := range pickVictims(m0, nodes, 2) {
		live = slices.DeleteFunc(live, func(n *node) bool { return n == victim })
		l := startLoad(t, ds, live)
		l.warm(t)
		before := mustMap(t, live[0])
		t.Logf("round %d: killing %s, active owner of %d vbuckets", round+1, victim.TCP, before.Counts[victim.TCP])
		out := crash(t, victim, live, before)
		killedAt := time.Now()
		failedOver := waitFailedOver(t, live, victim.TCP, 30*time.Second)
		m := waitReplicated(t, live, 60*time.Second)
		out.back = time.Now()
		res := l.stop(t)
		reportOutage(t, res, out, killedAt, failedOver)
		checkReplicaStats(t, live)
		checkFailures(t, m, res, out)
		want.add(res)
		checkReplicated(t, live, m, ds, want, out)
		reseedLC(t, live[0], ds)
		killed = append(killed, victim)
	}
	for _, victim := range killed {
		back := restartNode(t, victim, live)
		live = append(live, back)
	}
	m := waitReplicated(t, live, 60*time.Second)
	logRebalance(t, m)
	checkReplicated(t, live, m, ds, want, &outage{vbuckets: map[int]bool{}})
}

// pickVictims returns n nodes to kill in turn: never the coordinator (its
// successor's failover clock starts with its term, which makes the window
// longer than the one measured here) and not nodes[0], the seeding node.
func pickVictims(m clusterMap, nodes []*node, n int) []*node {
	var out []*node
	for _, c := range nodes[1:] {
		if c.TCP != m.Coordinator && len(out) < n {
			out = append(out, c)
		}
	}
	return out
}

// reseedLC writes the dataset's lcache entries again through via, as an
// application refills a cache: those of a killed owner's vbuckets were lost
// with it.
func reseedLC(t *testing.T, via *node, ds dataset) {
	t.Helper()
	for k, v := range ds.lc {
		if ok, err := via.fun.LcSet(t.Context(), rc, k, []byte(v)); err != nil || !ok {
			t.Fatalf("lc_set %q through %s = %v, %v", k, via.TCP, ok, err)
		}
	}
}

// wantKV is the kvdb value every node must answer for each key.
type wantKV map[string]string

func wantAfter(seeded map[string]string) wantKV {
	w := wantKV{}
	for k, v := range seeded {
		w[k] = v
	}
	return w
}

// add applies a load's acknowledged writes; a key whose last write failed
// may hold either value and is not checked.
func (w wantKV) add(res loadResult) {
	for k, v := range res.Acked {
		w[k] = v
	}
	for _, k := range res.Uncertain {
		delete(w, k)
	}
}

// checkReplicated checks nodes after a change: every acknowledged kvdb
// value, lcache entries but those of out's vbuckets, every held lock held
// (replicated: none may be lost), nothing served off its owner.
func checkReplicated(t *testing.T, nodes []*node, m clusterMap, ds dataset, want wantKV, out *outage) {
	t.Helper()
	t.Logf("checking %d kvdb values, %d lcache keys, %d held locks through %d nodes", len(want), len(ds.lc), len(ds.held), len(nodes))
	onEveryNode(t, nodes, func(n *node) []string { return kvdbWrong(n, want) })
	lost := func(key string) bool { return out.vbuckets[m.vbucket(key)] }
	onEveryNode(t, nodes, func(n *node) []string { return lcacheWrong(n, ds.lc, lost) })
	checkHeld(t, nodes, ds.held, func(string) bool { return false })
	checkServedOwnedOnly(t, nodes)
}

// checkReplicaStats checks that the live nodes replicated writes, and that
// the writes that found a replica gone (the killed node, until its session
// ended) dropped it rather than failed.
func checkReplicaStats(t *testing.T, live []*node) {
	t.Helper()
	var replicated, dropped uint64
	for _, n := range live {
		s, err := readRouting(n.Faed)
		if err != nil {
			t.Fatal(err)
		}
		replicated, dropped = replicated+s.Replicated, dropped+s.ReplicaDropped
	}
	t.Logf("writes replicated: %d; replicas dropped for not answering: %d", replicated, dropped)
	if replicated == 0 {
		t.Error("no write reached a replica")
	}
}

// checkVBucketCallsRefused calls each vb_* method on n as a client would,
// without the cluster's peer token: a forged push or replication would
// otherwise plant values a failover serves. Each must be refused.
func checkVBucketCallsRefused(t *testing.T, n *node, m clusterMap) {
	t.Helper()
	ctx := t.Context()
	var vb int32 // a vbucket n holds a replica of: vb_replicate's target
	for v, rs := range m.Replicas {
		if slices.Contains(rs, n.TCP) {
			vb = int32(v)
		}
	}
	forged := &rpc.VBucketBatch{Vbucket: vb, Kvdb: []*rpc.VBucketItem{{Key: []byte("forged"), Value: []byte("forged")}}}
	calls := map[string]func() error{
		"vb_replicate": func() error { _, err := n.fun.VbReplicate(ctx, rc, forged, int64(m.Version)); return err },
		"vb_push":      func() error { _, err := n.fun.VbPush(ctx, rc, forged, 0); return err },
		"vb_pull":      func() error { _, err := n.fun.VbPull(ctx, rc, vb, 1, nil, 0); return err },
		"vb_drop":      func() error { _, err := n.fun.VbDrop(ctx, rc, vb, 0); return err },
	}
	for name, call := range calls {
		if err := call(); err == nil || !strings.Contains(err.Error(), "peer token") {
			t.Errorf("%s from a client through %s: %v, want refused for want of the peer token", name, n.TCP, err)
		}
	}
}

// waitReplicated waits for a settled map (see waitSettled) in which every
// vbucket has its replicas, and returns it.
func waitReplicated(t *testing.T, nodes []*node, timeout time.Duration) clusterMap {
	t.Helper()
	var m clusterMap
	testserver.EventuallyNil(t, fmt.Sprintf("a balanced map of %d nodes, every vbucket replicated", len(nodes)), timeout, func() (err error) {
		if m, err = mapSettled(nodes); err != nil {
			return err
		}
		return checkReplicas(m, addrsOf(nodes))
	})
	return m
}

// checkReplicas checks that each vbucket has ReplicaSlots replicas, all
// members, none its active owner.
func checkReplicas(m clusterMap, members []string) error {
	if want := min(1, len(members)-1); m.ReplicaSlots != want {
		return fmt.Errorf("map %d: %d replica slots, want %d", m.Version, m.ReplicaSlots, want)
	}
	for vb, rs := range m.Replicas {
		if len(rs) != m.ReplicaSlots {
			return fmt.Errorf("map %d: vbucket %d has replicas %v, want %d", m.Version, vb, rs, m.ReplicaSlots)
		}
		for _, r := range rs {
			if r == m.Owners[vb] || !slices.Contains(members, r) {
				return fmt.Errorf("map %d: vbucket %d (owner %s) has replica %s", m.Version, vb, m.Owners[vb], r)
			}
		}
	}
	return nil
}

// waitFailedOver waits until no live node's map gives a vbucket to victim
// and returns when that was first seen.
func waitFailedOver(t *testing.T, live []*node, victim string, timeout time.Duration) time.Time {
	t.Helper()
	testserver.EventuallyNil(t, "the vbuckets of "+victim+" to fail over", timeout, func() error {
		for _, n := range live {
			m, err := readMap(n.Faed)
			if err != nil {
				return err
			}
			if c := m.Counts[victim]; c > 0 {
				return fmt.Errorf("%s: map %d still gives %d vbuckets to %s", n.TCP, m.Version, c, victim)
			}
		}
		return nil
	})
	return time.Now()
}

// reportOutage logs how long the killed owner's vbuckets were unavailable
// to the load: the first and last failed call after the kill.
func reportOutage(t *testing.T, res loadResult, out *outage, killed, failedOver time.Time) {
	t.Helper()
	var first, last time.Time
	n := 0
	for _, f := range res.Failures {
		at := time.Unix(0, int64(f.Unix*1e9))
		if !out.vbuckets[vbucketOfKey(f.Key)] || at.Before(out.killed) {
			continue
		}
		n++
		if first.IsZero() || at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
	}
	t.Logf("unavailability: the map failed over %v after the kill; %d calls for the killed owner's vbuckets failed, the last %v after the kill (first %v)",
		failedOver.Sub(killed).Round(10*time.Millisecond), n, last.Sub(killed).Round(10*time.Millisecond), first.Sub(killed).Round(10*time.Millisecond))
}

// vbucketOfKey is clusterMap.vbucket for the scenarios' 64 vbuckets.
func vbucketOfKey(key string) int { return clusterMap{VBuckets: 64}.vbucket(key) }

// checkCutFromZooKeeper: three nodes, one of them reaching ZooKeeper
// through a proxy the test cuts. The load writes through all three, the
// cut one included: it must stop acknowledging writes for its vbuckets
// before their replicas are promoted, so every value acknowledged through
// any node is the one read afterwards. Then the proxy lets it through
// again: it rejoins and serves nothing stale.
func checkCutFromZooKeeper(t *testing.T, zk string) {
	proxy := testserver.StartProxy(t, zk)
	o := replicaOpts(zk, "cut", 1)
	nodes := startNodes(t, o, 2)
	po := replicaOpts(proxy.Addr, "cut", 3)
	cut := startNodes(t, po, 1)[0]
	all := append(nodes, cut)
	waitReplicated(t, all, 30*time.Second)
	ds := seed(t, nodes[0], "c-")
	want := wantAfter(ds.kv)
	l := startLoad(t, ds, all)
	l.warm(t)
	before := mustMap(t, nodes[0])
	t.Logf("cutting %s, active owner of %d vbuckets, from zookeeper", cut.TCP, before.Counts[cut.TCP])
	out := &outage{node: cut, victim: cut.TCP, vbuckets: before.ownedBy(cut.TCP), killed: time.Now().Add(-time.Second)}
	proxy.Cut(true)
	failedOver := waitFailedOver(t, nodes, cut.TCP, 30*time.Second)
	// Writes through the cut node go on a while after the failover: any it
	// acknowledged for vbuckets now on their replicas would be lost.
	time.Sleep(2 * time.Second)
	proxy.Cut(false)
	m := waitReplicated(t, all, 60*time.Second)
	out.back = time.Now()
	res := l.stop(t)
	reportOutage(t, res, out, out.killed.Add(time.Second), failedOver)
	checkFailures(t, m, res, out)
	want.add(res)
	checkReplicated(t, all, m, ds, want, out)
}
