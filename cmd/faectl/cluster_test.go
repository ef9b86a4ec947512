package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"faed/idl/gen-go/fun/rpc"
	"faed/peer"
	"faed/scripts/testserver"
)

// clusterWait bounds how long two nodes may take to see each other, or one
// to notice the other is gone (session_timeout is 2s).
const clusterWait = 20 * time.Second

// TestCluster runs two faed nodes against a real ZooKeeper and checks what
// faectl reports against what the nodes do.
func TestCluster(t *testing.T) {
	zk := testserver.StartZooKeeper(t)
	a, b := newNode(t), newNode(t)
	a.start(t, clusterTOML(zk.Addr, a.TCP, 1))
	b.start(t, clusterTOML(zk.Addr, b.TCP, 2))
	both := []string{a.TCP, b.TCP}
	slices.Sort(both)
	for _, n := range []*node{a, b} {
		waitFor(t, clusterWait, n.TCP+" to see both members", func() bool {
			return slices.Equal(members(t, n), both)
		})
	}
	t.Run("members", func(t *testing.T) { testMembers(t, a, b) })
	t.Run("ping -all", func(t *testing.T) { testPingAll(t, a, map[string]int{a.TCP: 1, b.TCP: 2}) })
	t.Run("ring -keys", func(t *testing.T) { testRingKeys(t, a, b, both) })
	t.Run("ping -all fails for a dead member", func(t *testing.T) { testDeadMember(t, a, b) })
}

func clusterTOML(zk, advertise string, worker int) string {
	return fmt.Sprintf(`
[cluster]
zookeeper = [%q]
advertise = %q
session_timeout = "2s"
[servant.idgen]
worker_id = %d
`, zk, advertise, worker)
}

// members returns the member lines of faectl members, "(this node)" cut.
func members(t *testing.T, n *node) []string {
	t.Helper()
	r := faectl("-admin", n.HTTP, "members")
	if r.code != 0 {
		return nil
	}
	_, list, _ := strings.Cut(r.out, "\nmembers:\n")
	list, _, _ = strings.Cut(list, "\n\n")
	var out []string
	for line := range strings.Lines(list) {
		if f := strings.Fields(line); len(f) > 0 {
			out = append(out, f[0])
		}
	}
	return out
}

func testMembers(t *testing.T, a, b *node) {
	out := mustRun(t, "members", "-admin", a.HTTP)
	t.Logf("faectl members:\n%s", out)
	for _, want := range []string{
		"node       " + a.TCP + "\n",
		"  " + a.TCP + "  (this node)\n",
		"  " + b.TCP + "\n",
		", 2 members\n",
		"stale      no\n",
		"zookeeper  ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("members lacks %q:\n%s", want, out)
		}
	}
	if f := row(out, "ring"); len(f) < 3 || f[2] == "0," {
		t.Errorf("members shows no ring version:\n%s", out)
	}
}

// testPingAll checks one line per member; workers maps each member to its
// idgen worker id.
func testPingAll(t *testing.T, a *node, workers map[string]int) {
	out := mustRun(t, "-admin", a.HTTP, "ping", "-all")
	t.Logf("faectl ping -all:\n%s", out)
	if lines := strings.Count(out, "\n"); lines != len(workers) {
		t.Errorf("ping -all printed %d lines, want %d:\n%s", lines, len(workers), out)
	}
	for m, worker := range workers {
		f := row(out, m)
		// Each node reports its own worker id in its ping reply (myid, in
		// the original's format), so this proves the answer came from m.
		myid := fmt.Sprintf(", myid:%d,", worker)
		if len(f) < 4 || f[1] != "ok" || !strings.Contains(strings.Join(f[3:], " "), myid) {
			t.Errorf("ping -all: line for %s is %q; want ok and a reply with %q\n%s", m, f, myid, out)
		}
	}
}

