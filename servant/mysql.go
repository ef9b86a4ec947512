package servant

import (
	"context"

	"faed/idl/gen-go/fun/rpc"
	"faed/servant/mysql"
)

// The my_* calls, passed through to servant/mysql under the call's
// deadline, which the driver honours through ctx. SQL NULL travels as the
// string "NULL", as in the original.

// MyQuery runs sql on the pool (the shard of hintId for a sharded pool);
// with a cacheKey, a read is served from and fills the query cache and a
// write evicts it.
func (s *FunServant) MyQuery(ctx context.Context, rc *rpc.Context, pool, table string, hintID int64, sql string, argv []string, cacheKey string) (*rpc.MysqlResult_, error) {
	if s.my == nil {
		return nil, errNotConfigured("mysql")
	}
	if cacheKey != "" {
		// The cacheKey's owner keeps that entry, so every node reads and
		// evicts one coherent copy. Only reads are retried elsewhere.
		if addr := s.remote(rc, cacheKey); addr != "" {
			var r *rpc.MysqlResult_
			err := s.forward(ctx, addr, rc, cacheKey, mysql.IsRead(sql), func(c rpc.FunServant, sc *rpc.Context) (err error) {
				r, err = c.MyQuery(ctx, sc, pool, table, hintID, sql, argv, cacheKey)
				return err
			})
			if err != errNowLocal {
				return r, err
			}
		}
	}
	var r *mysql.Result
	err := s.within(ctx, rc, 0, func(ctx context.Context) (err error) {
		r, err = s.my.Query(ctx, pool, table, hintID, sql, argv, cacheKey)
		return err
	})
	return mysqlResult(r), wrap("my_query", err)
}

// MyQueryShards runs sql on every shard of pool, rows concatenated in
// shard order.
func (s *FunServant) MyQueryShards(ctx context.Context, rc *rpc.Context, pool, table, sql string, argv []string) (*rpc.MysqlResult_, error) {
	if s.my == nil {
		return nil, errNotConfigured("mysql")
	}
	var r *mysql.Result
	err := s.within(ctx, rc, 0, func(ctx context.Context) (err error) {
		r, err = s.my.QueryShards(ctx, pool, table, sql, argv)
		return err
	})
	return mysqlResult(r), wrap("my_query_shards", err)
}

// MyBulkExec runs the statements in order, each on its own (no shared
// transaction: they may span shards), stopping at the first error; then it
// evicts the cacheKeys of the writes on each key's owner. If an owner cannot
// be reached the call fails naming it, although the statements ran.
func (s *FunServant) MyBulkExec(ctx context.Context, rc *rpc.Context, pool, table []string, hintID []int64, sql []string, argv [][]string, cacheKey []string) (int64, error) {
	if s.my == nil {
		return 0, errNotConfigured("mysql")
	}
	var n int64
	err := s.within(ctx, rc, 0, func(ctx context.Context) (err error) {
		n, err = s.my.BulkExec(ctx, pool, table, hintID, sql, argv, cacheKey, func(keys []string) error {
			return s.evictAll(ctx, rc, keys)
		})
		return err
	})
	return n, wrap("my_bulk_exec", err)
}

// MyMerge merges jsonValue into the JSON object in column, atomically
// (one transaction, SELECT ... FOR UPDATE, bound parameters).
func (s *FunServant) MyMerge(ctx context.Context, rc *rpc.Context, pool, table string, hintID int64, where, key, column, jsonValue string) (*rpc.MysqlMergeResult_, error) {
	if s.my == nil {
		return nil, errNotConfigured("mysql")
	}
	var ok bool
	var newVal string
	err := s.within(ctx, rc, 0, func(ctx context.Context) (err error) {
		ok, newVal, err = s.my.Merge(ctx, pool, table, hintID, where, key, column, jsonValue)
		return err
	})
	if err != nil {
		return nil, wrap("my_merge", err)
	}
	return &rpc.MysqlMergeResult_{Ok: ok, NewVal_: newVal}, nil
}

// MyEvict drops a query-cache entry on the key's owner.
func (s *FunServant) MyEvict(ctx context.Context, rc *rpc.Context, cacheKey string) error {
	if s.my == nil {
		return errNotConfigured("mysql")
	}
	return s.evict(ctx, rc, cacheKey)
}

// evict drops cacheKey from its owner's query cache: the one routing path of
// my_evict and my_bulk_exec's evictions. Evicting is idempotent, so an
// unreachable owner is waited for as forward does; if it stays unreachable
// the error names it.
func (s *FunServant) evict(ctx context.Context, rc *rpc.Context, cacheKey string) error {
	if addr := s.remote(rc, cacheKey); addr != "" {
		err := s.forward(ctx, addr, rc, cacheKey, true, func(c rpc.FunServant, sc *rpc.Context) error {
			return c.MyEvict(ctx, sc, cacheKey)
		})
		if err != errNowLocal {
			return err
		}
	}
	s.my.Evict(cacheKey)
	return nil
}

func mysqlResult(r *mysql.Result) *rpc.MysqlResult_ {
	if r == nil {
		return nil
	}
	return &rpc.MysqlResult_{RowsAffected: r.RowsAffected, LastInsertId: r.LastInsertID, Cols: r.Cols, Rows: r.Rows}
}
