package mysql

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeCluster is a Cluster whose ownership and notices the test controls.
type fakeCluster struct {
	mu        sync.Mutex // guards the fields below
	notOwned  map[string]bool
	notices   int
	noticeErr error
}

func (f *fakeCluster) Owns(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.notOwned[key]
}

func (f *fakeCluster) LookupChanged() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notices++
	return f.noticeErr
}

func (f *fakeCluster) set(fn func(f *fakeCluster)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// TestCoherence runs the cluster-facing parts of the Client against a real
// MariaDB: BulkExec's evictions, lookup notices and purges, and a query
// cache that holds only owned keys.
func TestCoherence(t *testing.T) {
	e := startEnv(t)
	e.exec(t, "INSERT INTO lookup.UserLookup (entityId, shardId) VALUES (1, 1), (2, 1)")
	e.exec(t, "INSERT INTO app.item (name, note) VALUES ('a', 'v1'), ('b', 'v1')")
	t.Run("BulkExecEvictions", e.testBulkEvictions)
	t.Run("LookupNotices", e.testLookupNotices)
	t.Run("UnownedKeys", e.testUnownedKeys)
}

func (e *env) testBulkEvictions(t *testing.T) {
	ctx := context.Background()
	sqls := []string{"SELECT 1", "UPDATE item SET note = 'v2' WHERE name = 'a'", "UPDATE item SET note = 'v2' WHERE name = 'b'",
		"UPDATE item SET note = 'v2' WHERE name = 'a'", "INSERT INTO item (name) VALUES ('a')", "UPDATE item SET note = 'never'"}
	keys := []string{"read", "ka", "kb", "ka", "dup", "after"}
	n := len(sqls)
	var asked [][]string
	evict := func(k []string) error { asked = append(asked, k); return nil }
	got, err := e.c.BulkExec(ctx, repeat("app", n), repeat("item", n), make([]int64, n), sqls, make([][]string, n), keys, evict)
	var be *BulkError
	if !errors.As(err, &be) || be.Ran != 4 || got != 2 {
		t.Fatalf("BulkExec = %d, %v; want 2 rows and the duplicate insert (statement 5) failing", got, err)
	}
	want := []string{"ka", "kb", "dup"} // writes that ran or failed, once each; not the read, not the one after
	if len(asked) != 1 || strings.Join(asked[0], ",") != strings.Join(want, ",") {
		t.Errorf("evict called with %q, want once with %q", asked, want)
	}

	unreachable := errors.New("owner 10.0.0.9:9001 of the key is unreachable")
	_, err = e.c.BulkExec(ctx, []string{"app"}, []string{"item"}, []int64{0}, []string{"UPDATE item SET note = 'v3' WHERE name = 'b'"},
		[][]string{nil}, []string{"kb"}, func([]string) error { return unreachable })
	if !errors.Is(err, ErrEvict) || !errors.Is(err, unreachable) || !strings.Contains(err.Error(), "10.0.0.9:9001") {
		t.Errorf("BulkExec whose eviction failed: %v; want ErrEvict naming the owner", err)
	}
	if v := e.value(t, "SELECT note FROM app.item WHERE name = 'b'"); v != "v3" {
		t.Errorf("the statement did not run although only its eviction failed: note = %q", v)
	}

	const sel = "SELECT note FROM item WHERE name = 'b'"
	query(t, e.c, "app", 0, sel, nil, "kb") // fills
	if _, err := e.c.BulkExec(ctx, []string{"app"}, []string{"item"}, []int64{0}, []string{"UPDATE item SET note = 'v4' WHERE name = 'b'"},
		[][]string{nil}, []string{"kb"}, nil); err != nil {
		t.Fatal(err)
	}
	if r := query(t, e.c, "app", 0, sel, nil, "kb"); r.Rows[0][0] != "v4" {
		t.Errorf("read after BulkExec with a nil evict = %v, want v4 (evicted here)", r.Rows)
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func (e *env) testLookupNotices(t *testing.T) {
	fc := &fakeCluster{}
	c, err := NewInCluster(e.config(func(cfg *Config) { cfg.Lookup.CacheTTL = time.Hour }), fc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if got := e.shardOf(t, c, 1); got != "shard1" {
		t.Fatalf("uid 1: %s, want shard1", got)
	}
	query(t, c, "lookup", 0, "UPDATE UserLookup SET shardId = 1 WHERE entityId = 2", nil, "")
	if fc.notices != 1 {
		t.Errorf("a write to the lookup table sent %d notices, want 1", fc.notices)
	}
	query(t, c, "app", 0, "UPDATE item SET note = 'x' WHERE name = 'a'", nil, "")
	if fc.notices != 1 {
		t.Errorf("a write elsewhere sent a notice (%d in all)", fc.notices)
	}

	// Another node wrote the row; its notice purges our cached copy.
	e.shardOf(t, c, 1)
	e.exec(t, "UPDATE lookup.UserLookup SET shardId = 2 WHERE entityId = 1")
	if got := e.shardOf(t, c, 1); got != "shard1" {
		t.Fatalf("uid 1 before the notice: %s, want the cached shard1", got)
	}
	c.PurgeLookup()
	if got := e.shardOf(t, c, 1); got != "shard2" {
		t.Errorf("uid 1 after PurgeLookup: %s, want shard2", got)
	}

	fc.set(func(f *fakeCluster) { f.noticeErr = errors.New("peer: no zookeeper session") })
	_, err = c.Query(context.Background(), "lookup", "UserLookup", 0, "UPDATE UserLookup SET shardLock = 1 WHERE entityId = 2", nil, "")
	if !errors.Is(err, ErrLookupNotice) || !strings.Contains(err.Error(), "cache_ttl") {
		t.Errorf("lookup write whose notice failed: %v; want ErrLookupNotice naming cache_ttl", err)
	}
	if v := e.value(t, "SELECT shardLock FROM lookup.UserLookup WHERE entityId = 2"); v != "1" {
		t.Errorf("the lookup write did not run: shardLock = %q", v)
	}
}

func (e *env) testUnownedKeys(t *testing.T) {
	fc := &fakeCluster{notOwned: map[string]bool{}}
	c, err := NewInCluster(e.config(func(*Config) {}), fc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	const sel = "SELECT note FROM item WHERE name = 'a'"
	e.exec(t, "UPDATE app.item SET note = 'o1' WHERE name = 'a'")
	query(t, c, "app", 0, sel, nil, "mine")
	query(t, c, "app", 0, sel, nil, "theirs")
	fc.set(func(f *fakeCluster) { f.notOwned["theirs"] = true })
	if n := c.DropUnowned(); n != 1 {
		t.Errorf("DropUnowned removed %d entries, want 1", n)
	}
	e.exec(t, "UPDATE app.item SET note = 'o2' WHERE name = 'a'") // out of band
	if r := query(t, c, "app", 0, sel, nil, "mine"); r.Rows[0][0] != "o1" {
		t.Errorf("owned key = %v, want the cached o1", r.Rows)
	}
	for range 2 {
		if r := query(t, c, "app", 0, sel, nil, "theirs"); r.Rows[0][0] != "o2" {
			t.Errorf("unowned key = %v, want o2 from the database", r.Rows)
		}
	}
	fc.set(func(f *fakeCluster) { delete(f.notOwned, "theirs") })
	if r := query(t, c, "app", 0, sel, nil, "theirs"); r.Rows[0][0] != "o2" {
		t.Errorf("key owned again = %v, want o2: nothing filled while another node owned it", r.Rows)
	}
	if s := c.Stats().QueryCache; s.Moved != 1 {
		t.Errorf("cache stats %+v, want 1 moved", s)
	}
}
