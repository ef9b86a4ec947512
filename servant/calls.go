package servant

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/servant/idgen"
)

// Ping answers in the original's format, which callers of its era parse:
// "ver:<version>, build:<build>, myid:<idgen worker id>, uptime:<duration>",
// the uptime as Go prints a time.Duration (e.g. 1h2m3.456789012s).
func (s *FunServant) Ping(ctx context.Context, rc *rpc.Context) (string, error) {
	return fmt.Sprintf("ver:%s, build:%s, myid:%d, uptime:%s",
		s.version, buildID(), s.cfg.IDGen.WorkerID, time.Since(s.start)), nil
}

// buildID names the commit the binary was built from, as the original's
// build id did: the VCS revision Go stamps into a binary built inside a
// checkout (cut to 12 hex digits, "-dirty" when the tree had changes), or
// "unknown" (go test, go run, a build outside a checkout).
var buildID = sync.OnceValue(func() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	rev, dirty := "", false
	for _, kv := range info.Settings {
		switch kv.Key {
		case "vcs.revision":
			rev = kv.Value
		case "vcs.modified":
			dirty = kv.Value == "true"
		}
	}
	if rev == "" {
		return "unknown"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
})

// Noop returns x.
func (s *FunServant) Noop(ctx context.Context, x int32) (int32, error) { return x, nil }

// IDNext is IDNextWithTag with tag 0.
func (s *FunServant) IDNext(ctx context.Context, rc *rpc.Context) (int64, error) {
	return s.nextID("id_next", 0)
}

// IDNextWithTag issues a snowflake id carrying tag (0–31).
func (s *FunServant) IDNextWithTag(ctx context.Context, rc *rpc.Context, tag int16) (int64, error) {
	return s.nextID("id_next_with_tag", tag)
}

// errWorkerNotHeld refuses ids while another live node might hold our worker id.
var errWorkerNotHeld = errors.New("idgen: worker id is not held in ZooKeeper (session lost?); refusing ids that could collide")

// nextID refuses ids while, in a cluster, our worker id is not held: another
// live node could then be issuing the same ids.
func (s *FunServant) nextID(call string, tag int16) (int64, error) {
	if s.worker != nil && !s.worker.WorkerHeld() {
		return 0, errWorkerNotHeld
	}
	id, err := s.ids.Next(tag)
	return id, wrap(call, err)
}

// IDDecode splits an id into [unix ms, tag, worker id, sequence].
func (s *FunServant) IDDecode(ctx context.Context, rc *rpc.Context, id int64) ([]int64, error) {
	if id < 0 {
		return nil, fmt.Errorf("negative id %d", id)
	}
	p := idgen.Decode(id)
	return []int64{p.UnixMs, p.Tag, p.WorkerID, p.Seq}, nil
}

// The routed calls below are each one route (route.go): key, placement,
// the local function, the same call on the owner's client.

// lcPlacement is retryable, or here when lcache_local keeps lc_* calls on
// the node they reach.
func (s *FunServant) lcPlacement() placement {
	if s.cfg.LCacheLocal {
		return here
	}
	return retryable
}

// LcSet stores value under key in the LRU cache of the key's owner.
func (s *FunServant) LcSet(ctx context.Context, rc *rpc.Context, key string, value []byte) (bool, error) {
	return route(s, ctx, rc, key, s.lcPlacement(), s.lcSet, peerLcSet, keyValue[string]{key, value})
}

// LcGet reads key from the owner's LRU cache; a miss throws TCacheMissed.
func (s *FunServant) LcGet(ctx context.Context, rc *rpc.Context, key string) ([]byte, error) {
	return route(s, ctx, rc, key, s.lcPlacement(), s.lcGet, rpc.FunServant.LcGet, key)
}

// LcDel drops key from the owner's LRU cache.
func (s *FunServant) LcDel(ctx context.Context, rc *rpc.Context, key string) error {
	return errOnly(route(s, ctx, rc, key, s.lcPlacement(), s.lcDel, peerLcDel, key))
}

// Lock takes key on its owner if it is free or its holder expired. Not
// retried when the owner is unreachable: the first attempt may have taken it.
func (s *FunServant) Lock(ctx context.Context, rc *rpc.Context, reason string, key string) (bool, error) {
	return route(s, ctx, rc, key, once, s.lock, peerLock, lockArgs{reason, key})
}

// Unlock releases key on its owner.
func (s *FunServant) Unlock(ctx context.Context, rc *rpc.Context, reason string, key string) error {
	return errOnly(route(s, ctx, rc, key, retryable, s.unlock, peerUnlock, lockArgs{reason, key}))
}

// KvdbSet stores value under key on the owner's disk; durable when it
// returns true.
func (s *FunServant) KvdbSet(ctx context.Context, rc *rpc.Context, key []byte, value []byte) (bool, error) {
	return route(s, ctx, rc, string(key), retryable, s.kvdbSet, peerKvdbSet, keyValue[[]byte]{key, value})
}

