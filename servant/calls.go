package servant

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"faed/idl/gen-go/fun/rpc"
	"faed/servant/idgen"
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

// nextID refuses ids while, in a cluster, our worker id is not held: another
// live node could then be issuing the same ids.
func (s *FunServant) nextID(call string, tag int16) (int64, error) {
	if s.router != nil && !s.router.WorkerHeld() {
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

// lcacheOwner is remote() for lc_* calls, which a switch can keep node-local.
func (s *FunServant) lcacheOwner(rc *rpc.Context, key string) string {
	if s.cfg.LCacheLocal {
		return ""
	}
	return s.remote(rc, key)
}

// LcSet stores value under key in the LRU cache of the key's owner.
func (s *FunServant) LcSet(ctx context.Context, rc *rpc.Context, key string, value []byte) (bool, error) {
	if addr := s.lcacheOwner(rc, key); addr != "" {
		var ok bool
		err := s.forward(ctx, addr, rc, key, true, func(c rpc.FunServant, sc *rpc.Context) (err error) {
			ok, err = c.LcSet(ctx, sc, key, value)
			return err
		})
		if err != errNowLocal {
			return ok, err
		}
	}
	if err := s.cache.Set(key, value); err != nil {
		return false, wrap("lc_set", err)
	}
	return true, nil
}

// LcGet reads key from the owner's LRU cache; a miss throws TCacheMissed.
func (s *FunServant) LcGet(ctx context.Context, rc *rpc.Context, key string) ([]byte, error) {
	if addr := s.lcacheOwner(rc, key); addr != "" {
		var v []byte
		err := s.forward(ctx, addr, rc, key, true, func(c rpc.FunServant, sc *rpc.Context) (err error) {
			v, err = c.LcGet(ctx, sc, key)
			return err
		})
		if err != errNowLocal {
			return v, err
		}
	}
	v, err := s.cache.Get(key)
	if err != nil {
		return nil, wrap("lc_get", err)
	}
	return orEmpty(v), nil
}

// LcDel drops key from the owner's LRU cache.
func (s *FunServant) LcDel(ctx context.Context, rc *rpc.Context, key string) error {
	if addr := s.lcacheOwner(rc, key); addr != "" {
		err := s.forward(ctx, addr, rc, key, true, func(c rpc.FunServant, sc *rpc.Context) error {
			return c.LcDel(ctx, sc, key)
		})
		if err != errNowLocal {
			return err
		}
	}
	return wrap("lc_del", s.cache.Del(key))
}

// Lock takes key on its owner if it is free or its holder expired. Not
// retried when the owner is unreachable: the first attempt may have taken it.
func (s *FunServant) Lock(ctx context.Context, rc *rpc.Context, reason string, key string) (bool, error) {
	if addr := s.remote(rc, key); addr != "" {
		var ok bool
		err := s.forward(ctx, addr, rc, key, false, func(c rpc.FunServant, sc *rpc.Context) (err error) {
			ok, err = c.Lock(ctx, sc, reason, key)
			return err
		})
		return ok, err
	}
	ok, err := s.locks.TryLock(key)
	return ok, wrap("lock", err)
}

// Unlock releases key on its owner.
func (s *FunServant) Unlock(ctx context.Context, rc *rpc.Context, reason string, key string) error {
	if addr := s.remote(rc, key); addr != "" {
		err := s.forward(ctx, addr, rc, key, true, func(c rpc.FunServant, sc *rpc.Context) error {
			return c.Unlock(ctx, sc, reason, key)
		})
		if err != errNowLocal {
			return err
		}
	}
	return wrap("unlock", s.locks.Unlock(key))
}

// KvdbSet stores value under key on the owner's disk; durable when it
// returns true.
func (s *FunServant) KvdbSet(ctx context.Context, rc *rpc.Context, key []byte, value []byte) (bool, error) {
	if addr := s.remote(rc, string(key)); addr != "" {
		var ok bool
		err := s.forward(ctx, addr, rc, string(key), true, func(c rpc.FunServant, sc *rpc.Context) (err error) {
			ok, err = c.KvdbSet(ctx, sc, key, value)
			return err
		})
		if err != errNowLocal {
			return ok, err
		}
	}
	if err := s.kv.Set(key, value); err != nil {
		return false, wrap("kvdb_set", err)
	}
	return true, nil
}

// KvdbGet reads key from its owner; a missing key throws TCacheMissed.
func (s *FunServant) KvdbGet(ctx context.Context, rc *rpc.Context, key []byte) ([]byte, error) {
	if addr := s.remote(rc, string(key)); addr != "" {
		var v []byte
		err := s.forward(ctx, addr, rc, string(key), true, func(c rpc.FunServant, sc *rpc.Context) (err error) {
			v, err = c.KvdbGet(ctx, sc, key)
			return err
		})
		if err != errNowLocal {
			return v, err
		}
	}
	v, err := s.kv.Get(key)
	if err != nil {
		return nil, wrap("kvdb_get", err)
	}
	return orEmpty(v), nil
}

// KvdbDel deletes key on its owner and reports whether it existed.
func (s *FunServant) KvdbDel(ctx context.Context, rc *rpc.Context, key []byte) (bool, error) {
	if addr := s.remote(rc, string(key)); addr != "" {
		var ok bool
		err := s.forward(ctx, addr, rc, string(key), true, func(c rpc.FunServant, sc *rpc.Context) (err error) {
			ok, err = c.KvdbDel(ctx, sc, key)
			return err
		})
		if err != errNowLocal {
			return ok, err
		}
	}
	ok, err := s.kv.Del(key)
	return ok, wrap("kvdb_del", err)
}
