package servant

import (
	"context"

	"faed/idl/gen-go/fun/rpc"
)

// The backend servants (memcache, mongodb, mysql) come with their own
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

func (s *FunServant) MgFindOne(ctx context.Context, rc *rpc.Context, pool string, table string, shardId int32, query []byte, fields []byte) ([]byte, error) {
	return nil, errNotConfigured("mongodb")
}

func (s *FunServant) MgFindAll(ctx context.Context, rc *rpc.Context, pool string, table string, shardId int32, query []byte, fields []byte, limit int32, skip int32, orderBy []string) ([][]byte, error) {
	return nil, errNotConfigured("mongodb")
}

func (s *FunServant) MgFindID(ctx context.Context, rc *rpc.Context, pool string, table string, shardId int32, id []byte) ([]byte, error) {
	return nil, errNotConfigured("mongodb")
}

func (s *FunServant) MgCount(ctx context.Context, rc *rpc.Context, pool string, table string, shardId int32, query []byte) (int32, error) {
	return 0, errNotConfigured("mongodb")
}

func (s *FunServant) MgUpdate(ctx context.Context, rc *rpc.Context, pool string, table string, shardId int32, query []byte, change []byte) (bool, error) {
	return false, errNotConfigured("mongodb")
}

func (s *FunServant) MgUpdateID(ctx context.Context, rc *rpc.Context, pool string, table string, shardId int32, id int32, change []byte) (bool, error) {
	return false, errNotConfigured("mongodb")
}

func (s *FunServant) MgUpsert(ctx context.Context, rc *rpc.Context, pool string, table string, shardId int32, query []byte, change []byte) (bool, error) {
	return false, errNotConfigured("mongodb")
}

func (s *FunServant) MgUpsertID(ctx context.Context, rc *rpc.Context, pool string, table string, shardId int32, id int32, change []byte) (bool, error) {
	return false, errNotConfigured("mongodb")
}

func (s *FunServant) MgInsert(ctx context.Context, rc *rpc.Context, pool string, table string, shardId int32, doc []byte) (bool, error) {
	return false, errNotConfigured("mongodb")
}

func (s *FunServant) MgInserts(ctx context.Context, rc *rpc.Context, pool string, table string, shardId int32, docs [][]byte) (bool, error) {
	return false, errNotConfigured("mongodb")
}

func (s *FunServant) MgDelete(ctx context.Context, rc *rpc.Context, pool string, table string, shardId int32, query []byte) (bool, error) {
	return false, errNotConfigured("mongodb")
}

func (s *FunServant) MgFindAndModify(ctx context.Context, rc *rpc.Context, pool string, table string, shardId int32, query []byte, change []byte, upsert bool, remove bool, returnNew bool) ([]byte, error) {
	return nil, errNotConfigured("mongodb")
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
