package servant

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/faed/faed/peer/vbucket"
	"github.com/faed/faed/scripts/testserver"
	"github.com/faed/faed/servant/mysql"

	_ "github.com/go-sql-driver/mysql"
)

// TestHandOffQueryCacheFromMariaDB: a query-cache entry filled by a real
// my_query on the old owner is served from the cache on the new owner after
// the move: a row changed behind the cache's back still reads as cached.
func TestHandOffQueryCacheFromMariaDB(t *testing.T) {
	m := testserver.StartMariaDB(t)
	admin, err := sql.Open("mysql", m.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, q := range []string{"CREATE DATABASE app", "CREATE TABLE app.item (id INT PRIMARY KEY, name VARCHAR(32))",
		"INSERT INTO app.item VALUES (1, 'before')"} {
		if _, err := admin.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	cfg := DefaultConfig()
	cfg.MySQL.Pools = map[string]mysql.PoolConfig{"app": {Addr: m.Addr, User: "root", Database: "app",
		ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}}
	a, b := twoNodes(t)
	a.FunServant, b.FunServant = newServantCfg(t, a.view, cfg), newServantCfg(t, b.view, cfg)
	a.view.peers["b:1"], b.view.peers["a:1"] = b.FunServant, a.FunServant
	const vb = 12
	key := keysIn(vb, 1, "item")[0]
	ctx := context.Background()
	read := func(n node) string {
		t.Helper()
		r, err := n.MyQuery(ctx, rc, "app", "item", 0, "SELECT name FROM item WHERE id = ?", []string{"1"}, key)
		if err != nil || len(r.Rows) != 1 {
			t.Fatalf("my_query = %v, %v", r, err)
		}
		return r.Rows[0][0]
	}
	if got := read(a); got != "before" {
		t.Fatalf("first read = %q", got)
	}
	if _, err := admin.Exec("UPDATE app.item SET name = 'after' WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	a.view.set(vb, vbucket.Placement{Outgoing: true}, false)
	b.view.set(vb, vbucket.Placement{Owner: "a:1", Incoming: true}, false)
	push(t, b, pull(t, a, vb, stepSnapshot, nil))
	a.view.set(vb, vbucket.Placement{Outgoing: true, Fenced: true}, false)
	final := pull(t, a, vb, stepFinal, nil)
	if len(final.QueryCache) != 1 {
		t.Fatalf("final pull carries %d query-cache entries, want 1", len(final.QueryCache))
	}
	push(t, b, final)
	flip(vb)(a, b)
	a.ViewChanged()
	b.ViewChanged()
	if got := read(b); got != "before" {
		t.Fatalf("read on the new owner = %q; want the cached %q moved from the old owner", got, "before")
	}
	if got, _ := a.my.cur.Load().client.ExportVBucket(vb); len(got) != 0 {
		t.Fatalf("the old owner kept %d query-cache entries", len(got))
	}
}
