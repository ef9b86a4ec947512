package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faed/faed/scripts/testserver"
)

// The cluster half of the fault matrix (SPEC §13, issue 12): a node's
// ZooKeeper session expiring, a peer killed -9 mid-forward, and an
// ensemble losing its leader under faed nodes that also serve zk_*. Each
// ends with both nodes serving again, neither restarted by the test
// except the one killed.

// faultClusterOpts: no replicas, so a forwarded call has no one else to
// go to; a leave grace longer than the test, so the map keeps the lost
// node's vbuckets and they come back with it; a peer breaker retrying
// after a second, so recovery is bounded by it.
func faultClusterOpts(zk []string, root string) clusterOpts {
	return clusterOpts{zookeeper: zk, sessionTimeout: "2s", firstWorker: 1, root: root, vbuckets: 64, extra: `leave_grace = "120s"
call_timeout = "2s"
[cluster.peer_breaker]
failure_threshold = 3
retry_interval = "1s"
[engine]
call_timeout = "4s"
[servant]
forward_retry_wait = "1s"
`}
}

// faultCallTimeout is [engine] call_timeout of faultClusterOpts: no call
// may take longer.
const faultCallTimeout = 4 * time.Second

func TestFaultCluster(t *testing.T) {
	zk := testserver.StartZooKeeper(t)
	nodes := startNodes(t, faultClusterOpts([]string{zk.Addr}, "/fae/faults"), 2)
	m := waitMap(t, nodes, 20*time.Second)
	if !t.Run("session expiry", func(t *testing.T) { checkSessionExpiry(t, nodes, m) }) {
		return
	}
	t.Run("peer killed -9 mid-forward", func(t *testing.T) { checkPeerKilled(t, nodes, m) })
}

