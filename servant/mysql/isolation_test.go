package mysql

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
)

// injection is the argument that, interpolated by the driver for a
// connection a caller switched to gbk, ends the string literal: the escaping
// backslash becomes the second byte of the gbk character 0xbf5c.
const injection = "\xbf' OR 1=1 -- "

// TestSessionIsolation reproduces the two attacks on a shared pooled
// connection (one connection per pool, so every caller shares it) and shows
// them harmless: the session-changing statement is refused, and the next
// caller's statement runs in the pool's pinned session.
func TestSessionIsolation(t *testing.T) {
	e := startEnv(t)
	e.exec(t, "INSERT INTO app.item (name, note) VALUES ('alice', 'a'), ('bob', 'b')")
	e.exec(t, "CREATE TABLE app.gbkitem (name VARCHAR(64) PRIMARY KEY, note VARCHAR(64)) CHARACTER SET gbk")
	e.exec(t, "INSERT INTO app.gbkitem VALUES ('alice', 'a'), ('bob', 'b')")
	one := func(cfg *Config) {
		for name, p := range cfg.Pools {
			p.MaxOpen, p.MaxIdle = 1, 1
			cfg.Pools[name] = p
		}
	}
	c := e.client(t, one)
	t.Run("SetNames", func(t *testing.T) { e.testSetNames(t, c) })
	t.Run("SetNamesControl", e.testSetNamesControl)
	t.Run("PinnedGBK", func(t *testing.T) {
		e.testPinnedGBK(t, e.client(t, func(cfg *Config) {
			one(cfg)
			setPool(cfg, "app", func(p *PoolConfig) { p.Charset = "gbk" })
		}))
	})
	t.Run("Autocommit", func(t *testing.T) { e.testAutocommit(t, c) })
	t.Run("AutocommitControl", e.testAutocommitControl)
	t.Run("Refusals", func(t *testing.T) { e.testRefusals(t, c) })
	t.Run("PinnedSession", e.testPinnedSession)
}

// refused runs sql as caller A and checks that it is refused as a session
// change naming what it found.
func refused(t *testing.T, c *Client, sql, what string) {
	t.Helper()
	_, err := c.Query(context.Background(), "app", "", 0, sql, nil, "")
	if !errors.Is(err, ErrSessionStatement) || !strings.Contains(err.Error(), what) {
		t.Errorf("%q: %v, want ErrSessionStatement naming %q", sql, err, what)
	}
}

func (e *env) testSetNames(t *testing.T, c *Client) {
	for _, sql := range []string{"SET NAMES gbk", "set names gbk", "/* x */ SET NAMES gbk", "-- x\nSET NAMES gbk",
		"# x\nSET NAMES gbk", "SET character_set_client = gbk"} {
		refused(t, c, sql, "SET is not allowed")
	}
	refused(t, c, "/*!40101 SET NAMES gbk */", "executable comment")
	refused(t, c, "SELECT 1 /*!40101 , (SELECT @@character_set_client) */", "executable comment")

	// Caller B, on the same connection.
	r := query(t, c, "app", 0, "SELECT name FROM item WHERE name = ?", []string{injection}, "")
	if len(r.Rows) != 0 {
		t.Errorf("bound %q returned %v, want no rows", injection, r.Rows)
	}
	r = query(t, c, "app", 0, "SELECT @@character_set_client, @@character_set_connection", nil, "")
	if got := r.Rows[0]; got[0] != "utf8mb4" || got[1] != "utf8mb4" {
		t.Errorf("connection charset after the refused SET NAMES = %v, want utf8mb4", got)
	}
	st := c.Stats().Pools["app"]
	if st.Errors != 0 || st.Breaker.ConsecutiveFailures != 0 || st.Breaker.State.String() != "closed" {
		t.Errorf("refused statements reached the pool's counters or breaker: errors %d, breaker %+v", st.Errors, st.Breaker)
	}
}

// testSetNamesControl shows the attack is real on this server: with the
// driver interpolating arguments, SET NAMES gbk on a shared connection
// makes the same argument return every row.
func (e *env) testSetNamesControl(t *testing.T) {
	db := e.rawPool(t, "app?interpolateParams=true")
	if _, err := db.Exec("SET NAMES gbk"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM item WHERE name = ?", injection).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("interpolated %q under gbk matched %d rows; the control expects the injection to match all 2", injection, n)
	}
}

// testPinnedGBK: a pool whose pinned charset is gbk binds the same argument
// safely: the value never passes through SQL text. (Its table is gbk too: a
// non-ASCII gbk argument compared with a utf8mb4 column is an error 1267.)
func (e *env) testPinnedGBK(t *testing.T, c *Client) {
	r := query(t, c, "app", 0, "SELECT @@character_set_connection", nil, "")
	if r.Rows[0][0] != "gbk" {
		t.Fatalf("pinned charset = %v, want gbk", r.Rows)
	}
	r = query(t, c, "app", 0, "SELECT name FROM gbkitem WHERE name = ?", []string{injection}, "")
	if len(r.Rows) != 0 {
		t.Errorf("gbk pool: bound %q returned %v, want no rows", injection, r.Rows)
	}
	r = query(t, c, "app", 0, "SELECT note FROM gbkitem WHERE name = ?", []string{"alice"}, "")
	if len(r.Rows) != 1 || r.Rows[0][0] != "a" {
		t.Errorf("gbk pool: a plain argument returned %v, want [[a]]", r.Rows)
	}
	refused(t, c, "SELECT '\xbf\\', GET_LOCK('x', 1) -- '", "GET_LOCK")
}

