package servant

import (
	"context"
	"fmt"
	"time"

	"faed/idl/gen-go/fun/rpc"
	"faed/servant/idgen"
)

// Ping reports version, node and uptime.
func (s *FunServant) Ping(ctx context.Context, rc *rpc.Context) (string, error) {
	up := time.Since(s.start).Truncate(time.Second)
	return fmt.Sprintf("faed %s node %s uptime %s", s.info.Version, s.info.Node, up), nil
}

// Noop returns x.
func (s *FunServant) Noop(ctx context.Context, x int32) (int32, error) { return x, nil }

// IDNext is IDNextWithTag with tag 0.
func (s *FunServant) IDNext(ctx context.Context, rc *rpc.Context) (int64, error) {
	id, err := s.ids.Next(0)
	return id, wrap("id_next", err)
}

// IDNextWithTag issues a snowflake id carrying tag (0–31).
func (s *FunServant) IDNextWithTag(ctx context.Context, rc *rpc.Context, tag int16) (int64, error) {
	id, err := s.ids.Next(tag)
	return id, wrap("id_next_with_tag", err)
}

// IDDecode splits an id into [unix ms, tag, worker id, sequence].
func (s *FunServant) IDDecode(ctx context.Context, rc *rpc.Context, id int64) ([]int64, error) {
	if id < 0 {
		return nil, fmt.Errorf("negative id %d", id)
	}
	p := idgen.Decode(id)
	return []int64{p.UnixMs, p.Tag, p.WorkerID, p.Seq}, nil
}

// LcSet stores value under key in the LRU cache.
func (s *FunServant) LcSet(ctx context.Context, rc *rpc.Context, key string, value []byte) (bool, error) {
	if err := s.cache.Set(key, value); err != nil {
		return false, wrap("lc_set", err)
	}
	return true, nil
}

// LcGet reads key from the LRU cache; a miss throws TCacheMissed.
func (s *FunServant) LcGet(ctx context.Context, rc *rpc.Context, key string) ([]byte, error) {
	v, err := s.cache.Get(key)
	return v, wrap("lc_get", err)
}

// LcDel drops key from the LRU cache.
func (s *FunServant) LcDel(ctx context.Context, rc *rpc.Context, key string) error {
	return wrap("lc_del", s.cache.Del(key))
}

// Lock takes key if it is free or its holder expired.
func (s *FunServant) Lock(ctx context.Context, rc *rpc.Context, reason string, key string) (bool, error) {
	ok, err := s.locks.TryLock(key)
	return ok, wrap("lock", err)
}

// Unlock releases key.
func (s *FunServant) Unlock(ctx context.Context, rc *rpc.Context, reason string, key string) error {
	return wrap("unlock", s.locks.Unlock(key))
}

// KvdbSet stores value under key on disk; durable when it returns true.
func (s *FunServant) KvdbSet(ctx context.Context, rc *rpc.Context, key []byte, value []byte) (bool, error) {
	if err := s.kv.Set(key, value); err != nil {
		return false, wrap("kvdb_set", err)
	}
	return true, nil
}

// KvdbGet reads key; a missing key throws TCacheMissed.
func (s *FunServant) KvdbGet(ctx context.Context, rc *rpc.Context, key []byte) ([]byte, error) {
	v, err := s.kv.Get(key)
	return v, wrap("kvdb_get", err)
}

// KvdbDel deletes key and reports whether it existed.
func (s *FunServant) KvdbDel(ctx context.Context, rc *rpc.Context, key []byte) (bool, error) {
	ok, err := s.kv.Del(key)
	return ok, wrap("kvdb_del", err)
}
