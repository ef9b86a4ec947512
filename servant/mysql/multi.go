package mysql

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// QueryShards runs sql (my_query_shards) on every shard of the sharded pool
// pool, or once on pool if it is global, and returns the rows concatenated
// in shard order (by shard id); for writes, RowsAffected is the sum and
// LastInsertID is that of the last shard. It does not consult the lookup
// table, so shard locks do not apply, and it neither reads nor fills the
// query cache. The shards are queried at once; if any fails, the error
// names the first failing shard in order and no rows are returned. table
// is accepted for the IDL's sake and unused.
func (c *Client) QueryShards(ctx context.Context, pool, table, sql string, args []string) (*Result, error) {
	if _, err := c.name(pool); err != nil {
		return nil, err
	}
	if srv, ok := c.servers[pool]; ok {
		return direct(ctx, srv, sql, args)
	}
	shards := c.sharded[pool]
	results := make([]*Result, len(shards))
	errs := make([]error, len(shards))
	var wg sync.WaitGroup
	for i, sh := range shards {
		wg.Go(func() { results[i], errs[i] = direct(ctx, c.servers[sh.name], sql, args) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("shard %d of %q: %w", shards[i].id, pool, err)
		}
	}
	return concat(results), nil
}

// direct runs one statement on srv, as a read or a write.
func direct(ctx context.Context, srv *server, sql string, args []string) (*Result, error) {
	if IsRead(sql) {
		return srv.query(ctx, sql, anyArgs(args))
	}
	return srv.exec(ctx, sql, anyArgs(args))
}

// concat joins the shards' results in order.
func concat(results []*Result) *Result {
	out := &Result{}
	for _, r := range results {
		if r.Cols != nil && out.Cols == nil {
			out.Cols, out.Rows = r.Cols, [][]string{}
		}
		out.Rows = append(out.Rows, r.Rows...)
		out.RowsAffected += r.RowsAffected
		if r.LastInsertID != 0 {
			out.LastInsertID = r.LastInsertID
		}
	}
	return out
}

// BulkExec runs statements (my_bulk_exec) one after another, in order, each
// as Query would run it (routing, shard locks and lookup purges included),
// and returns the sum of the rows they affected. The lists are parallel:
// statement i is sqls[i] on pools[i] with args[i], and so on; lists of
// different lengths are an error wrapping ErrBulkLengths and nothing runs.
//
// The statements do not share a transaction: they may go to different
// pools and shards, which no transaction spans, so each commits on its own.
// BulkExec stops at the first failure and returns the rows affected so far
// with a *BulkError saying which statement failed and how many ran.
//
// The query cache is left to evict: once the statements ran, BulkExec calls
// it once with the cacheKeys of the writes that ran or failed (each key
// once, reads' keys left out), so that the caller can evict each key on its
// owner. An evict that fails makes BulkExec fail too, with an error wrapping
// ErrEvict beside any *BulkError: the statements ran, their entries may be
// stale. A nil evict evicts here. Reads neither use nor fill the cache:
// their rows are not returned.
func (c *Client) BulkExec(ctx context.Context, pools, tables []string, hintIDs []int64, sqls []string,
	args [][]string, cacheKeys []string, evict func(cacheKeys []string) error) (int64, error) {
	n := len(sqls)
	if len(pools) != n || len(tables) != n || len(hintIDs) != n || len(args) != n || len(cacheKeys) != n {
		return 0, fmt.Errorf("%w: pool %d, table %d, hintId %d, sql %d, argv %d, cacheKey %d",
			ErrBulkLengths, len(pools), len(tables), len(hintIDs), n, len(args), len(cacheKeys))
	}
	sum, ran, err := c.bulkRun(ctx, pools, tables, hintIDs, sqls, args)
	keys := bulkEvictions(sqls, cacheKeys, ran)
	if len(keys) == 0 {
		return sum, err
	}
	if evict == nil {
		evict = c.evictAll
	}
	if eerr := evict(keys); eerr != nil {
		err = errors.Join(err, fmt.Errorf("%w for %d cacheKey(s) after statements ran: %w", ErrEvict, len(keys), eerr))
	}
	return sum, err
}

// bulkRun runs the statements until one fails; ran counts those that ran or
// failed.
func (c *Client) bulkRun(ctx context.Context, pools, tables []string, hintIDs []int64, sqls []string,
	args [][]string) (sum int64, ran int, err error) {
	for i := range sqls {
		r, err := c.query(ctx, call{pools[i], tables[i], hintIDs[i], sqls[i], args[i], ""})
		if err != nil {
			return sum, i + 1, &BulkError{Ran: i, Total: len(sqls), Err: err}
		}
		sum += r.RowsAffected
	}
	return sum, len(sqls), nil
}

func (c *Client) evictAll(keys []string) error {
	for _, k := range keys {
		c.Evict(k)
	}
	return nil
}