// checkSessionExpiry freezes node B (SIGSTOP) past its session timeout,
// so ZooKeeper expires its session and A sees it leave; thawed, B must
// notice, open a new session, register again, and both serve B's keys
// and A's as before.
func checkSessionExpiry(t *testing.T, nodes []*node, m clusterMap) {
	a, b := nodes[0], nodes[1]
	keys := keysByOwner(m, "expiry", 1)
	aKey, bKey := keys[a.TCP][0], keys[b.TCP][0]
	before := mustClusterStats(t, b)

	b.Freeze(t)
	thawed := false
	thaw := func() {
		if !thawed {
			thawed = true
			b.Thaw()
		}
	}
	defer thaw()
	frozen := time.Now()
	// Before its session ends the frozen node is still a member: a call
	// forwarded to it meets a peer that accepts and never answers, and
	// must end at [cluster] call_timeout (2s) with an error naming it.
	_, err := a.fun.Lock(t.Context(), rc, "faults", bKey)
	if took := time.Since(frozen); err == nil || !strings.Contains(err.Error(), b.TCP) || took < 1900*time.Millisecond || took > 3*time.Second {
		t.Errorf("lock %q (owner %s, frozen, still a member) through %s: %v after %v; want an error naming the owner at [cluster] call_timeout 2s", bKey, b.TCP, a.TCP, err, took)
	} else {
		t.Logf("lock on the frozen owner's key, still a member, answered after %v: %v", took.Round(time.Millisecond), err)
	}
	testserver.EventuallyNil(t, a.TCP+" to see the frozen node's session end", 15*time.Second, func() error {
		s := mustClusterStats(t, a)
		if !slices.Equal(s.Members, []string{a.TCP}) {
			return fmt.Errorf("members %v", s.Members)
		}
		return nil
	})
	expired := time.Since(frozen)
	// A serves its own keys; B's answer an error naming B at once.
	if ok, err := a.fun.LcSet(t.Context(), rc, aKey, []byte("during")); err != nil || !ok {
		t.Errorf("lc_set %q (owner %s) through its owner while the peer is frozen: %v, %v", aKey, a.TCP, ok, err)
	}
	start := time.Now()
	_, err = a.fun.Lock(t.Context(), rc, "faults", bKey)
	if took := time.Since(start); err == nil || !strings.Contains(err.Error(), b.TCP) || took > 500*time.Millisecond {
		t.Errorf("lock %q (owner %s, frozen, gone from the members) through %s: %v after %v; want an error naming the owner at once", bKey, b.TCP, a.TCP, err, took)
	} else {
		t.Logf("lock on the frozen owner's key, gone from the members, answered after %v: %v", took.Round(time.Microsecond), err)
	}

	thaw()
	back := time.Now()
	testserver.EventuallyNil(t, "the thawed node to register again and both to agree", 20*time.Second, func() error {
		if err := membersAgreed(nodes); err != nil {
			return err
		}
		s := mustClusterStats(t, b)
		switch {
		case s.SessionExpiries <= before.SessionExpiries || s.Registrations <= before.Registrations:
			return fmt.Errorf("%s: %d session expiries, %d registrations (before: %d, %d)", b.TCP, s.SessionExpiries, s.Registrations, before.SessionExpiries, before.Registrations)
		case s.ZooKeeper != "HasSession" || !s.WorkerHeld:
			return fmt.Errorf("%s: zookeeper %q, worker id held %v", b.TCP, s.ZooKeeper, s.WorkerHeld)
		}
		return nil
	})
	registered := time.Since(back)
	if id, err := b.fun.IDNext(t.Context(), rc); err != nil || (id>>12)&31 != 2 {
		t.Errorf("id_next through %s after its new session = %d (worker %d), %v; want worker 2 held again", b.TCP, id, (id>>12)&31, err)
	}
	testserver.EventuallyNil(t, "routed calls through both nodes on keys of both", 10*time.Second, func() error {
		for i, n := range nodes {
			for _, key := range []string{aKey, bKey} {
				val := fmt.Sprintf("after-%d", i)
				if ok, err := n.fun.LcSet(t.Context(), rc, key, []byte(val)); err != nil || !ok {
					return fmt.Errorf("lc_set %q (owner %s) through %s: %v, %v", key, m.owner(key), n.TCP, ok, err)
				}
				if got, err := nodes[1-i].fun.LcGet(t.Context(), rc, key); err != nil || string(got) != val {
					return fmt.Errorf("lc_get %q through %s: %q, %v; want %q", key, nodes[1-i].TCP, got, err, val)
				}
			}
		}
		return nil
	})
	serving := time.Since(back)
	if err := sameMap(a, m); err != nil {
		t.Errorf("the map changed over the expiry: %v", err)
	}
	s := mustClusterStats(t, b)
	t.Logf("session gone %v after SIGSTOP; thawed, %s registered again in %v (%d expiries, %d registrations), both serving in %v",
		expired.Round(time.Millisecond), b.TCP, registered.Round(time.Millisecond), s.SessionExpiries, s.Registrations, serving.Round(time.Millisecond))
	if serving > 10*time.Second {
		t.Errorf("both nodes served again %v after the thaw, want within 10s", serving)
	}
}

