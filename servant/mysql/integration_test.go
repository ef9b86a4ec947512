package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/faed/faed/scripts/testserver"

	"github.com/go-sql-driver/mysql"
)

// env is one MariaDB with the databases app (a global pool), lookup, and
// shard1 and shard2 (the shards user1 and user2 of the sharded pool user).
type env struct {
	m     *testserver.MariaDB
	admin *sql.DB // root on the server, no default database: bypasses the Client
	c     *Client
}

var schema = []string{
	"CREATE DATABASE app CHARACTER SET utf8mb4", "CREATE DATABASE lookup",
	"CREATE DATABASE shard1", "CREATE DATABASE shard2",
	`CREATE TABLE lookup.UserLookup (entityId BIGINT PRIMARY KEY, shardId INT NOT NULL,
		shardLock TINYINT NOT NULL DEFAULT 0)`,
	`CREATE TABLE shard1.profile (uid BIGINT PRIMARY KEY, name VARCHAR(64))`,
	`CREATE TABLE shard2.profile (uid BIGINT PRIMARY KEY, name VARCHAR(64))`,
	`CREATE TABLE app.item (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64) NOT NULL UNIQUE,
		note VARCHAR(64) NULL, data VARBINARY(512) NULL, prefs TEXT NULL)`,
}

