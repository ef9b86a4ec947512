package mysql

import (
	"errors"
	"fmt"
)

// Cluster is what a Client needs of the cluster it runs in to keep its caches
// coherent. The servant dispatcher implements it over its cluster router; a
// Client built by New has none: one node, which owns every key and has
// nobody to tell.
type Cluster interface {
	// Owns reports whether this node owns cacheKey under the ring in use now.
	// It is called on every read with a cacheKey and must be cheap.
	Owns(cacheKey string) bool
	// LookupChanged tells every other node that the lookup table was
	// written, so that they purge their cached lookup rows (see PurgeLookup).
	// It returns once the notice is on its way; the others act on it
	// shortly after.
	LookupChanged() error
}

// NewInCluster is New for a node of cluster cl: its query cache holds only
// keys cl says this node owns (see DropUnowned), and a write to the lookup
// table through it is announced with cl.LookupChanged.
func NewInCluster(cfg Config, cl Cluster) (*Client, error) {
	c, err := New(cfg)
	if err != nil || cl == nil {
		return c, err
	}
	c.cluster, c.cache.owns = cl, cl.Owns
	return c, nil
}

// DropUnowned removes every query-cache entry whose cacheKey this node no
// longer owns, and cancels such fills under way; it returns how many entries
// it removed. The caller runs it after every ring change, before the ring
// can change again: an entry left on a node that lost its key would miss
// the writes and evictions that go to the new owner, and be served stale if
// the key came back. Entries of keys that stayed here are kept.
func (c *Client) DropUnowned() int { return c.cache.dropUnowned() }

// PurgeLookup drops every cached lookup row: another node wrote the lookup
// table. It does nothing when nothing is sharded.
func (c *Client) PurgeLookup() {
	if c.lookup != nil {
		c.lookup.purge()
	}
}

// lookupWritten purges the lookup cache after a write to the lookup table
// (err is the write's own error) and tells the other nodes. If they cannot
// be told, the error says so: the statement ran, and the other nodes go on
// trusting their cached rows for up to lookup.cache_ttl.
func (c *Client) lookupWritten(err error) error {
	c.lookup.purge()
	if c.cluster == nil {
		return err
	}
	if nerr := c.cluster.LookupChanged(); nerr != nil {
		return errors.Join(err, fmt.Errorf("%w: the write to %s ran, but the other nodes may use their "+
			"cached lookup rows for up to lookup.cache_ttl (%s): %w", ErrLookupNotice, c.lookup.table, c.lookup.ttl, nerr))
	}
	return err
}

// bulkEvictions returns the cacheKeys BulkExec must evict after running
// statements 0..ran-1 of sqls: those of the writes among them, each once,
// in order. Reads evict nothing; a write that failed still evicts, as it may
// have reached its table.
func bulkEvictions(sqls, cacheKeys []string, ran int) []string {
	var keys []string
	seen := map[string]bool{}
	for i := range ran {
		if k := cacheKeys[i]; k != "" && !seen[k] && !IsRead(sqls[i]) {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	return keys
}
