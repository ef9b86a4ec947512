package servant

import (
	"context"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/servant/zk"
)

// The zk_* calls run under the call's deadline, bounded too by [servant.zk]
// timeout. ZooKeeper's client takes no deadline, so past it the call answers
// while the request may still be applied (the error says so).

// zkTimeout is the zk calls' own bound.
func zkTimeout(c Config) time.Duration { return c.ZK.Timeout }

// ZkCreate creates a persistent znode under the configured root (parents
// too); false when it exists.
func (s *FunServant) ZkCreate(ctx context.Context, rc *rpc.Context, path string, data string) (ok bool, err error) {
	err = call(s, ctx, rc, &s.zk, zkTimeout, func(ctx context.Context, zc *zk.Client) (err error) {
		ok, err = zc.Create(ctx, path, data)
		return err
	})
	return ok, wrap("zk_create", err)
}

// ZkChildren lists the children of path under the root, sorted.
func (s *FunServant) ZkChildren(ctx context.Context, rc *rpc.Context, path string) (children []string, err error) {
	err = call(s, ctx, rc, &s.zk, zkTimeout, func(ctx context.Context, zc *zk.Client) (err error) {
		children, err = zc.Children(ctx, path)
		return err
	})
	if err != nil {
		return nil, wrap("zk_children", err)
	}
	return orEmpty(children), nil
}

// ZkDel deletes a znode without children; false when it is missing.
func (s *FunServant) ZkDel(ctx context.Context, rc *rpc.Context, path string) (ok bool, err error) {
	err = call(s, ctx, rc, &s.zk, zkTimeout, func(ctx context.Context, zc *zk.Client) (err error) {
		ok, err = zc.Delete(ctx, path)
		return err
	})
	return ok, wrap("zk_del", err)
}