// KvdbGet reads key from its owner; a missing key throws TCacheMissed.
func (s *FunServant) KvdbGet(ctx context.Context, rc *rpc.Context, key []byte) ([]byte, error) {
	return route(s, ctx, rc, string(key), retryable, s.kvdbGet, rpc.FunServant.KvdbGet, key)
}

// KvdbDel deletes key on its owner and reports whether it existed.
func (s *FunServant) KvdbDel(ctx context.Context, rc *rpc.Context, key []byte) (bool, error) {
	return route(s, ctx, rc, string(key), retryable, s.kvdbDel, rpc.FunServant.KvdbDel, key)
}

// keyValue and lockArgs carry the arguments of routed calls that take more
// than one.
type keyValue[K string | []byte] struct {
	key   K
	value []byte
}

type lockArgs struct{ reason, key string }

// The local halves of the routed calls: what runs on the key's owner.

func (s *FunServant) lcSet(_ context.Context, a keyValue[string]) (bool, error) {
	if err := s.cache.Set(a.key, a.value); err != nil {
		return false, wrap("lc_set", err)
	}
	return true, nil
}

func (s *FunServant) lcGet(_ context.Context, key string) ([]byte, error) {
	v, err := s.cache.Get(key)
	if err != nil {
		return nil, wrap("lc_get", err)
	}
	return orEmpty(v), nil
}

func (s *FunServant) lcDel(_ context.Context, key string) (struct{}, error) {
	return struct{}{}, wrap("lc_del", s.cache.Del(key))
}

func (s *FunServant) lock(ctx context.Context, a lockArgs) (bool, error) {
	if s.router != nil {
		vb := s.router.Owner(a.key).VBucket
		if until := s.moves.vbs[vb].locksUnknownUntil.Load(); until != 0 && time.Now().UnixNano() < until {
			return false, nil // may be held by a lock this node lost (see vbState)
		}
	}
	ok, err := replicated(s, ctx, s.locks.VBucket(a.key), a.key, func() (bool, error) { return s.locks.TryLock(a.key) },
		func(ok bool) *rpc.VBucketBatch {
			if !ok {
				return nil
			}
			return lockChange(a.key, s.locks.Expiry())
		})
	if ok && err != nil {
		_ = s.locks.Unlock(a.key) // not granted: the caller hears the error
		ok = false
	}
	return ok, wrap("lock", err)
}

func (s *FunServant) unlock(ctx context.Context, a lockArgs) (struct{}, error) {
	return replicated(s, ctx, s.locks.VBucket(a.key), a.key, func() (struct{}, error) { return struct{}{}, s.locks.Unlock(a.key) },
		func(struct{}) *rpc.VBucketBatch { return lockChange(a.key, 0) })
}

func (s *FunServant) kvdbSet(ctx context.Context, a keyValue[[]byte]) (bool, error) {
	_, err := replicatedWrite(s, ctx, s.kv.VBucket(a.key), a.key, kvdbChange(a.key, a.value),
		func() (struct{}, error) { return struct{}{}, s.kv.Set(a.key, a.value) })
	if err != nil {
		return false, wrap("kvdb_set", err)
	}
	return true, nil
}

func (s *FunServant) kvdbGet(_ context.Context, key []byte) ([]byte, error) {
	v, err := s.kv.Get(key)
	if err != nil {
		return nil, wrap("kvdb_get", err)
	}
	return orEmpty(v), nil
}

func (s *FunServant) kvdbDel(ctx context.Context, key []byte) (bool, error) {
	// The delete reaches the replicas even of a key not found here: it
	// costs a call, and a replica never keeps what its owner lacks.
	ok, err := replicatedWrite(s, ctx, s.kv.VBucket(key), key, kvdbChange(key, nil),
		func() (bool, error) { return s.kv.Del(key) })
	return ok, wrap("kvdb_del", err)
}

// The peer halves that are not a method expression of rpc.FunServant: the
// same call on the owner's client c, with the forwarding context fc.

func peerLcSet(c rpc.FunServant, ctx context.Context, fc *rpc.Context, a keyValue[string]) (bool, error) {
	return c.LcSet(ctx, fc, a.key, a.value)
}

func peerLcDel(c rpc.FunServant, ctx context.Context, fc *rpc.Context, key string) (struct{}, error) {
	return struct{}{}, c.LcDel(ctx, fc, key)
}

func peerLock(c rpc.FunServant, ctx context.Context, fc *rpc.Context, a lockArgs) (bool, error) {
	return c.Lock(ctx, fc, a.reason, a.key)
}

func peerUnlock(c rpc.FunServant, ctx context.Context, fc *rpc.Context, a lockArgs) (struct{}, error) {
	return struct{}{}, c.Unlock(ctx, fc, a.reason, a.key)
}

func peerKvdbSet(c rpc.FunServant, ctx context.Context, fc *rpc.Context, a keyValue[[]byte]) (bool, error) {
	return c.KvdbSet(ctx, fc, a.key, a.value)
}
