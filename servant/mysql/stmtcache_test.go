package mysql

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestStmtCache checks the counters, the bound, closing on eviction (at
// once, or at the last release of a statement in use) and at Close, the
// last against the server's own count of prepared statements.
func TestStmtCache(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	c := e.client(t, func(cfg *Config) { setPool(cfg, "app", func(p *PoolConfig) { p.StmtCacheSize = 2 }) })
	srv := c.servers["app"]
	before := e.preparedCount(t)

	for range 3 {
		query(t, c, "app", 0, "SELECT ? + 1", []string{"1"}, "")
	}
	if st := c.Stats().Pools["app"].Stmts; st != (StmtCacheStats{Size: 1, Hits: 2, Misses: 1}) {
		t.Errorf("after one statement three times: %+v, want size 1, 2 hits, 1 miss", st)
	}
	query(t, c, "app", 0, "SELECT 1", nil, "") // no arguments: not prepared
	held, err := srv.stmts.get(ctx, "SELECT ? + 2")
	if err != nil {
		t.Fatal(err)
	}
	query(t, c, "app", 0, "SELECT ? + 3", []string{"1"}, "") // evicts SELECT ? + 1
	query(t, c, "app", 0, "SELECT ? + 4", []string{"1"}, "") // evicts the held SELECT ? + 2
	if st := c.Stats().Pools["app"].Stmts; st.Size != 2 || st.Evictions != 2 {
		t.Errorf("after four statements in a cache of 2: %+v, want size 2, 2 evictions", st)
	}
	var v int
	if err := held.stmt.QueryRowContext(ctx, 1).Scan(&v); err != nil || v != 3 {
		t.Fatalf("an evicted statement still in use: %d, %v; want 3", v, err)
	}
	srv.stmts.release(held)
	if err := held.stmt.QueryRowContext(ctx, 1).Scan(&v); err == nil {
		t.Error("an evicted statement works after its last release; want it closed")
	}
	if got := query(t, c, "app", 0, "SELECT ? + 1", []string{"1"}, ""); got.Rows[0][0] != "2" {
		t.Errorf("an evicted text prepared again = %v, want 2", got.Rows)
	}
	if n := e.preparedCount(t); n <= before {
		t.Errorf("server holds %d prepared statements, %d before: the cache holds none", n, before)
	}
	c.Close()
	// COM_STMT_CLOSE has no reply: the server may count a statement the
	// client already closed for a moment, so wait for it, bounded.
	n := e.preparedCount(t)
	for deadline := time.Now().Add(2 * time.Second); n != before && time.Now().Before(deadline); n = e.preparedCount(t) {
		time.Sleep(10 * time.Millisecond)
	}
	if n != before {
		t.Errorf("2s after Close the server holds %d prepared statements, want %d as before", n, before)
	}
}

// TestStmtCacheConcurrent runs more distinct statements than the cache
// holds from many goroutines: no call may meet a statement closed under it.
func TestStmtCacheConcurrent(t *testing.T) {
	e := startEnv(t)
	c := e.client(t, func(cfg *Config) { setPool(cfg, "app", func(p *PoolConfig) { p.StmtCacheSize = 3 }) })
	var wg sync.WaitGroup
	errs := make(chan error, 8*50)
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				n := (g + i) % 7
				r, err := c.Query(context.Background(), "app", "", 0, "SELECT ? + "+strconv.Itoa(n), []string{"1"}, "")
				if err == nil && r.Rows[0][0] != strconv.Itoa(n+1) {
					err = fmt.Errorf("SELECT 1 + %d = %s", n, r.Rows[0][0])
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := c.Stats().Pools["app"].Stmts; st.Size > 3 || st.Hits+st.Misses != 400 {
		t.Errorf("stats %+v: want size ≤ 3 and 400 lookups", st)
	}
}

// preparedCount is the server's count of prepared statements, all clients.
func (e *env) preparedCount(t *testing.T) int {
	t.Helper()
	var name string
	var n int
	if err := e.admin.QueryRow("SHOW GLOBAL STATUS LIKE 'Prepared_stmt_count'").Scan(&name, &n); err != nil {
		t.Fatal(err)
	}
	return n
}
