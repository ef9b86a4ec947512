package servant

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"faed/idl/gen-go/fun/rpc"
	"faed/servant/lock"

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
// One vbucket's replicated writes are applied here and sent to its
// replicas one at a time (order): two writes of one key can then not reach
// a replica in the other order than they were applied here.

// ErrReplica answers a write this node applied but could not make reach a
// replica, nor take the replica out of the map: it is not acknowledged.
var ErrReplica = errors.New("servant: write not replicated")

// order holds one mutex per vbucket for its replicated writes.
type order []sync.Mutex

// replicated runs apply and then sends what changed to vb's replicas, with
// vb's order held. change builds the batch from apply's answer; it returns
// nil when nothing changed (a lock refused, say). Without replicas (or a
// cluster) it is apply alone, and costs a map read.
func replicated[T any](s *FunServant, ctx context.Context, vb int, apply func() (T, error), change func(T) *rpc.VBucketBatch) (T, error) {
	if s.router == nil {
		return apply()
	}
	if _, replicas := s.router.Replicas(vb); len(replicas) == 0 {
		return apply()
	}
	mu := &s.order[vb]
	mu.Lock()
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
	return v, s.replicate(ctx, vb, b)
}

// replicate sends b to each replica our map lists for vb, all at once, and
// drops the ones that did not answer. It fails if a replica refused (its
// map says it is none: ours is behind) or one could not be dropped.
func (s *FunServant) replicate(ctx context.Context, vb int, b *rpc.VBucketBatch) error {
	version, replicas := s.router.Replicas(vb)
	errs := make([]error, len(replicas))
	var wg sync.WaitGroup
	for i, node := range replicas {
		wg.Go(func() { errs[i] = s.replicateTo(ctx, node, b, version) })
	}
	wg.Wait()
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
	ctx, cancel := context.WithTimeout(ctx, s.router.ReplicaTimeout())
	defer cancel()
	var ok bool
	err := s.router.Forward(ctx, node, func(c rpc.FunServant) (err error) {
		ok, err = c.VbReplicate(ctx, replicaContext(), b, int64(version))
		return err
	})
	if err == nil && !ok {
		err = errors.New("vb_replicate answered false")
	}
	return err
}

func replicaContext() *rpc.Context {
	return &rpc.Context{Reason: "replica", Sticky: thrift.BoolPtr(true)}
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
	if err := s.checkHandoff(ctx, b.Vbucket, mapVersion, 0); err != nil {
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
