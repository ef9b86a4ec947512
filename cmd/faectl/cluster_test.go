package main

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/scripts/testserver"
)

// clusterWait bounds how long two nodes may take to see each other, or one
// to notice the other is gone (session_timeout is 2s).
const clusterWait = 20 * time.Second

// TestCluster runs two faed nodes against a real ZooKeeper and checks what
// faectl reports against what the nodes do.
func TestCluster(t *testing.T) {
	zk := testserver.StartZooKeeper(t)
	a, b := testserver.NewFaed(t, t.TempDir()), testserver.NewFaed(t, t.TempDir())
	a.Start(t, clusterTOML(zk.Addr, a.TCP, 1))
	b.Start(t, clusterTOML(zk.Addr, b.TCP, 2))
	both := []string{a.TCP, b.TCP}
	slices.Sort(both)
	for _, n := range []*testserver.Faed{a, b} {
		testserver.Eventually(t, n.TCP+" to see both members", clusterWait, func() bool {
			return slices.Equal(members(t, n), both)
		})
	}
	t.Run("members", func(t *testing.T) { testMembers(t, a, b) })
	t.Run("ping -all", func(t *testing.T) { testPingAll(t, a, map[string]int{a.TCP: 1, b.TCP: 2}) })
	t.Run("map -keys", func(t *testing.T) { testMapKeys(t, a, b, both) })
	t.Run("drain and rebalance", func(t *testing.T) { testDrain(t, a, b) })
	t.Run("ping -all fails for a dead member", func(t *testing.T) { testDeadMember(t, a, b) })
}

func clusterTOML(zk, advertise string, worker int) string {
	return fmt.Sprintf(`
[cluster]
zookeeper = [%q]
advertise = %q
session_timeout = "2s"
vbuckets = 64
[servant.idgen]
worker_id = %d
`, zk, advertise, worker)
}

