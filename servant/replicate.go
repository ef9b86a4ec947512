package servant

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/servant/lock"

	"github.com/apache/thrift/lib/go/thrift"
)

// This file replicates a vbucket's writes (SPEC §5.4): on the active owner,
// each kvdb write or delete, lock and unlock reaches every replica the map
// lists before it is acknowledged; a replica that does not answer within
// replica_timeout is dropped from the map first (Router.DropReplica), and a
// write that can neither reach a replica nor drop it is not acknowledged.
// On a replica, vb_replicate applies what the owner sends. lcache and the
// query cache are not replicated: after a failover they start cold.
//
// The replicated writes of one key are applied here and sent to the
// replicas one at a time (order): two writes of a key can then not reach a
// replica in another order than they were applied here. Writes of other
// keys go on meanwhile: a stripe of keys shares one mutex.

// ErrReplica answers a write this node applied but could not make reach a
// replica, nor take the replica out of the map: it is not acknowledged.
var ErrReplica = errors.New("servant: write not replicated")

// orderStripes is how many mutexes order has: enough that the writes of a
// few hundred concurrent callers seldom wait for another key's.
const orderStripes = 4096

// order serialises the replicated writes of each key (by stripe).
type order [orderStripes]sync.Mutex

// of returns key's mutex: FNV-1a of the key picks the stripe.
func (o *order) of(key string) *sync.Mutex {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	return &o[h%orderStripes]
}

// replicaSet is what ordered read of vb's entry: the map version and the
// replicas a write must reach.
type replicaSet struct {
	version uint64
	nodes   []string
}

// ordered locks and returns key's order mutex and vb's replicas if it has
// any; a nil mutex (apply alone: nothing to send) without a cluster or
// replicas. It costs a map read.
func (s *FunServant) ordered(vb int, key string) (*sync.Mutex, replicaSet) {
	if s.router == nil {
		return nil, replicaSet{}
	}
	version, replicas := s.router.Replicas(vb)
	if len(replicas) == 0 {
		return nil, replicaSet{}
	}
	mu := s.order.of(key)
	mu.Lock()
	return mu, replicaSet{version, replicas}
}

// replicated runs apply and then sends what changed to vb's replicas, with
// key's order held. change builds the batch from apply's answer; it returns
// nil when nothing changed (a lock refused, say).
func replicated[T any](s *FunServant, ctx context.Context, vb int, key string, apply func() (T, error), change func(T) *rpc.VBucketBatch) (T, error) {
	mu, rs := s.ordered(vb, key)
	if mu == nil {
		return apply()
	}
	defer mu.Unlock()
	v, err := apply()
	if err != nil {
		return v, err
	}
	b := change(v)
	if b == nil {
		return v, nil
	}
	b.Vbucket = int32(vb)
	return v, s.replicate(ctx, vb, b, rs)
}

// replicatedWrite is replicated for a kvdb write, whose change is known
// before it is applied: it is sent to the replicas while it is applied
// here, so the call waits for one disk write and a round trip rather than
// two disk writes one after the other. Should it fail here once the
// replicas took it, they are sent the key as it is here (or dropped).
func replicatedWrite[T any](s *FunServant, ctx context.Context, vb int, key []byte, change *rpc.VBucketBatch, apply func() (T, error)) (T, error) {
	mu, rs := s.ordered(vb, string(key))
	if mu == nil {
		return apply()
	}
	defer mu.Unlock()
	change.Vbucket = int32(vb)
	sent := make(chan error, 1)
	go func() { sent <- s.replicate(ctx, vb, change, rs) }()
	v, err := apply()
	rerr := <-sent
	if err == nil {
		return v, rerr
	}
	if rerr == nil {
		if rerr = s.replicate(ctx, vb, s.kvdbAsHere(vb, key), rs); rerr != nil {
			s.log.Warn("a kvdb write failed here after its replicas took it, and restoring them failed too",
				"vbucket", vb, "err", rerr)
		}
	}
	return v, err
}

// kvdbAsHere is the batch that sets key on a replica as it is here.
func (s *FunServant) kvdbAsHere(vb int, key []byte) *rpc.VBucketBatch {
	value, err := s.kv.Get(key)
	if err != nil {
		value = nil // not found, or unreadable: deleted on the replica either way
	}
	b := kvdbChange(key, value)
	b.Vbucket = int32(vb)
	return b
}

