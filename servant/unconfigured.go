package servant

import (
	"context"

	"faed/idl/gen-go/fun/rpc"
)

// The backend servants (memcache, mysql) come with their own
// packages. Until a node runs one, its calls answer a clear
// TApplicationException instead of being missing from the service.

func (s *FunServant) McSet(ctx context.Context, rc *rpc.Context, pool string, key string, value *rpc.TMemcacheData, expiration int32) (bool, error) {
	return false, errNotConfigured("memcache")
}

func (s *FunServant) McGet(ctx context.Context, rc *rpc.Context, pool string, key string) (*rpc.TMemcacheData, error) {
	return nil, errNotConfigured("memcache")
}

func (s *FunServant) McAdd(ctx context.Context, rc *rpc.Context, pool string, key string, value *rpc.TMemcacheData, expiration int32) (bool, error) {
	return false, errNotConfigured("memcache")
}

func (s *FunServant) McDelete(ctx context.Context, rc *rpc.Context, pool string, key string) (bool, error) {
	return false, errNotConfigured("memcache")
}

func (s *FunServant) McIncrement(ctx context.Context, rc *rpc.Context, pool string, key string, delta int64) (int64, error) {
	return 0, errNotConfigured("memcache")
}

func (s *FunServant) MyQuery(ctx context.Context, rc *rpc.Context, pool string, table string, hintId int64, sql string, argv []string, cacheKey string) (*rpc.MysqlResult_, error) {
	return nil, errNotConfigured("mysql")
}

func (s *FunServant) MyQueryShards(ctx context.Context, rc *rpc.Context, pool string, table string, sql string, argv []string) (*rpc.MysqlResult_, error) {
	return nil, errNotConfigured("mysql")
}

func (s *FunServant) MyBulkExec(ctx context.Context, rc *rpc.Context, pool []string, table []string, hintId []int64, sql []string, argv [][]string, cacheKey []string) (int64, error) {
	return 0, errNotConfigured("mysql")
}

func (s *FunServant) MyMerge(ctx context.Context, rc *rpc.Context, pool string, table string, hintId int64, where string, key string, column string, jsonValue string) (*rpc.MysqlMergeResult_, error) {
	return nil, errNotConfigured("mysql")
}

func (s *FunServant) MyEvict(ctx context.Context, rc *rpc.Context, cacheKey string) error {
	return errNotConfigured("mysql")
}