// members returns the member lines of faectl members, "(this node)" cut.
func members(t *testing.T, n *testserver.Faed) []string {
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

func testMembers(t *testing.T, a, b *testserver.Faed) {
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
	if f := row(out, "members"); len(f) < 3 || f[1] != "version" || f[2] == "0," {
		t.Errorf("members shows no members version:\n%s", out)
	}
}

// testPingAll checks one line per member; workers maps each member to its
// idgen worker id.
func testPingAll(t *testing.T, a *testserver.Faed, workers map[string]int) {
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

// testMapKeys checks the owners faectl map names against crc32 % vbuckets
// over the owners GET /cluster/map lists, and against where the nodes
// really put the keys: every key is set through a, which keeps its own keys
// and forwards b's.
func testMapKeys(t *testing.T, a, b *testserver.Faed, both []string) {
	testserver.Eventually(t, "a settled map over both nodes", clusterWait, func() bool {
		out := faectl("-admin", a.HTTP, "map").out
		return strings.Contains(out, "no rebalance in progress") && row(out, a.TCP) != nil && row(out, b.TCP) != nil &&
			strings.Contains(out, "balance 0")
	})
	var keys []string
	for i := range 40 {
		keys = append(keys, "user:"+strconv.Itoa(i))
	}
	out := mustRun(t, "-admin", a.HTTP, "map", "-keys", strings.Join(keys, ","))
	t.Logf("faectl map -keys user:0,…,user:39:\n%s", out)
	for _, m := range both {
		if f := row(out, m); len(f) != 3 || f[1] != "32" || f[2] != "50.0%" {
			t.Errorf("map: line of %s is %q, want 32 vbuckets, 50.0%%", m, f)
		}
	}
	owned := map[string]int{}
	for _, k := range keys {
		f := row(out, strconv.Quote(k))
		vb := strconv.Itoa(int(crc32.ChecksumIEEE([]byte(k)) % 64))
		if len(f) != 3 || f[1] != vb || !slices.Contains(both, f[2]) {
			t.Fatalf("map: owner line of %s is %q, want vbucket %s and a member\n%s", k, f, vb, out)
		}
		owned[f[2]]++
	}
	// The peer's counters include the moves' vb_pull and vb_push calls; a
	// map made with both nodes already members had no moves, and a has no
	// line for b until it first calls it.
	before := peerLine(t, a, b)
	if len(before) == 0 {
		before = []string{b.TCP, "0", "0"}
	}
	setAll(t, a, keys)
	for _, n := range []*testserver.Faed{a, b} {
		if got := lcacheItems(t, n); got != owned[n.TCP] {
			t.Errorf("node %s holds %d of the keys, faectl map says it owns %d", n.TCP, got, owned[n.TCP])
		}
	}
	after := peerLine(t, a, b)
	if len(before) < 3 || len(after) < 3 || atoi(after[1])-atoi(before[1]) != owned[b.TCP] || after[2] != before[2] {
		t.Errorf("members: peer line of %s went from %q to %q; want %d more forwarded, no more errors", b.TCP, before, after, owned[b.TCP])
	}
}

// peerLine is the line of peer in faectl members on n.
func peerLine(t *testing.T, n, peer *testserver.Faed) []string {
	t.Helper()
	_, peers, _ := strings.Cut(mustRun(t, "members", "-admin", n.HTTP), "\npeers:\n")
	return row(peers, peer.TCP)
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// setAll sets every key through node n.
func setAll(t *testing.T, n *testserver.Faed, keys []string) {
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
func lcacheItems(t *testing.T, n *testserver.Faed) int {
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

// testDrain drains b through faectl: a takes every vbucket, with the keys
// testMapKeys left on b; rebalance cannot give b its share back while the
// drain stands, and drain refuses without a node.
func testDrain(t *testing.T, a, b *testserver.Faed) {
	keys := make([]string, 40)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(i)
	}
	out := mustRun(t, "-admin", b.HTTP, "drain", b.TCP)
	if !strings.Contains(out, "drain of "+b.TCP+" requested") {
		t.Errorf("drain said %q", out)
	}
	testserver.Eventually(t, b.TCP+" to hold no vbucket", clusterWait, func() bool {
		out := faectl("-admin", a.HTTP, "map").out
		f := row(out, a.TCP)
		return len(f) == 3 && f[1] == "64" && strings.Contains(out, "no rebalance in progress")
	})
	if got := lcacheItems(t, a); got != len(keys) {
		t.Errorf("after the drain %s holds %d of the %d keys, want all", a.TCP, got, len(keys))
	}
	if got := lcacheItems(t, b); got != 0 {
		t.Errorf("after the drain %s still holds %d keys", b.TCP, got)
	}
	mustRun(t, "-admin", a.HTTP, "rebalance")
	// For 500ms, long enough for a rebalance that wrongly moved vbuckets back to show.
	testserver.Consistently(t, "the drained cluster's map after a rebalance request", 500*time.Millisecond, func() error {
		if f := row(mustRun(t, "-admin", a.HTTP, "map"), a.TCP); len(f) != 3 || f[1] != "64" {
			return fmt.Errorf("map line of %s is %q, want all 64", a.TCP, f)
		}
		return nil
	})
	if r := faectl("-admin", a.HTTP, "drain"); r.code != 2 {
		t.Errorf("drain without a node: exit %d, want 2", r.code)
	}
}

// testDeadMember kills b: until its ZooKeeper session expires b is still a
// member, and ping -all must report it and fail; afterwards a's member list has
// a alone.
func testDeadMember(t *testing.T, a, b *testserver.Faed) {
	b.Kill(t)
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
	testserver.Eventually(t, a.TCP+" to drop "+b.TCP, clusterWait, func() bool {
		return slices.Equal(members(t, a), []string{a.TCP})
	})
	mustRun(t, "-admin", a.HTTP, "ping", "-all")
}