// replicate sends b to each of vb's replicas in rs, all at once, and
// drops the ones that did not answer. It fails if a replica refused (its
// map says it is none: ours is behind) or one could not be dropped.
func (s *FunServant) replicate(ctx context.Context, vb int, b *rpc.VBucketBatch, rs replicaSet) error {
	version, replicas := rs.version, rs.nodes
	errs := make([]error, len(replicas))
	if len(replicas) == 1 {
		errs[0] = s.replicateTo(ctx, replicas[0], b, version)
	} else {
		var wg sync.WaitGroup
		for i, node := range replicas {
			wg.Go(func() { errs[i] = s.replicateTo(ctx, node, b, version) })
		}
		wg.Wait()
	}
	var out []error
	for i, err := range errs {
		switch {
		case err == nil:
			s.routing.replicated.Add(1)
		case reached(err):
			s.routing.replicaRefused.Add(1)
			out = append(out, fmt.Errorf("%w: replica %s of vbucket %d refused it: %v", ErrReplica, replicas[i], vb, err))
		default:
			s.routing.replicaDropped.Add(1)
			if derr := s.router.DropReplica(ctx, vb, replicas[i]); derr != nil {
				out = append(out, fmt.Errorf("%w: replica %s of vbucket %d did not answer (%v), and dropping it failed: %v",
					ErrReplica, replicas[i], vb, err, derr))
			}
		}
	}
	return errors.Join(out...)
}

// replicateTo sends b to one replica within replica_timeout.
func (s *FunServant) replicateTo(ctx context.Context, node string, b *rpc.VBucketBatch, version uint64) error {
	token, err := s.router.PeerToken()
	if err != nil {
		return err
	}
	bound := s.router.ReplicaTimeout()
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	var ok bool
	err = s.router.Forward(ctx, node, func(c rpc.FunServant) (err error) {
		ok, err = c.VbReplicate(ctx, replicaContext(bound, token), b, int64(version))
		return err
	})
	if err == nil && !ok {
		err = errors.New("vb_replicate answered false")
	}
	return err
}

// replicaContext is the Context of a vb_replicate call: its budget tells
// the replica to give up when we do (waiting for our map version, say);
// the token shows it comes from a node of the cluster.
func replicaContext(bound time.Duration, token []byte) *rpc.Context {
	return &rpc.Context{Reason: "replica", Sticky: thrift.BoolPtr(true), BudgetMs: thrift.Int32Ptr(int32(bound.Milliseconds())), PeerToken: token}
}

// VbReplicate applies on a replica what the vbucket's active owner changed:
// refused unless our map (at least mapVersion, waited for) lists this node
// as a replica of the vbucket.
func (s *FunServant) VbReplicate(ctx context.Context, rc *rpc.Context, b *rpc.VBucketBatch, mapVersion int64) (bool, error) {
	ctx, _, cancel := s.deadline(ctx, rc, 0)
	defer cancel()
	if b == nil {
		return false, errors.New("vb_replicate without a batch")
	}
	if err := s.checkHandoff(ctx, rc, b.Vbucket, mapVersion, 0); err != nil {
		return false, err
	}
	vb := int(b.Vbucket)
	// Under vb's gate, as a call: a drop on sight of vb (it is no longer
	// ours to keep) waits for it, or it finds vb gone from our map.
	g := &s.gates[vb]
	g.RLock()
	defer g.RUnlock()
	if p := s.router.VBucket(vb); !p.Replica {
		return false, refusal(p, "vb_replicate: this node is not a replica of the vbucket")
	}
	if err := s.applyReplicated(vb, b); err != nil {
		return false, fmt.Errorf("vb_replicate of vbucket %d: %w", vb, err)
	}
	return true, nil
}

// applyReplicated applies b's kvdb and lock items to vb here.
func (s *FunServant) applyReplicated(vb int, b *rpc.VBucketBatch) error {
	for _, it := range b.Kvdb {
		if s.kv.VBucket(it.Key) != vb {
			return fmt.Errorf("kvdb key %q is not in vbucket %d", it.Key, vb)
		}
		var err error
		if it.Value == nil {
			_, err = s.kv.Del(it.Key)
		} else {
			err = s.kv.Set(it.Key, it.Value)
		}
		if err != nil {
			return err
		}
	}
	for _, it := range b.Locks {
		key := string(it.Key)
		if it.TtlMs == nil {
			if err := s.locks.Unlock(key); err != nil {
				return err
			}
			continue
		}
		held := []lock.Held{{Key: key, TTL: time.Duration(*it.TtlMs) * time.Millisecond}}
		if err := s.locks.ImportVBucket(vb, held); err != nil {
			return err
		}
	}
	return nil
}

// kvdbChange is the batch of one kvdb write (value nil: a delete).
func kvdbChange(key, value []byte) *rpc.VBucketBatch {
	it := &rpc.VBucketItem{Key: key}
	if value != nil {
		it.Value = orEmpty(value)
	}
	return &rpc.VBucketBatch{Kvdb: []*rpc.VBucketItem{it}}
}

// lockChange is the batch of one lock taken for lease, or released (0).
func lockChange(key string, lease time.Duration) *rpc.VBucketBatch {
	it := &rpc.VBucketItem{Key: []byte(key)}
	if lease > 0 {
		it.TtlMs = thrift.Int64Ptr(lease.Milliseconds())
	}
	return &rpc.VBucketBatch{Locks: []*rpc.VBucketItem{it}}
}
