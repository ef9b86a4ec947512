package servant

import (
	"context"

	"faed/idl/gen-go/fun/rpc"
)

// The memcache servant comes with its own package. Until a node runs one, its calls answer a clear
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