// checkPeerKilled runs forwarded kvdb calls through A on keys B owns,
// and local ones on A's keys, while B is killed -9: the forwarded calls
// answer errors naming B, none past the call deadline; A's own never
// fail. Restarted on its files, B serves its keys again through A, with
// every value acknowledged before the kill.
func checkPeerKilled(t *testing.T, nodes []*node, m clusterMap) {
	a, b := nodes[0], nodes[1]
	keys := keysByOwner(m, "kill", 4)
	bKeys, aKeys := keys[b.TCP], keys[a.TCP]
	for _, k := range bKeys {
		if ok, err := a.fun.KvdbSet(t.Context(), rc, []byte(k), []byte("v0")); err != nil || !ok {
			t.Fatalf("kvdb_set %q through %s: %v, %v", k, a.TCP, ok, err)
		}
	}
	fwd, own := dialNode(t, a.TCP), dialNode(t, a.TCP) // one per loop
	acked := map[string]string{}                       // written only by the forwarding loop
	forwarded := startCallLoop(t, 30*time.Second, func(i int) error {
		key, val := bKeys[i%len(bKeys)], fmt.Sprintf("v%d", i+1)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if i%2 == 1 {
			_, err := fwd.KvdbGet(ctx, rc, []byte(key))
			return err
		}
		ok, err := fwd.KvdbSet(ctx, rc, []byte(key), []byte(val))
		if err == nil && ok {
			acked[key] = val
		}
		return err
	})
	local := startCallLoop(t, 30*time.Second, func(i int) error {
		key := aKeys[i%len(aKeys)]
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if ok, err := own.KvdbSet(ctx, rc, []byte(key), []byte("local")); err != nil || !ok {
			return fmt.Errorf("kvdb_set %q: %v, %v", key, ok, err)
		}
		_, err := own.KvdbGet(ctx, rc, []byte(key))
		return err
	})

	time.Sleep(300 * time.Millisecond) // calls in flight when the kill lands
	killed := time.Now()
	b.Kill(t)
	// Past B's session timeout (2s) A sees it gone; calls keep failing.
	time.Sleep(3 * time.Second)
	restarted := b.Faed.Restart(t)
	nodes[1] = &node{Faed: restarted, fun: dialNode(t, restarted.TCP)}
	up := time.Now()
	testserver.EventuallyNil(t, "a forwarded call to succeed after the restart", 15*time.Second, func() error {
		if c, ok := forwarded.last(); !ok || c.err != nil || c.at.Before(up) {
			return fmt.Errorf("the last forwarded call is no success after the restart: %+v", c)
		}
		return nil
	})
	recovered := time.Since(up)
	time.Sleep(300 * time.Millisecond) // a few more successes
	fwdCalls, localCalls := forwarded.stop(), local.stop()
	checkKilledCalls(t, fwdCalls, localCalls, b.TCP, killed)
	t.Logf("forwarded calls served again %v after %s answered on its admin port again (%v after the kill)",
		recovered.Round(time.Millisecond), b.TCP, time.Since(killed).Round(time.Millisecond))
	if recovered > 5*time.Second {
		t.Errorf("forwarded calls served again %v after the restart, want within 5s (peer breaker retry 1s)", recovered)
	}

	waitMap(t, nodes, 20*time.Second)
	for key, want := range acked {
		got, err := a.fun.KvdbGet(t.Context(), rc, []byte(key))
		if err != nil || !notOlder(string(got), want) {
			t.Errorf("kvdb_get %q through %s after its owner's restart: %q, %v; want %s or a later write", key, a.TCP, got, err, want)
		}
	}
}

// checkKilledCalls checks the loops' calls around the kill of victim:
// the forwarded ones fail only from the kill on, each naming the victim
// and within the deadline; the local ones never fail.
func checkKilledCalls(t *testing.T, fwd, local []timedCall, victim string, killed time.Time) {
	t.Helper()
	var failed, beforeKill int
	var slowest time.Duration
	var first, last timedCall
	for _, c := range fwd {
		slowest = max(slowest, c.took)
		if c.at.Add(c.took).Before(killed) {
			beforeKill++
		}
		if c.err == nil {
			continue
		}
		if failed == 0 {
			first = c
		}
		failed, last = failed+1, c
		switch {
		case c.at.Add(c.took).Before(killed):
			t.Errorf("forwarded call failed before the kill: %v", c.err)
		case !strings.Contains(c.err.Error(), victim):
			t.Errorf("forwarded call %v after the kill: %q does not name the owner %s", c.at.Sub(killed).Round(time.Millisecond), c.err, victim)
		}
	}
	if slowest > faultCallTimeout+500*time.Millisecond {
		t.Errorf("the slowest forwarded call took %v, past the %v deadline", slowest, faultCallTimeout)
	}
	if beforeKill == 0 || failed == 0 {
		t.Fatalf("%d forwarded calls before the kill, %d failed after it: the loop did not see the fault", beforeKill, failed)
	}
	var localSlowest time.Duration
	for _, c := range local {
		localSlowest = max(localSlowest, c.took)
		if c.err != nil {
			t.Errorf("call on the forwarding node's own key failed %v after the kill: %v", c.at.Sub(killed).Round(time.Millisecond), c.err)
		}
	}
	if len(local) < 20 || localSlowest > time.Second {
		t.Errorf("%d calls on the forwarding node's own keys, the slowest %v; want at least 20, each under 1s", len(local), localSlowest)
	}
	t.Logf("%d forwarded calls, %d failed: first %v after the kill in %v (%v), last in %v (%v); slowest forwarded %v; %d local calls, slowest %v",
		len(fwd), failed, first.at.Sub(killed).Round(time.Millisecond), first.took.Round(time.Millisecond), first.err,
		last.took.Round(time.Millisecond), last.err, slowest.Round(time.Millisecond), len(local), localSlowest.Round(time.Millisecond))
}

