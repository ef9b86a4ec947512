package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faed/faed/scripts/testserver"
)

// MySQL sharding by vbucket (SPEC §5.3, issue 9 point 5) on two real
// MariaDB servers, one shard each, through two faed nodes on a real
// ZooKeeper: a vbucket's rows move from one shard to the other by an
// operator's lock, copy, flip and unlock, and both nodes follow each step.

func TestMySQLShardsByVBucket(t *testing.T) {
	shards := [2]*testserver.MariaDB{testserver.StartMariaDB(t), testserver.StartMariaDB(t)}
	var dbs [2]*sql.DB
	var pools strings.Builder
	for i, m := range shards {
		prepareMySQL(t, m)
		db, err := sql.Open("mysql", m.DSN("faeshard1"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
		fmt.Fprintf(&pools, "[servant.mysql.pools.vu%d]\naddr = %q\nuser = %q\npassword = %q\ndatabase = \"faeshard1\"\n",
			i, m.Addr, mysqlUser, mysqlPassword)
	}
	pools.WriteString("[servant.mysql.vbucket]\nsharded = [\"vu\"]\nshards = 2\n")
	zk := testserver.StartZooKeeper(t)
	o := clusterOpts{zookeeper: []string{zk.Addr}, sessionTimeout: "2s", firstWorker: 1, root: "/fae/test/shards", extra: pools.String()}
	nodes := startNodes(t, o, 2)
	a, b := nodes[0], nodes[1]
	waitMap(t, nodes, 10*time.Second)

	// An entity on shard 0 (vbucket v starts on shard v % 2).
	var id int64
	for id = 1; hintVB(id)%2 != 0; id++ {
	}
	vb := strconv.Itoa(hintVB(id))
	if err := writeVU(a, id, "before"); err != nil {
		t.Fatalf("write for entity %d through %s: %v", id, a.TCP, err)
	}
	if n := rowsOf(t, dbs[0], id); n != 1 {
		t.Fatalf("shard 0 holds %d rows of entity %d after one write, want 1", n, id)
	}

	t.Run("bad changes are refused", func(t *testing.T) {
		for _, q := range []string{"op=flip&vbucket=" + vb + "&shard=1", "op=lock&vbucket=" + vb, "op=lock&vbucket=999999&reason=x",
			"op=unlock&vbucket=" + vb, "op=lock&vbucket=" + vb + "&reason=" + strings.Repeat("r", 501), "op=drop&vbucket=" + vb} {
			if code, body := adminPost(t, a.Faed, "/mysql/shards?"+q); code != http.StatusBadRequest {
				t.Errorf("POST /mysql/shards?%.60s = %d %s, want 400", q, code, body)
			}
		}
	})

	shardChange(t, a, "op=lock&vbucket="+vb+"&reason="+url.QueryEscape("moving to shard 1"))
	testserver.EventuallyNil(t, "every node to refuse the locked vbucket's writes", time.Second, func() error {
		for _, n := range nodes {
			if err := writeVU(n, id, "locked"); err == nil || !strings.Contains(err.Error(), "locked") || !strings.Contains(err.Error(), "moving to shard 1") {
				return fmt.Errorf("write through %s: %v, want the lock's error", n.TCP, err)
			}
		}
		return nil
	})
	if got, err := readVU(b, id); err != nil || got != "faeshard1" {
		t.Errorf("read of the locked vbucket through %s: %q, %v; want it served", b.TCP, got, err)
	}

	// The operator's own means: copy the vbucket's rows to shard 1.
	moveRows(t, dbs[0], dbs[1], id)
	shardChange(t, b, "op=flip&vbucket="+vb+"&shard=1")
	shardChange(t, b, "op=unlock&vbucket="+vb)
	testserver.EventuallyNil(t, "every node to write the vbucket to shard 1", time.Second, func() error {
		for _, n := range nodes {
			if err := writeVU(n, id, "after "+n.TCP); err != nil {
				return fmt.Errorf("write through %s: %v", n.TCP, err)
			}
		}
		return nil
	})
	if n0, n1 := rowsOf(t, dbs[0], id), rowsOf(t, dbs[1], id); n0 != 0 || n1 < 3 {
		t.Errorf("after the flip: %d rows of entity %d on shard 0, %d on shard 1; want 0 and the moved one plus two", n0, id, n1)
	}
	if body := string(adminGet(t, a.Faed, "/mysql/shards")); strings.Contains(body, `"locked":{"`) {
		t.Errorf("GET /mysql/shards = %.200s, want the map without locks", body)
	}
}

// hintVB is the vbucket of entity id among testVBuckets.
func hintVB(id int64) int {
	return int(crc32.ChecksumIEEE([]byte(strconv.FormatInt(id, 10))) % testVBuckets)
}

func writeVU(n *node, id int64, body string) error {
	_, err := n.fun.MyQuery(context.Background(), rc, "vu", "Post", id,
		"INSERT INTO Post (uid, body) VALUES (?, ?)", []string{strconv.FormatInt(id, 10), body}, "")
	return err
}

// readVU answers which shard server's database served a read of entity id;
// both are named faeshard1, so it tells a read served from one that failed.
func readVU(n *node, id int64) (string, error) {
	r, err := n.fun.MyQuery(context.Background(), rc, "vu", "", id, "SELECT DATABASE()", nil, "")
	if err != nil {
		return "", err
	}
	if len(r.Rows) != 1 {
		return "", errors.New("no row")
	}
	return r.Rows[0][0], nil
}

func rowsOf(t *testing.T, db *sql.DB, id int64) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM Post WHERE uid = ?", id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// moveRows copies entity id's rows from one shard to the other and deletes
// them from the first.
func moveRows(t *testing.T, from, to *sql.DB, id int64) {
	t.Helper()
	rows, err := from.Query("SELECT body FROM Post WHERE uid = ?", id)
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b)
	}
	rows.Close()
	for _, b := range bodies {
		if _, err := to.Exec("INSERT INTO Post (uid, body) VALUES (?, ?)", id, b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := from.Exec("DELETE FROM Post WHERE uid = ?", id); err != nil {
		t.Fatal(err)
	}
}

func shardChange(t *testing.T, n *node, query string) {
	t.Helper()
	if code, body := adminPost(t, n.Faed, "/mysql/shards?"+query); code != http.StatusOK {
		t.Fatalf("POST /mysql/shards?%s through %s = %d %s", query, n.TCP, code, body)
	}
}
