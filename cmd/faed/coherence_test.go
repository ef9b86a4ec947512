package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faed/faed/scripts/testserver"
)

// Cluster tests of cache coherence (SPEC §3.6, §5.2): faed nodes on a real
// ZooKeeper sharing a real MariaDB, prepared by prepareMySQL. Every check
// first shows the cache at work (a change made behind faed's back is not
// seen), then that the change under test reaches every node.

// mysqlToml configures the pools prepareMySQL created, with more
// [servant.mysql.lookup] keys in lookupExtra.
func mysqlToml(m *testserver.MariaDB, lookupExtra string) string {
	var s strings.Builder
	for pool, db := range map[string]string{"main": "faetest", "lookup": "faelookup", "user1": "faeshard1", "user2": "faeshard2"} {
		fmt.Fprintf(&s, "[servant.mysql.pools.%s]\naddr = %q\nuser = %q\npassword = %q\ndatabase = %q\n",
			pool, m.Addr, mysqlUser, mysqlPassword, db)
	}
	s.WriteString("[servant.mysql.lookup]\npool = \"lookup\"\nsharded = [\"user\"]\n" + lookupExtra)
	return s.String()
}

func TestClusterCacheCoherence(t *testing.T) {
	m := testserver.StartMariaDB(t)
	prepareMySQL(t, m)
	admin, err := sql.Open("mysql", m.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	zk := testserver.StartZooKeeper(t)

	// Lookup rows cached for an hour: only the notice can make a change
	// through one node reach the others within a second.
	t.Run("lookup changes through faed", func(t *testing.T) {
		o := clusterOpts{zookeeper: []string{zk.Addr}, sessionTimeout: "2s", firstWorker: 1, root: "/fae/test/lookup",
			extra: mysqlToml(m, "cache_ttl = \"1h\"\n")}
		nodes := startNodes(t, o, 3)
		waitMap(t, nodes, 10*time.Second)
		checkLookupNotices(t, nodes)
		for _, n := range nodes {
			if err := n.Stop(t, syscall.SIGTERM); err != nil {
				t.Errorf("%s exit after SIGTERM: %v", n.TCP, err)
			}
		}
	})

	// Default lookup and query-cache TTLs. The long session (and the default
	// leave_grace after it) keeps a killed owner in the map well past
	// forward_retry_wait.
	// A root of its own: the last node of the cluster above left holding
	// the vbuckets it had nowhere to hand off to.
	o := clusterOpts{zookeeper: []string{zk.Addr}, sessionTimeout: "10s", firstWorker: 4, root: "/fae/test/coherence",
		extra: "[servant]\nforward_retry_wait = \"300ms\"\n" + mysqlToml(m, "")}
	nodes := startNodes(t, o, 3)
	vm := waitMap(t, nodes, 10*time.Second)
	if !t.Run("my_bulk_exec evicts on the owner", func(t *testing.T) { checkBulkEvictsOnOwner(t, nodes, vm, admin) }) {
		return
	}
	t.Run("lookup changed in MariaDB", func(t *testing.T) { checkLookupChangedBehind(t, nodes, admin) })
	t.Run("owner change", func(t *testing.T) { checkOwnerChange(t, o, nodes, admin) })
	t.Run("owner unreachable", func(t *testing.T) { checkEvictOwnerDown(t, nodes, vm, admin) })
}

// shardOf is the database a read for entity id lands in through n.
func shardOf(n *node, id int64) (string, error) {
	r, err := n.fun.MyQuery(context.Background(), rc, "user", "", id, "SELECT DATABASE()", nil, "")
	if err != nil {
		return "", err
	}
	return r.Rows[0][0], nil
}

// writeFor writes a row for entity id through n.
func writeFor(n *node, id int64) error {
	_, err := n.fun.MyQuery(context.Background(), rc, "user", "Post", id,
		"INSERT INTO Post (uid, body) VALUES (?, 'coherence')", []string{strconv.FormatInt(id, 10)}, "")
	return err
}

func isShardLocked(err error) bool { return err != nil && strings.Contains(err.Error(), "shardLock") }

// lookupWrite changes the lookup table through n.
func lookupWrite(t *testing.T, n *node, sql string, args ...string) {
	t.Helper()
	if _, err := n.fun.MyQuery(t.Context(), rc, "lookup", "UserLookup", 0, sql, args, ""); err != nil {
		t.Fatalf("%s through %s: %v", sql, n.TCP, err)
	}
}

// eachRefuses checks that a write for entity id through each node is
// refused (want true) or accepted.
func eachRefuses(nodes []*node, id int64, want bool) error {
	for _, n := range nodes {
		err := writeFor(n, id)
		if isShardLocked(err) != want {
			return fmt.Errorf("write for entity %d through %s: %v, want refused %v", id, n.TCP, err, want)
		}
		if err != nil && !want {
			return err
		}
	}
	return nil
}

// checkLookupNotices changes entity 101's lookup row through node 0 and
// checks that nodes 1 and 2, which cached it, follow within a second.
func checkLookupNotices(t *testing.T, nodes []*node) {
	via, others := nodes[0], nodes[1:]
	for _, n := range nodes {
		if db, err := shardOf(n, 101); err != nil || db != "faeshard1" {
			t.Fatalf("entity 101 through %s: %q, %v; want faeshard1", n.TCP, db, err)
		}
	}
	lookupWrite(t, via, "UPDATE UserLookup SET shardId = 2 WHERE entityId = ?", "101")
	start := time.Now()
	testserver.EventuallyNil(t, "the other nodes to route entity 101 to shard 2", time.Second, func() error {
		for _, n := range others {
			if db, err := shardOf(n, 101); err != nil || db != "faeshard2" {
				return fmt.Errorf("entity 101 through %s: %q, %v; want faeshard2", n.TCP, db, err)
			}
		}
		return nil
	})
	t.Logf("shardId change through %s followed by the others after %v", via.TCP, time.Since(start).Round(time.Millisecond))

	if err := eachRefuses(others, 101, false); err != nil { // the row is cached unlocked again
		t.Fatal(err)
	}
	lookupWrite(t, via, "UPDATE UserLookup SET shardLock = 1 WHERE entityId = ?", "101")
	start = time.Now()
	testserver.EventuallyNil(t, "writes for the locked entity refused everywhere", time.Second, func() error { return eachRefuses(others, 101, true) })
	t.Logf("shardLock set through %s refused by the others after %v", via.TCP, time.Since(start).Round(time.Millisecond))

	lookupWrite(t, via, "UPDATE UserLookup SET shardLock = 0 WHERE entityId = ?", "101")
	testserver.EventuallyNil(t, "writes for the unlocked entity accepted everywhere", time.Second, func() error { return eachRefuses(others, 101, false) })
}

// readNote reads item name's note through n with cacheKey key.
func readNote(t *testing.T, n *node, name, key string) string {
	t.Helper()
	r, err := n.fun.MyQuery(t.Context(), rc, "main", "item", 0, "SELECT note FROM item WHERE name = ?", []string{name}, key)
	if err != nil || len(r.Rows) != 1 {
		t.Fatalf("read of %q (cacheKey %q) through %s: %v, %v", name, key, n.TCP, r, err)
	}
	return r.Rows[0][0]
}

func adminExec(t *testing.T, admin *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := admin.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// bulkUpdate sets item name's note through n with my_bulk_exec, evicting
// key, after a read that evicts nothing.
func bulkUpdate(n *node, name, note, key string) error {
	_, err := n.fun.MyBulkExec(context.Background(), rc, []string{"main", "main"}, []string{"item", "item"}, []int64{0, 0},
		[]string{"SELECT 1", "UPDATE item SET note = ? WHERE name = ?"}, [][]string{nil, {note, name}}, []string{"", key})
	return err
}

// checkBulkEvictsOnOwner fills a key owned by node 1 through node 2, then
// updates the row with my_bulk_exec through node 0.
func checkBulkEvictsOnOwner(t *testing.T, nodes []*node, m clusterMap, admin *sql.DB) {
	via, owner, reader := nodes[0], nodes[1], nodes[2]
	key := keysByOwner(m, "bulk", 1)[owner.TCP][0]
	adminExec(t, admin, "INSERT INTO faetest.item (name, note) VALUES ('bulk', 'v1')")
	if got := readNote(t, reader, "bulk", key); got != "v1" {
		t.Fatalf("first read = %q, want v1", got)
	}
	adminExec(t, admin, "UPDATE faetest.item SET note = 'behind' WHERE name = 'bulk'")
	if got := readNote(t, reader, "bulk", key); got != "v1" {
		t.Fatalf("read after a change behind faed = %q, want the v1 cached on %s", got, owner.TCP)
	}
	if err := bulkUpdate(via, "bulk", "v2", key); err != nil {
		t.Fatalf("my_bulk_exec through %s: %v", via.TCP, err)
	}
	if got := readNote(t, reader, "bulk", key); got != "v2" {
		t.Errorf("read through %s after my_bulk_exec through %s = %q, want v2: the entry on the owner %s was not evicted",
			reader.TCP, via.TCP, got, owner.TCP)
	}
}

// checkLookupChangedBehind sets entity 202's shardLock directly in MariaDB
// and checks that every node refuses its writes within lookup.cache_ttl
// (default 1s) of the change, plus the time of one write.
func checkLookupChangedBehind(t *testing.T, nodes []*node, admin *sql.DB) {
	if err := eachRefuses(nodes, 202, false); err != nil { // every node caches the row
		t.Fatal(err)
	}
	adminExec(t, admin, "UPDATE faelookup.UserLookup SET shardLock = 1 WHERE entityId = 202")
	start := time.Now()
	testserver.EventuallyNil(t, "writes refused everywhere after a lock set in MariaDB", time.Second+250*time.Millisecond,
		func() error { return eachRefuses(nodes, 202, true) })
	t.Logf("shardLock set in MariaDB refused everywhere after %v (lookup.cache_ttl 1s)", time.Since(start).Round(time.Millisecond))
	adminExec(t, admin, "UPDATE faelookup.UserLookup SET shardLock = 0 WHERE entityId = 202")
	if err := eachRefuses(nodes, 202, false); err != nil { // locked rows are never cached
		t.Errorf("right after the lock was cleared in MariaDB: %v", err)
	}
}

// checkOwnerChange fills keys on every node, lets a fourth node join, then
// changes the row through my_bulk_exec evicting the keys the newcomer owns,
// and lets it leave: the hand-off carries lcache and query-cache entries
// both ways, so every key keeps its lcache entry, a key that never moved
// keeps its cached row, and a moved key, evicted on the newcomer, is never
// served from a copy its old owner kept.
func checkOwnerChange(t *testing.T, o clusterOpts, nodes []*node, admin *sql.DB) {
	adminExec(t, admin, "INSERT INTO faetest.item (name, note) VALUES ('own', 'before')")
	keys := make([]string, 300)
	for i := range keys {
		keys[i] = fmt.Sprintf("own-%d", i)
		if got := readNote(t, nodes[i%len(nodes)], "own", keys[i]); got != "before" {
			t.Fatalf("fill %q = %q", keys[i], got)
		}
		if ok, err := nodes[i%len(nodes)].fun.LcSet(t.Context(), rc, keys[i], []byte("before")); err != nil || !ok {
			t.Fatalf("lc_set %q = %v, %v", keys[i], ok, err)
		}
	}
	o.firstWorker = 7
	joiner := startNodes(t, o, 1)[0]
	m4 := waitMap(t, append(nodes[:len(nodes):len(nodes)], joiner), 30*time.Second)
	moved := map[string]bool{}
	for _, k := range keys {
		if moved[k] = m4.owner(k) == joiner.TCP; moved[k] {
			if err := bulkUpdate(nodes[0], "own", "after", k); err != nil {
				t.Fatalf("my_bulk_exec evicting %q (owner %s) through %s: %v", k, joiner.TCP, nodes[0].TCP, err)
			}
		}
	}
	if err := joiner.Stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("%s exit after SIGTERM: %v", joiner.TCP, err)
	}
	waitMap(t, nodes, 10*time.Second)

	var nMoved, stale, kept int
	for i, k := range keys {
		checkLcacheKept(t, nodes[(i+2)%len(nodes)], k)
		got := readNote(t, nodes[(i+1)%len(nodes)], "own", k)
		switch {
		case moved[k] && got != "after":
			stale++
			t.Errorf("key %q evicted on %s while it owned it, back on its old owner: %q, want after (a stale copy served)", k, joiner.TCP, got)
		case !moved[k] && got == "before":
			kept++
		}
		if moved[k] {
			nMoved++
		}
	}
	t.Logf("%d of %d keys moved to %s and back, %d served stale; %d of the %d that stayed kept their entry",
		nMoved, len(keys), joiner.TCP, stale, kept, len(keys)-nMoved)
	if nMoved == 0 {
		t.Fatalf("no key moved to the joining node %s; the test proves nothing", joiner.TCP)
	}
	if kept != len(keys)-nMoved {
		t.Errorf("only %d of %d keys that never moved still had their cached row: a map change dropped entries it should keep", kept, len(keys)-nMoved)
	}
	checkServedOwnedOnly(t, nodes)
}

// checkEvictOwnerDown kills the owner of a key and runs my_bulk_exec with it
// at once: the statements run, and the answer names the owner whose entry
// could not be evicted.
func checkEvictOwnerDown(t *testing.T, nodes []*node, m clusterMap, admin *sql.DB) {
	via, owner := nodes[0], nodes[1]
	key := keysByOwner(m, "down", 1)[owner.TCP][0]
	owner.Kill(t)
	err := bulkUpdate(via, "bulk", "while-down", key)
	if err == nil || !strings.Contains(err.Error(), owner.TCP) {
		t.Fatalf("my_bulk_exec with a key of the dead %s: %v; want an error naming it", owner.TCP, err)
	}
	t.Logf("my_bulk_exec whose owner is down: %v", err)
	var note string
	if err := admin.QueryRow("SELECT note FROM faetest.item WHERE name = 'bulk'").Scan(&note); err != nil && !errors.Is(err, sql.ErrNoRows) {
		t.Fatal(err)
	}
	if note != "while-down" {
		t.Errorf("note = %q after my_bulk_exec, want while-down: the statements run before the evictions", note)
	}
}

// checkLcacheKept reads lc_* key through n after its vbucket may have
// moved away and back: its entry moved with it, so it is still there.
func checkLcacheKept(t *testing.T, n *node, key string) {
	t.Helper()
	if got, err := n.fun.LcGet(t.Context(), rc, key); err != nil || string(got) != "before" {
		t.Errorf("lc_get %q through %s after a join and a leave = %q, %s; want before (handed off both ways)", key, n.TCP, got, errText(err))
	}
}