// testRingKeys checks the owners faectl names against peer.NewRing, and
// against where the nodes really put the keys: every key is set through a,
// which keeps its own keys and forwards b's.
func testRingKeys(t *testing.T, a, b *node, both []string) {
	var keys []string
	for i := range 40 {
		keys = append(keys, "user:"+strconv.Itoa(i))
	}
	out := mustRun(t, "-admin", a.HTTP, "ring", "-keys", strings.Join(keys, ","))
	t.Logf("faectl ring -keys user:0,…,user:39:\n%s", out)
	want := peer.NewRing(both, peer.DefaultVirtualNodes, 0)
	owned := map[string]int{}
	for _, k := range keys {
		f := row(out, k)
		if len(f) != 2 || f[1] != want.Owner(k) {
			t.Fatalf("ring: owner line of %s is %q, peer.NewRing says %s\n%s", k, f, want.Owner(k), out)
		}
		owned[f[1]]++
	}
	checkShares(t, out, both)
	setAll(t, a, keys)
	for _, n := range []*node{a, b} {
		if got := lcacheItems(t, n); got != owned[n.TCP] {
			t.Errorf("node %s holds %d of the keys, faectl ring says it owns %d", n.TCP, got, owned[n.TCP])
		}
	}
	_, peers, _ := strings.Cut(mustRun(t, "members", "-admin", a.HTTP), "\npeers:\n")
	if f := row(peers, b.TCP); len(f) < 3 || f[1] != strconv.Itoa(owned[b.TCP]) || f[2] != "0" {
		t.Errorf("members: peer line of %s is %q; want %d forwarded, 0 errors\n%s", b.TCP, f, owned[b.TCP], peers)
	}
}

// checkShares checks that ring lists every member with a plausible share
// and that the shares add up to 100%.
func checkShares(t *testing.T, out string, both []string) {
	t.Helper()
	if !strings.Contains(out, "160 virtual nodes each") || !strings.Contains(out, "placing 100000 synthetic keys") {
		t.Errorf("ring does not say how shares were computed:\n%s", out)
	}
	total := 0.0
	for _, m := range both {
		f := row(out, m)
		if len(f) != 3 {
			t.Fatalf("ring: no share line for %s:\n%s", m, out)
		}
		share, err := strconv.ParseFloat(strings.TrimSuffix(f[2], "%"), 64)
		if err != nil || share < 25 || share > 75 {
			t.Errorf("ring: share of %s is %q, want about 50%%", m, f[2])
		}
		total += share
	}
	if total < 99.98 || total > 100.02 {
		t.Errorf("ring: shares add up to %.2f%%:\n%s", total, out)
	}
}

// setAll sets every key through node n.
func setAll(t *testing.T, n *node, keys []string) {
	t.Helper()
	for _, k := range keys {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		client, conn, err := dialThrift(ctx, "tcp:"+n.TCP)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		_, err = client.LcSet(ctx, &rpc.Context{Rid: 1, Reason: "faectl.test"}, k, []byte("v"))
		conn.Close()
		cancel()
		if err != nil {
			t.Fatalf("lc_set %s through %s: %v", k, n.TCP, err)
		}
	}
}

// lcacheItems reads the node's local cache size from stats -json.
func lcacheItems(t *testing.T, n *node) int {
	t.Helper()
	var st struct {
		Servant struct {
			Lcache struct {
				Items int `json:"items"`
			} `json:"lcache"`
		} `json:"servant"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, "-admin", n.HTTP, "stats", "-json")), &st); err != nil {
		t.Fatalf("stats -json: %v", err)
	}
	return st.Servant.Lcache.Items
}

// testDeadMember kills b: until its ZooKeeper session expires b is still a
// member, and ping -all must report it and fail; afterwards a's ring has a
// alone.
func testDeadMember(t *testing.T, a, b *node) {
	b.cmd.Process.Kill()
	<-b.exited
	r := faectl("-admin", a.HTTP, "ping", "-all")
	t.Logf("faectl ping -all with %s dead:\n%s%s", b.TCP, r.out, r.err)
	if r.code != 1 || !strings.Contains(r.err, "1 of 2 members did not answer") {
		t.Fatalf("ping -all with %s dead: exit %d, stderr %q; want exit 1", b.TCP, r.code, r.err)
	}
	if f := row(r.out, b.TCP); len(f) < 2 || f[1] != "FAIL" {
		t.Errorf("ping -all: line for dead %s is %q, want FAIL\n%s", b.TCP, f, r.out)
	}
	if f := row(r.out, a.TCP); len(f) < 2 || f[1] != "ok" {
		t.Errorf("ping -all: line for live %s is %q, want ok\n%s", a.TCP, f, r.out)
	}
	waitFor(t, clusterWait, a.TCP+" to drop "+b.TCP, func() bool {
		return slices.Equal(members(t, a), []string{a.TCP})
	})
	mustRun(t, "-admin", a.HTTP, "ping", "-all")
}
