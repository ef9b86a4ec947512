package main

import (
	"context"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
)

// The methods below complete rpc.FunServant for the stock handler; each
// answers errStock, which the processor sends as a TApplicationException.

func (*stockHandler) IDNext(context.Context, *rpc.Context) (int64, error) { return 0, errStock }
func (*stockHandler) IDNextWithTag(context.Context, *rpc.Context, int16) (int64, error) {
	return 0, errStock
}
func (*stockHandler) IDDecode(context.Context, *rpc.Context, int64) ([]int64, error) {
	return nil, errStock
}
func (*stockHandler) LcSet(context.Context, *rpc.Context, string, []byte) (bool, error) {
	return false, errStock
}
func (*stockHandler) LcDel(context.Context, *rpc.Context, string) error { return errStock }
func (*stockHandler) Lock(context.Context, *rpc.Context, string, string) (bool, error) {
	return false, errStock
}
func (*stockHandler) Unlock(context.Context, *rpc.Context, string, string) error { return errStock }
func (*stockHandler) ZkCreate(context.Context, *rpc.Context, string, string) (bool, error) {
	return false, errStock
}
func (*stockHandler) ZkChildren(context.Context, *rpc.Context, string) ([]string, error) {
	return nil, errStock
}
func (*stockHandler) ZkDel(context.Context, *rpc.Context, string) (bool, error) {
	return false, errStock
}
func (*stockHandler) KvdbSet(context.Context, *rpc.Context, []byte, []byte) (bool, error) {
	return false, errStock
}
func (*stockHandler) KvdbGet(context.Context, *rpc.Context, []byte) ([]byte, error) {
	return nil, errStock
}
func (*stockHandler) KvdbDel(context.Context, *rpc.Context, []byte) (bool, error) {
	return false, errStock
}

func (*stockHandler) McSet(context.Context, *rpc.Context, string, string, *rpc.TMemcacheData, int32) (bool, error) {
	return false, errStock
}
func (*stockHandler) McGet(context.Context, *rpc.Context, string, string) (*rpc.TMemcacheData, error) {
	return nil, errStock
}
func (*stockHandler) McAdd(context.Context, *rpc.Context, string, string, *rpc.TMemcacheData, int32) (bool, error) {
	return false, errStock
}
func (*stockHandler) McDelete(context.Context, *rpc.Context, string, string) (bool, error) {
	return false, errStock
}
func (*stockHandler) McIncrement(context.Context, *rpc.Context, string, string, int64) (int64, error) {
	return 0, errStock
}

func (*stockHandler) MgFindOne(context.Context, *rpc.Context, string, string, int32, []byte, []byte) ([]byte, error) {
	return nil, errStock
}
func (*stockHandler) MgFindAll(context.Context, *rpc.Context, string, string, int32, []byte, []byte, int32, int32, []string) ([][]byte, error) {
	return nil, errStock
}
func (*stockHandler) MgFindID(context.Context, *rpc.Context, string, string, int32, []byte) ([]byte, error) {
	return nil, errStock
}
func (*stockHandler) MgCount(context.Context, *rpc.Context, string, string, int32, []byte) (int32, error) {
	return 0, errStock
}
func (*stockHandler) MgUpdate(context.Context, *rpc.Context, string, string, int32, []byte, []byte) (bool, error) {
	return false, errStock
}
func (*stockHandler) MgUpdateID(context.Context, *rpc.Context, string, string, int32, int32, []byte) (bool, error) {
	return false, errStock
}
func (*stockHandler) MgUpsert(context.Context, *rpc.Context, string, string, int32, []byte, []byte) (bool, error) {
	return false, errStock
}
func (*stockHandler) MgUpsertID(context.Context, *rpc.Context, string, string, int32, int32, []byte) (bool, error) {
	return false, errStock
}
func (*stockHandler) MgInsert(context.Context, *rpc.Context, string, string, int32, []byte) (bool, error) {
	return false, errStock
}
func (*stockHandler) MgInserts(context.Context, *rpc.Context, string, string, int32, [][]byte) (bool, error) {
	return false, errStock
}
func (*stockHandler) MgDelete(context.Context, *rpc.Context, string, string, int32, []byte) (bool, error) {
	return false, errStock
}
func (*stockHandler) MgFindAndModify(context.Context, *rpc.Context, string, string, int32, []byte, []byte, bool, bool, bool) ([]byte, error) {
	return nil, errStock
}

func (*stockHandler) MyQuery(context.Context, *rpc.Context, string, string, int64, string, []string, string) (*rpc.MysqlResult_, error) {
	return nil, errStock
}
func (*stockHandler) MyQueryShards(context.Context, *rpc.Context, string, string, string, []string) (*rpc.MysqlResult_, error) {
	return nil, errStock
}
func (*stockHandler) MyBulkExec(context.Context, *rpc.Context, []string, []string, []int64, []string, [][]string, []string) (int64, error) {
	return 0, errStock
}
func (*stockHandler) MyMerge(context.Context, *rpc.Context, string, string, int64, string, string, string, string) (*rpc.MysqlMergeResult_, error) {
	return nil, errStock
}
func (*stockHandler) MyEvict(context.Context, *rpc.Context, string) error { return errStock }
