package servant

import (
	"context"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/servant/mysql"
)

// The my_* calls, passed through to servant/mysql under the call's
// deadline, which the driver honours through ctx. SQL NULL travels as the
// string "NULL", as in the original.

// MyQuery runs sql on the pool (the shard of hintId for a sharded pool);
// with a cacheKey, a read is served from and fills the query cache and a
// write evicts it.
func (s *FunServant) MyQuery(ctx context.Context, rc *rpc.Context, pool, table string, hintID int64, sql string, argv []string, cacheKey string) (*rpc.MysqlResult_, error) {
	if err := s.my.ready(); err != nil {
		return nil, err
	}
	if err := s.switched.refuse("mysql", pool, !mysql.IsRead(sql)); err != nil {
		return nil, wrap("my_query", err)
	}
	a := queryArgs{rc, pool, table, hintID, sql, argv, cacheKey}
	if cacheKey == "" {
		return s.myQuery(ctx, a)
	}
	// The cacheKey's owner keeps that entry, so every node reads and evicts
	// one coherent copy. Only reads are retried elsewhere.
	p := once
	if mysql.IsRead(sql) {
		p = retryable
	}
	return route(s, ctx, rc, cacheKey, p, s.myQuery, peerMyQuery, a)
}

// queryArgs are my_query's arguments, for route.
type queryArgs struct {
	rc          *rpc.Context
	pool, table string
	hintID      int64
	sql         string
	argv        []string
	cacheKey    string
}

func (s *FunServant) myQuery(ctx context.Context, a queryArgs) (*rpc.MysqlResult_, error) {
	var r *mysql.Result
	err := call(s, ctx, a.rc, &s.my, nil, func(ctx context.Context, my *mysql.Client) (err error) {
		r, err = my.Query(ctx, a.pool, a.table, a.hintID, a.sql, a.argv, a.cacheKey)
		return err
	})
	return mysqlResult(r), wrap("my_query", err)
}

func peerMyQuery(c rpc.FunServant, ctx context.Context, fc *rpc.Context, a queryArgs) (*rpc.MysqlResult_, error) {
	return c.MyQuery(ctx, fc, a.pool, a.table, a.hintID, a.sql, a.argv, a.cacheKey)
}

// MyQueryShards runs sql on every shard of pool, rows concatenated in
// shard order.
func (s *FunServant) MyQueryShards(ctx context.Context, rc *rpc.Context, pool, table, sql string, argv []string) (*rpc.MysqlResult_, error) {
	if err := s.switched.refuse("mysql", pool, !mysql.IsRead(sql)); err != nil {
		return nil, wrap("my_query_shards", err)
	}
	var r *mysql.Result
	err := call(s, ctx, rc, &s.my, nil, func(ctx context.Context, my *mysql.Client) (err error) {
		r, err = my.QueryShards(ctx, pool, table, sql, argv)
		return err
	})
	return mysqlResult(r), wrap("my_query_shards", err)
}

// MyBulkExec runs the statements in order, each on its own (no shared
// transaction: they may span shards), stopping at the first error; then it
// evicts the cacheKeys of the writes on each key's owner. If an owner cannot
// be reached the call fails naming it, although the statements ran.
func (s *FunServant) MyBulkExec(ctx context.Context, rc *rpc.Context, pool, table []string, hintID []int64, sql []string, argv [][]string, cacheKey []string) (int64, error) {
	for _, p := range pool {
		if err := s.switched.refuse("mysql", p, true); err != nil {
			return 0, wrap("my_bulk_exec", err) // before any statement ran
		}
	}
	var n int64
	err := call(s, ctx, rc, &s.my, nil, func(ctx context.Context, my *mysql.Client) (err error) {
		n, err = my.BulkExec(ctx, pool, table, hintID, sql, argv, cacheKey, func(keys []string) error {
			return s.evictAll(ctx, rc, keys)
		})
		return err
	})
	return n, wrap("my_bulk_exec", err)
}

// MyMerge merges jsonValue into the JSON object in column, atomically
// (one transaction, SELECT ... FOR UPDATE, bound parameters).
func (s *FunServant) MyMerge(ctx context.Context, rc *rpc.Context, pool, table string, hintID int64, where, key, column, jsonValue string) (*rpc.MysqlMergeResult_, error) {
	if err := s.switched.refuse("mysql", pool, true); err != nil {
		return nil, wrap("my_merge", err)
	}
	var ok bool
	var newVal string
	err := call(s, ctx, rc, &s.my, nil, func(ctx context.Context, my *mysql.Client) (err error) {
		ok, newVal, err = my.Merge(ctx, pool, table, hintID, where, key, column, jsonValue)
		return err
	})
	if err != nil {
		return nil, wrap("my_merge", err)
	}
	return &rpc.MysqlMergeResult_{Ok: ok, NewVal_: newVal}, nil
}

// MyEvict drops a query-cache entry on the key's owner.
func (s *FunServant) MyEvict(ctx context.Context, rc *rpc.Context, cacheKey string) error {
	if err := s.my.ready(); err != nil {
		return err
	}
	return s.evict(ctx, rc, cacheKey)
}

// evict drops cacheKey from its owner's query cache: the one routing path of
// my_evict and my_bulk_exec's evictions. Evicting is idempotent, so an
// unreachable owner is waited for as forward does; if it stays unreachable
// the error names it.
func (s *FunServant) evict(ctx context.Context, rc *rpc.Context, cacheKey string) error {
	return errOnly(route(s, ctx, rc, cacheKey, retryable, s.myEvict, peerMyEvict, cacheKey))
}

func (s *FunServant) myEvict(_ context.Context, cacheKey string) (struct{}, error) {
	my, done, err := s.my.hold()
	if err != nil {
		return struct{}{}, err
	}
	defer done()
	my.client.Evict(cacheKey)
	return struct{}{}, nil
}

func peerMyEvict(c rpc.FunServant, ctx context.Context, fc *rpc.Context, cacheKey string) (struct{}, error) {
	return struct{}{}, c.MyEvict(ctx, fc, cacheKey)
}

func mysqlResult(r *mysql.Result) *rpc.MysqlResult_ {
	if r == nil {
		return nil
	}
	return &rpc.MysqlResult_{RowsAffected: r.RowsAffected, LastInsertId: r.LastInsertID, Cols: r.Cols, Rows: r.Rows}
}
