package engine

import (
	"context"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
)

// zeroHandler serves every FunServant call with zero values and no
// backend, so a test can push any message through the generated readers.
// A few calls answer what the tests check: noop echoes x, my_bulk_exec
// counts the arguments of all rows, mg_inserts says whether docs arrived,
// my_query answers one column per argument.
type zeroHandler struct{}

var _ rpc.FunServant = zeroHandler{}

func (zeroHandler) Noop(_ context.Context, x int32) (int32, error) { return x, nil }

func (zeroHandler) MyBulkExec(_ context.Context, _ *rpc.Context, _, _ []string, _ []int64, _ []string, argv [][]string, _ []string) (int64, error) {
	var n int64
	for _, row := range argv {
		n += int64(len(row))
	}
	return n, nil
}

func (zeroHandler) MgInserts(_ context.Context, _ *rpc.Context, _, _ string, _ int32, docs [][]byte) (bool, error) {
	return len(docs) > 0, nil
}

func (zeroHandler) MyQuery(_ context.Context, _ *rpc.Context, _, _ string, _ int64, _ string, argv []string, _ string) (*rpc.MysqlResult_, error) {
	return &rpc.MysqlResult_{Cols: argv}, nil
}

func (zeroHandler) Ping(_ context.Context, _ *rpc.Context) (string, error)  { return "", nil }
func (zeroHandler) IDNext(_ context.Context, _ *rpc.Context) (int64, error) { return 0, nil }
func (zeroHandler) IDNextWithTag(_ context.Context, _ *rpc.Context, _ int16) (int64, error) {
	return 0, nil
}
func (zeroHandler) IDDecode(_ context.Context, _ *rpc.Context, _ int64) ([]int64, error) {
	return nil, nil
}
func (zeroHandler) LcSet(_ context.Context, _ *rpc.Context, _ string, _ []byte) (bool, error) {
	return false, nil
}
func (zeroHandler) LcGet(_ context.Context, _ *rpc.Context, _ string) ([]byte, error) {
	return nil, nil
}
func (zeroHandler) LcDel(_ context.Context, _ *rpc.Context, _ string) error { return nil }
func (zeroHandler) Lock(_ context.Context, _ *rpc.Context, _ string, _ string) (bool, error) {
	return false, nil
}
func (zeroHandler) Unlock(_ context.Context, _ *rpc.Context, _ string, _ string) error { return nil }
func (zeroHandler) ZkCreate(_ context.Context, _ *rpc.Context, _ string, _ string) (bool, error) {
	return false, nil
}
func (zeroHandler) ZkChildren(_ context.Context, _ *rpc.Context, _ string) ([]string, error) {
	return nil, nil
}
func (zeroHandler) ZkDel(_ context.Context, _ *rpc.Context, _ string) (bool, error) {
	return false, nil
}
func (zeroHandler) McSet(_ context.Context, _ *rpc.Context, _ string, _ string, _ *rpc.TMemcacheData, _ int32) (bool, error) {
	return false, nil
}
func (zeroHandler) McGet(_ context.Context, _ *rpc.Context, _ string, _ string) (*rpc.TMemcacheData, error) {
	return nil, nil
}
func (zeroHandler) McAdd(_ context.Context, _ *rpc.Context, _ string, _ string, _ *rpc.TMemcacheData, _ int32) (bool, error) {
	return false, nil
}
func (zeroHandler) McDelete(_ context.Context, _ *rpc.Context, _ string, _ string) (bool, error) {
	return false, nil
}
func (zeroHandler) McIncrement(_ context.Context, _ *rpc.Context, _ string, _ string, _ int64) (int64, error) {
	return 0, nil
}
func (zeroHandler) MgFindOne(_ context.Context, _ *rpc.Context, _ string, _ string, _ int32, _ []byte, _ []byte) ([]byte, error) {
	return nil, nil
}
func (zeroHandler) MgFindAll(_ context.Context, _ *rpc.Context, _ string, _ string, _ int32, _ []byte, _ []byte, _ int32, _ int32, _ []string) ([][]byte, error) {
	return nil, nil
}
func (zeroHandler) MgFindID(_ context.Context, _ *rpc.Context, _ string, _ string, _ int32, _ []byte) ([]byte, error) {
	return nil, nil
}
func (zeroHandler) MgCount(_ context.Context, _ *rpc.Context, _ string, _ string, _ int32, _ []byte) (int32, error) {
	return 0, nil
}
func (zeroHandler) MgUpdate(_ context.Context, _ *rpc.Context, _ string, _ string, _ int32, _ []byte, _ []byte) (bool, error) {
	return false, nil
}
func (zeroHandler) MgUpdateID(_ context.Context, _ *rpc.Context, _ string, _ string, _ int32, _ int32, _ []byte) (bool, error) {
	return false, nil
}
func (zeroHandler) MgUpsert(_ context.Context, _ *rpc.Context, _ string, _ string, _ int32, _ []byte, _ []byte) (bool, error) {
	return false, nil
}
func (zeroHandler) MgUpsertID(_ context.Context, _ *rpc.Context, _ string, _ string, _ int32, _ int32, _ []byte) (bool, error) {
	return false, nil
}
func (zeroHandler) MgInsert(_ context.Context, _ *rpc.Context, _ string, _ string, _ int32, _ []byte) (bool, error) {
	return false, nil
}
func (zeroHandler) MgDelete(_ context.Context, _ *rpc.Context, _ string, _ string, _ int32, _ []byte) (bool, error) {
	return false, nil
}
func (zeroHandler) MgFindAndModify(_ context.Context, _ *rpc.Context, _ string, _ string, _ int32, _ []byte, _ []byte, _ bool, _ bool, _ bool) ([]byte, error) {
	return nil, nil
}
func (zeroHandler) MyQueryShards(_ context.Context, _ *rpc.Context, _ string, _ string, _ string, _ []string) (*rpc.MysqlResult_, error) {
	return nil, nil
}
func (zeroHandler) MyMerge(_ context.Context, _ *rpc.Context, _ string, _ string, _ int64, _ string, _ string, _ string, _ string) (*rpc.MysqlMergeResult_, error) {
	return nil, nil
}
func (zeroHandler) MyEvict(_ context.Context, _ *rpc.Context, _ string) error { return nil }
func (zeroHandler) KvdbSet(_ context.Context, _ *rpc.Context, _ []byte, _ []byte) (bool, error) {
	return false, nil
}
func (zeroHandler) KvdbGet(_ context.Context, _ *rpc.Context, _ []byte) ([]byte, error) {
	return nil, nil
}
func (zeroHandler) KvdbDel(_ context.Context, _ *rpc.Context, _ []byte) (bool, error) {
	return false, nil
}

func (zeroHandler) VbPull(_ context.Context, _ *rpc.Context, _, _ int32, _ []byte, _ int64) (*rpc.VBucketBatch, error) {
	return &rpc.VBucketBatch{}, nil
}

func (zeroHandler) VbPush(_ context.Context, _ *rpc.Context, _ *rpc.VBucketBatch, _ int64) (bool, error) {
	return false, nil
}

func (zeroHandler) VbDrop(_ context.Context, _ *rpc.Context, _ int32, _ int64) (int64, error) {
	return 0, nil
}

func (zeroHandler) VbReplicate(_ context.Context, _ *rpc.Context, _ *rpc.VBucketBatch, _ int64) (bool, error) {
	return false, nil
}
