package mysql

import (
	"context"
	"database/sql"
	"testing"

	"github.com/faed/faed/scripts/testserver"
)

// benchQuery is a typical my_query read: one bound argument, one row.
const benchQuery = "SELECT id, name, note FROM item WHERE name = ?"

// benchServer starts MariaDB with a small table and returns the pool app
// of a Client on it.
func benchServer(b *testing.B) (*testserver.MariaDB, *server) {
	b.Helper()
	m := testserver.StartMariaDB(b)
	admin, err := sql.Open("mysql", m.DSN(""))
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	for _, s := range []string{"CREATE DATABASE app",
		"CREATE TABLE app.item (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64) UNIQUE, note VARCHAR(64))",
		"INSERT INTO app.item (name, note) VALUES ('alice', 'a'), ('bob', NULL)"} {
		if _, err := admin.Exec(s); err != nil {
			b.Fatal(err)
		}
	}
	cfg := DefaultConfig()
	p := rootPool(m.Addr, "app")
	p.MaxOpen, p.MaxIdle = 4, 4
	cfg.Pools = map[string]PoolConfig{"app": p}
	c, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return m, c.servers["app"]
}

// BenchmarkQueryCachedStmt: the statement is prepared once and found in the
// cache on every later call; the session check and the breaker included.
func BenchmarkQueryCachedStmt(b *testing.B) {
	_, srv := benchServer(b)
	ctx, args := context.Background(), []any{"alice"}
	b.ReportAllocs()
	for b.Loop() {
		if r, err := srv.query(ctx, benchQuery, args); err != nil || len(r.Rows) != 1 {
			b.Fatal(r, err)
		}
	}
	if st := srv.stmts.stats(); st.Misses != 1 {
		b.Errorf("stmt cache %+v, want 1 miss", st)
	}
}

// BenchmarkQueryInterpolated is the path before the statement cache: the
// driver interpolates the argument into the text (interpolateParams=true).
func BenchmarkQueryInterpolated(b *testing.B) {
	m, _ := benchServer(b)
	db, err := sql.Open("mysql", m.DSN("app")+"?interpolateParams=true")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(4)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		rows, err := db.QueryContext(ctx, benchQuery, "alice")
		if err != nil {
			b.Fatal(err)
		}
		if r, err := scan(rows); err != nil || len(r.Rows) != 1 {
			b.Fatal(r, err)
		}
	}
}

// BenchmarkQueryUncachedStmt: prepared and closed on every call, what
// interpolateParams=false costs without the cache.
func BenchmarkQueryUncachedStmt(b *testing.B) {
	m, _ := benchServer(b)
	db, err := sql.Open("mysql", m.DSN("app"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(4)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		rows, err := db.QueryContext(ctx, benchQuery, "alice")
		if err != nil {
			b.Fatal(err)
		}
		if r, err := scan(rows); err != nil || len(r.Rows) != 1 {
			b.Fatal(r, err)
		}
	}
}

// BenchmarkQueryDriverStmt is the floor of BenchmarkQueryCachedStmt: a
// database/sql statement prepared once and run on every call, with the same
// scan, and none of the servant's own work (pool lookup, session check,
// breaker, statement cache).
func BenchmarkQueryDriverStmt(b *testing.B) {
	m, _ := benchServer(b)
	db, err := sql.Open("mysql", m.DSN("app"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(4)
	ctx := context.Background()
	stmt, err := db.PrepareContext(ctx, benchQuery)
	if err != nil {
		b.Fatal(err)
	}
	defer stmt.Close()
	b.ReportAllocs()
	for b.Loop() {
		rows, err := stmt.QueryContext(ctx, "alice")
		if err != nil {
			b.Fatal(err)
		}
		if r, err := scan(rows); err != nil || len(r.Rows) != 1 {
			b.Fatal(r, err)
		}
	}
}
