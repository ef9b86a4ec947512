package mongodb

import (
	"sync"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// maxCachedCollections bounds a pool's collection cache: past it, handles
// are built per call, so clients naming endless tables cost no memory.
const maxCachedCollections = 4096

// collKey names a collection within a pool.
type collKey struct{ db, table string }

// collections caches the driver's collection handles of one pool, which
// cost a dozen allocations each to build. It is safe for concurrent use.
type collections struct {
	mc *mongo.Client

	mu sync.RWMutex
	// m is guarded by mu.
	m map[collKey]*mongo.Collection
}

func newCollections(mc *mongo.Client) *collections {
	return &collections{mc: mc, m: make(map[collKey]*mongo.Collection)}
}

// get returns the handle of db.table.
func (c *collections) get(db, table string) *mongo.Collection {
	k := collKey{db, table}
	c.mu.RLock()
	coll, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return coll
	}
	coll = c.mc.Database(db).Collection(table)
	c.mu.Lock()
	if len(c.m) < maxCachedCollections {
		c.m[k] = coll
	}
	c.mu.Unlock()
	return coll
}
