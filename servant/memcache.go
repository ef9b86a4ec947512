package servant

import (
	"context"
	"errors"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/servant/memcache"
)

// The mc_* calls, passed through to servant/memcache with the original's
// semantics: mc_get throws TCacheMissed on a miss, mc_add answers false when
// the key exists, mc_delete false when it is missing. They run under the
// call's deadline, which bounds the wait for a pooled connection and, when
// sooner than the pool's io_timeout, each attempt's I/O.

func (s *FunServant) McSet(ctx context.Context, rc *rpc.Context, pool, key string, value *rpc.TMemcacheData, expiration int32) (bool, error) {
	if err := s.switched.refuse("memcache", pool, true); err != nil {
		return false, wrap("mc_set", err)
	}
	err := call(s, ctx, rc, &s.mc, nil, func(ctx context.Context, mc *memcache.Client) error {
		return mc.Set(ctx, pool, key, value.Data, uint32(value.Flags), expiration)
	})
	if err != nil {
		return false, wrap("mc_set", err)
	}
	return true, nil
}

func (s *FunServant) McGet(ctx context.Context, rc *rpc.Context, pool, key string) (*rpc.TMemcacheData, error) {
	if err := s.switched.refuse("memcache", pool, false); err != nil {
		return nil, wrap("mc_get", err)
	}
	var data []byte
	var flags uint32
	err := call(s, ctx, rc, &s.mc, nil, func(ctx context.Context, mc *memcache.Client) (err error) {
		data, flags, err = mc.Get(ctx, pool, key)
		return err
	})
	if err != nil {
		return nil, wrap("mc_get", err)
	}
	return &rpc.TMemcacheData{Data: data, Flags: int32(flags)}, nil
}

func (s *FunServant) McAdd(ctx context.Context, rc *rpc.Context, pool, key string, value *rpc.TMemcacheData, expiration int32) (bool, error) {
	if err := s.switched.refuse("memcache", pool, true); err != nil {
		return false, wrap("mc_add", err)
	}
	var stored bool
	err := call(s, ctx, rc, &s.mc, nil, func(ctx context.Context, mc *memcache.Client) (err error) {
		stored, err = mc.Add(ctx, pool, key, value.Data, uint32(value.Flags), expiration)
		return err
	})
	return stored, wrap("mc_add", err)
}

func (s *FunServant) McDelete(ctx context.Context, rc *rpc.Context, pool, key string) (bool, error) {
	if err := s.switched.refuse("memcache", pool, true); err != nil {
		return false, wrap("mc_delete", err)
	}
	var deleted bool
	err := call(s, ctx, rc, &s.mc, nil, func(ctx context.Context, mc *memcache.Client) (err error) {
		deleted, err = mc.Delete(ctx, pool, key)
		return err
	})
	return deleted, wrap("mc_delete", err)
}

// McIncrement adds delta (a negative one decrements, stopping at 0 as
// memcached does). A missing key is not created and answers 0, where the
// PHP extension answered false.
func (s *FunServant) McIncrement(ctx context.Context, rc *rpc.Context, pool, key string, delta int64) (int64, error) {
	if err := s.switched.refuse("memcache", pool, true); err != nil {
		return 0, wrap("mc_increment", err)
	}
	var n int64
	err := call(s, ctx, rc, &s.mc, nil, func(ctx context.Context, mc *memcache.Client) (err error) {
		n, err = mc.Increment(ctx, pool, key, delta)
		return err
	})
	if errors.Is(err, memcache.ErrMiss) {
		return 0, nil
	}
	return n, wrap("mc_increment", err)
}
