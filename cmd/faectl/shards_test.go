package main

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/faed/faed/scripts/testserver"

	_ "github.com/go-sql-driver/mysql"
)

// TestShards shows and changes the MySQL shard map of a faed whose pool
// "vu" is sharded by vbucket over two databases of a real MariaDB.
func TestShards(t *testing.T) {
	m := testserver.StartMariaDB(t)
	db, err := sql.Open("mysql", m.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var cfg strings.Builder
	for i := range 2 {
		if _, err := db.Exec(fmt.Sprintf("CREATE DATABASE vu%d", i)); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&cfg, "[servant.mysql.pools.vu%d]\naddr = %q\nuser = \"root\"\ndatabase = \"vu%d\"\n", i, m.Addr, i)
	}
	cfg.WriteString("[servant.mysql.vbucket]\nsharded = [\"vu\"]\nshards = 2\n")
	n := testserver.StartFaed(t, t.TempDir(), cfg.String())
	admin := []string{"-admin", n.HTTP}
	shards := func(args ...string) result { return faectl(append(append([]string{"shards"}, admin...), args...)...) }
	if r := shards(); r.code != 0 || !strings.Contains(r.out, "shard 0    512 vbuckets") || !strings.Contains(r.out, "no vbucket locked") {
		t.Errorf("shards: exit %d, %q %q; want 512 vbuckets on each shard, none locked", r.code, r.out, r.err)
	}
	if r := shards("lock", "7"); r.code != 2 {
		t.Errorf("lock without -reason: exit %d, %q; want a usage error", r.code, r.err)
	}
	if r := shards("flip", "7", "0"); r.code == 0 || !strings.Contains(r.err, "must be locked") {
		t.Errorf("flip of an unlocked vbucket: exit %d, %q; want the node's refusal", r.code, r.err)
	}
	if r := shards("-reason", "to shard 0", "lock", "7"); r.code != 0 {
		t.Fatalf("lock: exit %d, %q", r.code, r.err)
	}
	if r := shards(); !strings.Contains(r.out, "vbucket 7 locked: to shard 0") {
		t.Errorf("shards after the lock printed %q", r.out)
	}
	for _, step := range [][]string{{"flip", "7", "0"}, {"unlock", "7"}} {
		if r := shards(step...); r.code != 0 {
			t.Fatalf("%v: exit %d, %q", step, r.code, r.err)
		}
	}
	if r := shards(); !strings.Contains(r.out, "shard 0    513 vbuckets") || !strings.Contains(r.out, "no vbucket locked") {
		t.Errorf("shards after the flip printed %q; want 513 vbuckets on shard 0, none locked", r.out)
	}
}