// TestFaultZooKeeperLeaderLoss stops the leader of a three-server
// ensemble under two faed nodes that cluster on it and serve zk_* from
// it: once a new leader is elected, zk_* calls through both nodes succeed
// and routed calls between them too, neither node restarted.
// (TestClusterZooKeeperEnsemble checks that the nodes keep their
// sessions and their routed calls never fail; this adds the zk servant.)
func TestFaultZooKeeperLeaderLoss(t *testing.T) {
	zks := testserver.StartZooKeeperEnsemble(t, 3)
	addrs := make([]string, len(zks))
	for i, z := range zks {
		addrs[i] = z.Addr
	}
	o := faultClusterOpts(addrs, "/fae/faults-ensemble")
	o.sessionTimeout = "6s" // rides out an election, as in TestClusterZooKeeperEnsemble
	quoted := make([]string, len(addrs))
	for i, a := range addrs {
		quoted[i] = fmt.Sprintf("%q", a)
	}
	o.extra += fmt.Sprintf("[servant.zk]\nservers = [%s]\nroot = \"/faetest/faults\"\nsession_timeout = \"6s\"\ntimeout = \"3s\"\n", strings.Join(quoted, ", "))
	nodes := startNodes(t, o, 2)
	m := waitMap(t, nodes, 20*time.Second)
	for i, n := range nodes {
		if ok, err := n.fun.ZkCreate(t.Context(), rc, fmt.Sprintf("/before-%d", i), "x"); err != nil || !ok {
			t.Fatalf("zk_create through %s: %v, %v", n.TCP, ok, err)
		}
	}

	leader := findLeader(t, zks)
	leader.Stop()
	stopped := time.Now()
	newLeader := findLeader(t, zks)
	elected := time.Since(stopped)
	var failures int
	var slowest time.Duration
	testserver.EventuallyNil(t, "zk_* calls through both nodes after the election", 20*time.Second, func() error {
		for i, n := range nodes {
			path := fmt.Sprintf("/after-%d", i)
			start := time.Now()
			ok, err := n.fun.ZkCreate(t.Context(), rc, path, "y")
			slowest = max(slowest, time.Since(start))
			if err != nil || !ok {
				failures++
				return fmt.Errorf("zk_create %s through %s: %v, %v", path, n.TCP, ok, err)
			}
		}
		return nil
	})
	served := time.Since(stopped)
	if slowest > 3500*time.Millisecond {
		t.Errorf("a zk_create took %v over the election, past the zk servant's 3s timeout", slowest)
	}
	for _, n := range nodes {
		got, err := n.fun.ZkChildren(t.Context(), rc, "/")
		slices.Sort(got)
		if want := []string{"after-0", "after-1", "before-0", "before-1"}; err != nil || !slices.Equal(got, want) {
			t.Errorf("zk_children / through %s: %v, %v; want %v", n.TCP, got, err, want)
		}
	}
	// A node reconnecting to another server says its members are stale
	// until its session is confirmed: a moment, not a fault.
	testserver.EventuallyNil(t, "both nodes fresh again on the same members", 10*time.Second, func() error { return membersAgreed(nodes) })
	checkRouted(t, nodes, m, "leaderloss")
	if err := sameMap(nodes[0], m); err != nil {
		t.Errorf("the map changed over the election: %v", err)
	}
	t.Logf("leader %d stopped; %d elected after %v; zk_create through both nodes succeeded %v after the stop (%d failed attempts, slowest call %v)",
		leader.ID, newLeader.ID, elected.Round(time.Millisecond), served.Round(time.Millisecond), failures, slowest.Round(time.Millisecond))
	if served > 15*time.Second {
		t.Errorf("zk_* calls served again %v after the leader stopped, want within 15s", served)
	}
}
