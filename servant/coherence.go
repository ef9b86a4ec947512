package servant

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
)

// This file keeps the caches coherent in a cluster (SPEC §3.6, §5.2):
//   - the query cache and lcache hold a key only on its owner. my_evict and
//     my_bulk_exec's evictions go to the owner (evict, evictAll); their
//     entries move with their vbucket and the old owner drops its copy on
//     sight of the flip (handoff.go, ViewChanged);
//   - a write to the mysql lookup table through any node is announced
//     through ZooKeeper, and every node purges its cached lookup rows on the
//     notice (lookupTopic); rows changed directly in MariaDB are seen within
//     lookup.cache_ttl.

// Notices carries change notices between the nodes; *peer.Cluster
// implements it.
type Notices interface {
	// Publish tells every node, this one included, that topic changed.
	Publish(topic string) error
	// Subscribe runs fn whenever topic is published by any node (and when
	// a change may have been missed).
	Subscribe(topic string, fn func())
}

// lookupTopic is the notice of a write to the mysql lookup table.
const lookupTopic = "mysql.lookup"

// maxEvictions bounds the evictions one my_bulk_exec sends at once.
const maxEvictions = 8

// followCluster subscribes the caches to n; nothing without a cluster. It
// runs in New, before the node serves.
func (s *FunServant) followCluster(n Notices) {
	if n == nil || s.router == nil {
		return
	}
	s.notices = n
	n.Subscribe(lookupTopic, s.purgeLookup)
	if sn, ok := n.(sharedNotices); ok {
		s.shared = sn
		n.Subscribe(degradeTopic, s.followSwitches)
		n.Subscribe(shardsTopic, s.followShards)
	}
}

// purgeLookup empties the mysql lookup cache, if mysql is configured.
func (s *FunServant) purgeLookup() {
	if my, done, err := s.my.hold(); err == nil {
		defer done()
		my.client.PurgeLookup()
	}
}

// sharedNotices are Notices whose topics carry data every node reads;
// *peer.Cluster implements it. The degrade switches travel so.
type sharedNotices interface {
	PublishData(topic string, data []byte) error
	NoticeData(topic string) ([]byte, error)
}

// evictAll evicts each key on its owner, up to maxEvictions at once, and
// returns every failure, each naming its key (and, through forward, the
// owner that could not be reached).
func (s *FunServant) evictAll(ctx context.Context, rc *rpc.Context, keys []string) error {
	errs := make([]error, len(keys))
	sem := make(chan struct{}, maxEvictions)
	var wg sync.WaitGroup
	for i, key := range keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := s.evict(ctx, rc, key); err != nil {
				errs[i] = fmt.Errorf("cacheKey %q: %w", key, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// mysqlCluster is mysql.Cluster over the dispatcher's router and notices,
// read at each call: New builds the mysql client before followCluster runs.
type mysqlCluster struct{ s *FunServant }

// Owns reports whether this node owns cacheKey; always without a cluster.
func (m mysqlCluster) Owns(cacheKey string) bool {
	if m.s.router == nil {
		return true
	}
	return m.s.router.Owner(cacheKey).Self
}

// LookupChanged publishes lookupTopic; nothing without a cluster.
func (m mysqlCluster) LookupChanged() error {
	if m.s.notices == nil {
		return nil
	}
	return m.s.notices.Publish(lookupTopic)
}
