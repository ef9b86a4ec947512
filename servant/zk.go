package servant

import (
	"context"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
)

// The zk_* calls run under the call's deadline, bounded too by [servant.zk]
// timeout. ZooKeeper's client takes no deadline, so past it the call answers
// while the request may still be applied (the error says so).

// ZkCreate creates a persistent znode under the configured root (parents
// too); false when it exists.
func (s *FunServant) ZkCreate(ctx context.Context, rc *rpc.Context, path string, data string) (ok bool, err error) {
	zk, done, err := s.zk.hold()
	if err != nil {
		return false, err
	}
	defer done()
	err = s.within(ctx, rc, s.cfg.ZK.Timeout, func(ctx context.Context) (err error) {
		ok, err = zk.client.Create(ctx, path, data)
		return err
	})
	return ok, wrap("zk_create", err)
}

// ZkChildren lists the children of path under the root, sorted.
func (s *FunServant) ZkChildren(ctx context.Context, rc *rpc.Context, path string) (children []string, err error) {
	zk, done, err := s.zk.hold()
	if err != nil {
		return nil, err
	}
	defer done()
	err = s.within(ctx, rc, s.cfg.ZK.Timeout, func(ctx context.Context) (err error) {
		children, err = zk.client.Children(ctx, path)
		return err
	})
	if err != nil {
		return nil, wrap("zk_children", err)
	}
	return orEmpty(children), nil
}

// ZkDel deletes a znode without children; false when it is missing.
func (s *FunServant) ZkDel(ctx context.Context, rc *rpc.Context, path string) (ok bool, err error) {
	zk, done, err := s.zk.hold()
	if err != nil {
		return false, err
	}
	defer done()
	err = s.within(ctx, rc, s.cfg.ZK.Timeout, func(ctx context.Context) (err error) {
		ok, err = zk.client.Delete(ctx, path)
		return err
	})
	return ok, wrap("zk_del", err)
}
