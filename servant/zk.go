package servant

import (
	"context"

	"faed/idl/gen-go/fun/rpc"
)

// ZkCreate creates a persistent znode under the configured root (parents
// too); false when it exists.
func (s *FunServant) ZkCreate(ctx context.Context, rc *rpc.Context, path string, data string) (bool, error) {
	if s.zk == nil {
		return false, errNotConfigured("zk")
	}
	ok, err := s.zk.Create(ctx, path, data)
	return ok, wrap("zk_create", err)
}

// ZkChildren lists the children of path under the root, sorted.
func (s *FunServant) ZkChildren(ctx context.Context, rc *rpc.Context, path string) ([]string, error) {
	if s.zk == nil {
		return nil, errNotConfigured("zk")
	}
	children, err := s.zk.Children(ctx, path)
	if err != nil {
		return nil, wrap("zk_children", err)
	}
	return orEmpty(children), nil
}

// ZkDel deletes a znode without children; false when it is missing.
func (s *FunServant) ZkDel(ctx context.Context, rc *rpc.Context, path string) (bool, error) {
	if s.zk == nil {
		return false, errNotConfigured("zk")
	}
	ok, err := s.zk.Delete(ctx, path)
	return ok, wrap("zk_del", err)
}
