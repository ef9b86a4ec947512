package servant

import (
	"context"
	"errors"

	"faed/idl/gen-go/fun/rpc"
	"faed/servant/memcache"
)

// The mc_* calls, passed through to servant/memcache with the original's
// semantics: mc_get throws TCacheMissed on a miss, mc_add answers false when
// the key exists, mc_delete false when it is missing.

func (s *FunServant) McSet(ctx context.Context, rc *rpc.Context, pool, key string, value *rpc.TMemcacheData, expiration int32) (bool, error) {
	if s.mc == nil {
		return false, errNotConfigured("memcache")
	}
	if err := s.mc.Set(pool, key, value.Data, uint32(value.Flags), expiration); err != nil {
		return false, wrap("mc_set", err)
	}
	return true, nil
}

func (s *FunServant) McGet(ctx context.Context, rc *rpc.Context, pool, key string) (*rpc.TMemcacheData, error) {
	if s.mc == nil {
		return nil, errNotConfigured("memcache")
	}
	data, flags, err := s.mc.Get(pool, key)
	if err != nil {
		return nil, wrap("mc_get", err)
	}
	return &rpc.TMemcacheData{Data: data, Flags: int32(flags)}, nil
}

func (s *FunServant) McAdd(ctx context.Context, rc *rpc.Context, pool, key string, value *rpc.TMemcacheData, expiration int32) (bool, error) {
	if s.mc == nil {
		return false, errNotConfigured("memcache")
	}
	stored, err := s.mc.Add(pool, key, value.Data, uint32(value.Flags), expiration)
	return stored, wrap("mc_add", err)
}

func (s *FunServant) McDelete(ctx context.Context, rc *rpc.Context, pool, key string) (bool, error) {
	if s.mc == nil {
		return false, errNotConfigured("memcache")
	}
	deleted, err := s.mc.Delete(pool, key)
	return deleted, wrap("mc_delete", err)
}

// McIncrement adds delta (a negative one decrements, stopping at 0 as
// memcached does). A missing key is not created and answers 0, where the
// PHP extension answered false.
func (s *FunServant) McIncrement(ctx context.Context, rc *rpc.Context, pool, key string, delta int64) (int64, error) {
	if s.mc == nil {
		return 0, errNotConfigured("memcache")
	}
	n, err := s.mc.Increment(pool, key, delta)
	if errors.Is(err, memcache.ErrMiss) {
		return 0, nil
	}
	return n, wrap("mc_increment", err)
}