func (e *env) testAutocommit(t *testing.T, c *Client) {
	for _, sql := range []string{"SET autocommit=0", "set @@session.autocommit = 0", "SET SESSION autocommit = OFF"} {
		refused(t, c, sql, "SET is not allowed")
	}
	refused(t, c, "BEGIN", "BEGIN is not allowed")
	refused(t, c, "START TRANSACTION", "START is not allowed")
	refused(t, c, "/*!SET autocommit=0*/", "executable comment")

	// Caller B's UPDATE is visible from an independent connection as soon
	// as it is acknowledged.
	r := query(t, c, "app", 0, "UPDATE item SET note = ? WHERE name = ?", []string{"kept", "bob"}, "")
	if r.RowsAffected != 1 {
		t.Fatalf("update = %+v, want 1 row", r)
	}
	if got := e.value(t, "SELECT note FROM app.item WHERE name = 'bob'"); got != "kept" {
		t.Errorf("an independent connection reads %q after the acknowledged UPDATE, want kept", got)
	}
	r = query(t, c, "app", 0, "SELECT @@autocommit, @@in_transaction", nil, "")
	if got := r.Rows[0]; got[0] != "1" || got[1] != "0" {
		t.Errorf("pooled connection: autocommit, in_transaction = %v, want 1, 0", got)
	}
}

// testAutocommitControl shows what the check prevents: after SET
// autocommit=0 on a shared connection, an acknowledged UPDATE is not seen
// by an independent connection.
func (e *env) testAutocommitControl(t *testing.T) {
	db := e.rawPool(t, "app")
	if _, err := db.Exec("SET autocommit=0"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE item SET note = 'lost' WHERE name = 'alice'"); err != nil {
		t.Fatal(err)
	}
	if got := e.value(t, "SELECT note FROM app.item WHERE name = 'alice'"); got == "lost" {
		t.Fatal("the control's uncommitted UPDATE is visible: the test could not tell a lost update")
	}
	if _, err := db.Exec("ROLLBACK"); err != nil {
		t.Fatal(err)
	}
}

func (e *env) testRefusals(t *testing.T, c *Client) {
	ctx := context.Background()
	for _, q := range []struct{ sql, what string }{
		{"SELECT GET_LOCK('a', 1)", "GET_LOCK"},
		{"SELECT @x := 1", ":="},
		{"SELECT name INTO @x FROM item LIMIT 1", "INTO @variable"},
		{"SELECT * FROM item INTO OUTFILE '/tmp/faed-x'", "INTO OUTFILE"},
		{"CREATE TEMPORARY TABLE tmp (a INT)", "CREATE TEMPORARY"},
		{"LOCK TABLES item WRITE", "LOCK is not allowed"},
		{"USE mysql", "USE is not allowed"},
	} {
		refused(t, c, q.sql, q.what)
	}
	_, err := c.QueryShards(ctx, "user", "", "SET NAMES gbk", nil)
	if !errors.Is(err, ErrSessionStatement) {
		t.Errorf("QueryShards: %v, want ErrSessionStatement", err)
	}
	_, _, err = c.Merge(ctx, "app", "item", 0, "name = 'alice' AND GET_LOCK('m', 1)", "k", "prefs", "{}")
	if !errors.Is(err, ErrSessionStatement) {
		t.Errorf("Merge with a named lock in where: %v, want ErrSessionStatement", err)
	}
	// Multi-statements are off: the second statement never runs.
	if _, err := c.Query(ctx, "app", "", 0, "SELECT 1; SET NAMES gbk", nil, ""); err == nil {
		t.Error("a second statement after ';' was accepted")
	}
	r := query(t, c, "app", 0, "SELECT @@character_set_connection, IS_USED_LOCK('a') IS NULL, @x IS NULL", nil, "")
	if got := r.Rows[0]; got[0] != "utf8mb4" || got[1] != "1" || got[2] != "1" {
		t.Errorf("connection after the refusals: charset, no lock, no variable = %v, want utf8mb4, 1, 1", got)
	}
}

// testPinnedSession: every key pinned in config reaches new connections.
func (e *env) testPinnedSession(t *testing.T) {
	c := e.client(t, func(cfg *Config) {
		setPool(cfg, "app", func(p *PoolConfig) {
			p.Collation, p.SQLMode, p.TimeZone = "utf8mb4_bin", "STRICT_ALL_TABLES,NO_ZERO_DATE", "+03:00"
		})
	})
	r := query(t, c, "app", 0, "SELECT @@collation_connection, @@sql_mode, @@time_zone, @@autocommit", nil, "")
	want := []string{"utf8mb4_bin", "STRICT_ALL_TABLES,NO_ZERO_DATE", "+03:00", "1"}
	if got := r.Rows[0]; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("pinned session = %v, want %v", got, want)
	}
	r = query(t, e.c, "app", 0, "SELECT @@sql_mode, @@character_set_connection", nil, "")
	if got := r.Rows[0]; got[0] != defaultSQLMode || got[1] != defaultCharset {
		t.Errorf("default session = %v, want %s, %s", got, defaultSQLMode, defaultCharset)
	}
}

// rawPool opens a one-connection pool on e's server outside the Client, as
// the driver's DSN path (with its parameters) gives it.
func (e *env) rawPool(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", e.m.DSN(path))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}