func startEnv(t *testing.T) *env {
	t.Helper()
	m := testserver.StartMariaDB(t)
	admin, err := sql.Open("mysql", m.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	for _, s := range schema {
		if _, err := admin.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	e := &env{m: m, admin: admin}
	e.c = e.client(t, func(*Config) {})
	return e
}

// client builds a Client on e's server, closed when the test ends.
func (e *env) client(t *testing.T, change func(*Config)) *Client {
	t.Helper()
	c, err := New(e.config(change))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// rootPool is DefaultPoolConfig for db on addr as root, as a pool section
// naming only those keys decodes.
func rootPool(addr, db string) PoolConfig {
	p := DefaultPoolConfig()
	p.Addr, p.User, p.Database = addr, "root", db
	return p
}

// config is the configuration of e's pools, with change applied.
func (e *env) config(change func(*Config)) Config {
	cfg := DefaultConfig()
	pc := func(db string) PoolConfig {
		p := rootPool(e.m.Addr, db)
		p.MaxOpen, p.ReadTimeout, p.WriteTimeout = 16, 10*time.Second, 10*time.Second
		return p
	}
	cfg.Pools = map[string]PoolConfig{"app": pc("app"), "lookup": pc("lookup"), "user1": pc("shard1"), "user2": pc("shard2")}
	cfg.Lookup.Pool, cfg.Lookup.Sharded, cfg.Lookup.CacheTTL = "lookup", []string{"user"}, time.Hour
	change(&cfg)
	return cfg
}

// exec runs statements as root outside the Client: changes the Client
// cannot know about.
func (e *env) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := e.admin.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// value reads one value as root outside the Client.
func (e *env) value(t *testing.T, q string, args ...any) string {
	t.Helper()
	var v sql.NullString
	if err := e.admin.QueryRow(q, args...).Scan(&v); err != nil && !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("%s: %v", q, err)
	}
	return v.String
}

func query(t *testing.T, c *Client, pool string, hint int64, q string, args []string, key string) *Result {
	t.Helper()
	r, err := c.Query(context.Background(), pool, "", hint, q, args, key)
	if err != nil {
		t.Fatalf("Query(%s, %d, %q): %v", pool, hint, q, err)
	}
	return r
}

func TestIntegration(t *testing.T) {
	e := startEnv(t)
	e.exec(t, "INSERT INTO lookup.UserLookup (entityId, shardId) VALUES (1, 1), (2, 2), (3, 1), (4, 1), (5, 1)")
	t.Run("GlobalPool", e.testGlobalPool)
	t.Run("Sharded", e.testSharded)
	t.Run("LookupWriteEvicts", e.testLookupWriteEvicts)
	t.Run("LookupTTL", e.testLookupTTL)
	t.Run("ShardLock", e.testShardLock)
	t.Run("QueryCache", e.testQueryCache)
	t.Run("QueryCacheRoundTrip", e.testQueryCacheRoundTrip)
	t.Run("QueryShards", e.testQueryShards)
	t.Run("BulkExec", e.testBulkExec)
	t.Run("Merge", e.testMerge)
	t.Run("MergeConcurrent", e.testMergeConcurrent)
	t.Run("UserErrors", e.testUserErrors)
}

func (e *env) testGlobalPool(t *testing.T) {
	r := query(t, e.c, "app", 0, "INSERT INTO item (name, note) VALUES (?, ?)", []string{"a", "first"}, "")
	if r.RowsAffected != 1 || r.LastInsertID < 1 || r.Cols != nil {
		t.Fatalf("insert = %+v, want 1 row, an insert id, no columns", r)
	}
	r2 := query(t, e.c, "app", 0, "insert into item (name, note) values (?, NULL)", []string{"b"}, "")
	if r2.LastInsertID != r.LastInsertID+1 {
		t.Errorf("second insert id = %d, want %d", r2.LastInsertID, r.LastInsertID+1)
	}
	query(t, e.c, "app", 0, "INSERT INTO item (name, note) VALUES ('c', '')", nil, "")
	got := query(t, e.c, "app", 0, "  select name, note from item where name in (?, ?, ?) order by name", []string{"a", "b", "c"}, "")
	want := &Result{Cols: []string{"name", "note"}, Rows: [][]string{{"a", "first"}, {"b", Null}, {"c", ""}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("select = %+v, want %+v (NULL as %q, empty string as \"\")", got, want, Null)
	}
	upd := query(t, e.c, "app", 0, "UPDATE item SET note = 'x' WHERE name IN ('a', 'b')", nil, "")
	if upd.RowsAffected != 2 {
		t.Errorf("update rowsAffected = %d, want 2", upd.RowsAffected)
	}
	none := query(t, e.c, "app", 0, "SELECT name FROM item WHERE name = 'nobody'", nil, "")
	if none.Rows == nil || len(none.Rows) != 0 {
		t.Errorf("empty select Rows = %#v, want empty and not nil", none.Rows)
	}
	if _, err := e.c.Query(context.Background(), "nope", "", 0, "SELECT 1", nil, ""); !errors.Is(err, ErrUnknownPool) {
		t.Errorf("unknown pool: %v, want ErrUnknownPool", err)
	}
}

func (e *env) testSharded(t *testing.T) {
	for _, uid := range []int64{1, 2} {
		query(t, e.c, "user", uid, "INSERT INTO profile (uid, name) VALUES (?, ?)",
			[]string{fmt.Sprint(uid), fmt.Sprint("user", uid)}, "")
	}
	if got := e.value(t, "SELECT name FROM shard1.profile WHERE uid = 1"); got != "user1" {
		t.Errorf("uid 1 on shard1: %q, want user1", got)
	}
	if got := e.value(t, "SELECT name FROM shard2.profile WHERE uid = 2"); got != "user2" {
		t.Errorf("uid 2 on shard2: %q, want user2", got)
	}
	r := query(t, e.c, "user", 2, "SELECT name FROM profile WHERE uid = ?", []string{"2"}, "")
	if len(r.Rows) != 1 || r.Rows[0][0] != "user2" {
		t.Errorf("read of uid 2 = %v", r.Rows)
	}
	if _, err := e.c.Query(context.Background(), "user", "", 999, "SELECT 1", nil, ""); !errors.Is(err, ErrNoLookupRow) {
		t.Errorf("entity without lookup row: %v, want ErrNoLookupRow", err)
	}
	e.exec(t, "INSERT INTO lookup.UserLookup (entityId, shardId) VALUES (9, 7)")
	if _, err := e.c.Query(context.Background(), "user", "", 9, "SELECT 1", nil, ""); !errors.Is(err, ErrNoShardPool) ||
		!strings.Contains(err.Error(), "user7") {
		t.Errorf("entity on an unconfigured shard: %v, want ErrNoShardPool naming user7", err)
	}
}

// shardOf inserts a row for uid through the Client and reports which shard
// it landed on, then removes it.
func (e *env) shardOf(t *testing.T, c *Client, uid int64) string {
	t.Helper()
	query(t, c, "user", uid, "REPLACE INTO profile (uid, name) VALUES (?, 'probe')", []string{fmt.Sprint(uid)}, "")
	defer e.exec(t, "DELETE FROM shard1.profile WHERE uid = ?", uid)
	defer e.exec(t, "DELETE FROM shard2.profile WHERE uid = ?", uid)
	switch {
	case e.value(t, "SELECT name FROM shard1.profile WHERE uid = ?", uid) == "probe":
		return "shard1"
	case e.value(t, "SELECT name FROM shard2.profile WHERE uid = ?", uid) == "probe":
		return "shard2"
	}
	t.Fatalf("uid %d landed on no shard", uid)
	return ""
}

func (e *env) testLookupWriteEvicts(t *testing.T) {
	if got := e.shardOf(t, e.c, 3); got != "shard1" {
		t.Fatalf("uid 3 before the move: %s, want shard1", got)
	}
	before := e.c.Stats().Pools["user"]
	if got := e.shardOf(t, e.c, 3); got != "shard1" {
		t.Fatalf("uid 3 again: %s", got)
	}
	if after := e.c.Stats().Pools["user"]; after.LookupHits <= before.LookupHits {
		t.Fatalf("second call did not hit the lookup cache: %+v then %+v", before, after)
	}
	r, err := e.c.Query(context.Background(), "lookup", "UserLookup", 0,
		"UPDATE UserLookup SET shardId = 2 WHERE entityId = ?", []string{"3"}, "")
	if err != nil || r.RowsAffected != 1 {
		t.Fatalf("moving uid 3: %+v, %v", r, err)
	}
	if got := e.shardOf(t, e.c, 3); got != "shard2" {
		t.Errorf("uid 3 after its lookup row changed through Query: %s, want shard2", got)
	}
}

func (e *env) testLookupTTL(t *testing.T) {
	const ttl = 200 * time.Millisecond
	c := e.client(t, func(cfg *Config) { cfg.Lookup.CacheTTL = ttl })
	if got := e.shardOf(t, c, 5); got != "shard1" {
		t.Fatalf("uid 5 before the move: %s", got)
	}
	e.exec(t, "UPDATE lookup.UserLookup SET shardId = 2 WHERE entityId = 5") // out of band
	moved := time.Now()
	deadline := moved.Add(ttl + 5*time.Second)
	for e.shardOf(t, c, 5) != "shard2" {
		if time.Now().After(deadline) {
			t.Fatalf("an out-of-band lookup change was not seen within cache_ttl (%v) + 5s", ttl)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("out-of-band move seen after %v (cache_ttl %v)", time.Since(moved).Round(time.Millisecond), ttl)
}

func (e *env) testShardLock(t *testing.T) {
	query(t, e.c, "user", 4, "INSERT INTO profile (uid, name) VALUES (4, 'four')", nil, "")
	query(t, e.c, "lookup", 0, "UPDATE UserLookup SET shardLock = 1 WHERE entityId = 4", nil, "")
	_, err := e.c.Query(context.Background(), "user", "", 4, "UPDATE profile SET name = 'x' WHERE uid = 4", nil, "")
	if !errors.Is(err, ErrShardLocked) || !strings.Contains(err.Error(), "entity 4") {
		t.Fatalf("write to a locked entity: %v, want ErrShardLocked naming entity 4", err)
	}
	_, _, err = e.c.Merge(context.Background(), "user", "profile", 4, "uid = 4", "k", "name", `{}`)
	if !errors.Is(err, ErrShardLocked) {
		t.Errorf("merge on a locked entity: %v, want ErrShardLocked", err)
	}
	r := query(t, e.c, "user", 4, "SELECT name FROM profile WHERE uid = 4", nil, "")
	if len(r.Rows) != 1 || r.Rows[0][0] != "four" {
		t.Errorf("read of a locked entity = %v, want [[four]]", r.Rows)
	}
	e.exec(t, "UPDATE lookup.UserLookup SET shardLock = 0 WHERE entityId = 4") // out of band
	query(t, e.c, "user", 4, "UPDATE profile SET name = 'x' WHERE uid = 4", nil, "")
}

func (e *env) testQueryCache(t *testing.T) {
	query(t, e.c, "app", 0, "INSERT INTO item (name, note) VALUES ('cached', 'v1')", nil, "")
	const sel, key = "SELECT note FROM item WHERE name = 'cached'", "item:cached"
	first := query(t, e.c, "app", 0, sel, nil, key)
	e.exec(t, "UPDATE app.item SET note = 'v2' WHERE name = 'cached'") // out of band: the cache cannot know
	if got := query(t, e.c, "app", 0, sel, nil, key); got != first || got.Rows[0][0] != "v1" {
		t.Fatalf("second read = %v, want the cached v1", got.Rows)
	}
	st := e.c.Stats().Pools["app"]
	if st.CacheHits < 1 || st.CacheMisses < 1 {
		t.Errorf("app cache stats = %d hits, %d misses; want at least one of each", st.CacheHits, st.CacheMisses)
	}
	query(t, e.c, "app", 0, "UPDATE item SET note = 'v3' WHERE name = 'cached'", nil, key)
	if got := query(t, e.c, "app", 0, sel, nil, key); got.Rows[0][0] != "v3" {
		t.Fatalf("read after a write with the key = %v, want v3", got.Rows)
	}
	e.exec(t, "UPDATE app.item SET note = 'v4' WHERE name = 'cached'")
	e.c.Evict(key)
	if got := query(t, e.c, "app", 0, sel, nil, key); got.Rows[0][0] != "v4" {
		t.Fatalf("read after Evict = %v, want v4", got.Rows)
	}
}

func (e *env) testQueryCacheRoundTrip(t *testing.T) {
	var all []byte
	for b := range 256 {
		all = append(all, byte(b))
	}
	e.exec(t, "INSERT INTO app.item (name, note, data) VALUES ('bytes', 'NULL', ?), ('utf8', ' é 😀 ', ''), ('nulls', NULL, NULL)", all)
	const sel = "SELECT name, note, data, id IS NULL AS nid FROM item WHERE name IN ('bytes', 'utf8', 'nulls') ORDER BY name"
	fresh := query(t, e.c, "app", 0, sel, nil, "")
	filled := query(t, e.c, "app", 0, sel, nil, "roundtrip")
	hit := query(t, e.c, "app", 0, sel, nil, "roundtrip")
	if hit != filled {
		t.Fatal("third read did not come from the cache")
	}
	if !reflect.DeepEqual(fresh, hit) {
		t.Fatalf("cached result differs:\n fresh %q\n   hit %q", fresh.Rows, hit.Rows)
	}
	if hit.Rows[0][2] != string(all) {
		t.Errorf("binary column = %q, want all 256 byte values", hit.Rows[0][2])
	}
	if row := hit.Rows[1]; row[1] != Null || row[2] != Null || row[3] != "0" {
		t.Errorf("nulls row = %q, want NULL, NULL, 0", row)
	}
	if row := hit.Rows[2]; row[1] != " é 😀 " || row[2] != "" {
		t.Errorf("utf8 row = %q", row)
	}
}

func (e *env) testQueryShards(t *testing.T) {
	e.exec(t, "DELETE FROM shard1.profile")
	e.exec(t, "DELETE FROM shard2.profile")
	e.exec(t, "INSERT INTO shard1.profile VALUES (10, 'a'), (11, 'b')")
	e.exec(t, "INSERT INTO shard2.profile VALUES (20, 'c')")
	r, err := e.c.QueryShards(context.Background(), "user", "profile", "SELECT uid, name FROM profile ORDER BY uid DESC", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"11", "b"}, {"10", "a"}, {"20", "c"}}
	if !reflect.DeepEqual(r.Rows, want) || !reflect.DeepEqual(r.Cols, []string{"uid", "name"}) {
		t.Errorf("QueryShards = %v %v, want shard1's rows then shard2's: %v", r.Cols, r.Rows, want)
	}
	w, err := e.c.QueryShards(context.Background(), "user", "profile", "UPDATE profile SET name = 'z'", nil)
	if err != nil || w.RowsAffected != 3 {
		t.Errorf("QueryShards update = %+v, %v; want 3 rows affected", w, err)
	}
	g, err := e.c.QueryShards(context.Background(), "app", "item", "SELECT COUNT(*) FROM item WHERE name = ?", []string{"a"})
	if err != nil || !reflect.DeepEqual(g.Rows, [][]string{{"1"}}) {
		t.Errorf("QueryShards on a global pool = %+v, %v", g, err)
	}
}

func (e *env) testBulkExec(t *testing.T) {
	ctx := context.Background()
	pools := []string{"app", "app", "user"}
	sqls := []string{"INSERT INTO item (name) VALUES (?), (?)", "UPDATE item SET note = 'bulk' WHERE name IN (?, ?)",
		"UPDATE profile SET name = ? WHERE uid = 1"}
	args := [][]string{{"bulk1", "bulk2"}, {"bulk1", "bulk2"}, {"bulkuser"}}
	n, err := e.c.BulkExec(ctx, pools, []string{"item", "item", "profile"}, []int64{0, 0, 1}, sqls, args, []string{"", "", ""}, nil)
	if err != nil || n != 4 {
		t.Fatalf("BulkExec = %d, %v; want 4 (2 inserted + 2 updated + 0)", n, err)
	}
	sqls = []string{"UPDATE item SET note = 'again' WHERE name = 'bulk1'", "INSERT INTO item (name) VALUES ('bulk2')",
		"INSERT INTO item (name) VALUES ('bulk3')"}
	n, err = e.c.BulkExec(ctx, []string{"app", "app", "app"}, []string{"", "", ""}, []int64{0, 0, 0}, sqls,
		[][]string{nil, nil, nil}, []string{"", "", ""}, nil)
	var be *BulkError
	if !errors.As(err, &be) || be.Ran != 1 || be.Total != 3 || n != 1 || !strings.Contains(err.Error(), "1 ran before it") {
		t.Fatalf("BulkExec with a duplicate second = %d, %v; want 1 and a BulkError with Ran 1", n, err)
	}
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1062 {
		t.Errorf("BulkError does not unwrap to the duplicate key: %v", err)
	}
	if got := e.value(t, "SELECT COUNT(*) FROM app.item WHERE name = 'bulk3'"); got != "0" {
		t.Errorf("the statement after the failure ran")
	}
	_, err = e.c.BulkExec(ctx, []string{"app"}, nil, []int64{0}, []string{"SELECT 1"}, [][]string{nil}, []string{""}, nil)
	if !errors.Is(err, ErrBulkLengths) {
		t.Errorf("unequal lists: %v, want ErrBulkLengths", err)
	}
}

func (e *env) testMerge(t *testing.T) {
	ctx := context.Background()
	query(t, e.c, "app", 0, "INSERT INTO item (name, prefs) VALUES ('m', ?)", []string{`{"a":1,"o":{"x":1}}`}, "")
	ok, val, err := e.c.Merge(ctx, "app", "item", 0, "name = 'm'", "m", "prefs", `{"b":"it's","o":{"y":2}}`)
	want := `{"a":1,"b":"it's","o":{"x":1,"y":2}}`
	if err != nil || !ok || val != want {
		t.Fatalf("Merge = %v, %s, %v; want true, %s", ok, val, err, want)
	}
	if got := e.value(t, "SELECT prefs FROM app.item WHERE name = 'm'"); got != want {
		t.Errorf("stored %s, want %s", got, want)
	}
	ok, val, err = e.c.Merge(ctx, "app", "item", 0, "name = 'nobody'", "k", "prefs", `{"a":1}`)
	if ok || val != "" || err != nil {
		t.Errorf("Merge of no row = %v, %q, %v; want false, \"\", nil", ok, val, err)
	}
	if _, _, err = e.c.Merge(ctx, "app", "item", 0, "name LIKE 'bulk%'", "k", "prefs", `{}`); !errors.Is(err, ErrMergeRows) {
		t.Errorf("Merge of two rows: %v, want ErrMergeRows", err)
	}
	if _, _, err = e.c.Merge(ctx, "app", "item", 0, "name = 'm'", "k", "prefs`=1 --", `{}`); !errors.Is(err, ErrBadIdentifier) {
		t.Errorf("Merge with a spliced column: %v, want ErrBadIdentifier", err)
	}
	query(t, e.c, "app", 0, "UPDATE item SET prefs = '[1]' WHERE name = 'm'", nil, "")
	if _, _, err = e.c.Merge(ctx, "app", "item", 0, "name = 'm'", "k", "prefs", `{}`); !errors.Is(err, ErrMergeStored) {
		t.Errorf("Merge into an array: %v, want ErrMergeStored", err)
	}
}

func (e *env) testMergeConcurrent(t *testing.T) {
	const n = 50
	query(t, e.c, "app", 0, "INSERT INTO item (name) VALUES ('race')", nil, "") // prefs NULL: counts as {}
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, _, err := e.c.Merge(context.Background(), "app", "item", 0, "name = 'race'", "race", "prefs",
				fmt.Sprintf(`{"k%02d":%d}`, i, i))
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	stored, err := decodeObject(e.value(t, "SELECT prefs FROM app.item WHERE name = 'race'"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if v, ok := stored[fmt.Sprintf("k%02d", i)]; !ok || v.(fmt.Stringer).String() != fmt.Sprint(i) {
			t.Errorf("key k%02d = %v, %v: an update was lost", i, v, ok)
		}
	}
	if len(stored) != n {
		t.Errorf("stored %d keys, want %d", len(stored), n)
	}
}

func (e *env) testUserErrors(t *testing.T) {
	c := e.client(t, func(cfg *Config) { cfg.Breaker.FailureThreshold = 2 })
	bad := []struct {
		sql  string
		errn uint16
	}{
		{"INSERT INTO item (name) VALUES ('a')", 1062},
		{"SELECT FROM WHERE", 1064},
		{"SELECT nocolumn FROM item", 1054},
		{"SELECT * FROM notable", 1146},
	}
	for range 3 {
		for _, b := range bad {
			_, err := c.Query(context.Background(), "app", "", 0, b.sql, nil, "")
			var me *mysql.MySQLError
			if !errors.As(err, &me) || me.Number != b.errn {
				t.Fatalf("%s: %v, want MySQL error %d", b.sql, err, b.errn)
			}
		}
	}
	st := c.Stats().Pools["app"]
	if st.Breaker.State.String() != "closed" || st.Breaker.Opens != 0 || st.Errors != 12 {
		t.Errorf("after 12 user errors: breaker %+v, errors %d; want closed, never opened, 12 errors", st.Breaker, st.Errors)
	}
	query(t, c, "app", 0, "SELECT 1", nil, "")
}
