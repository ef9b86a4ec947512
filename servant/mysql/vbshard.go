package mysql

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"slices"
	"strconv"
)

// Sharding by vbucket map (SPEC §5.3): a pool listed in [servant.mysql.vbucket]
// sharded routes a call by its hintId: the vbucket of hintId (crc32 of its
// decimal form, modulo the cluster's vbuckets, as keys are placed) maps to a
// shard in the shard map, and the call goes to pool "<name><shard>". The
// shard map starts with vbucket v on shard v % shards; an operator moves a
// vbucket's rows by locking its writes (they fail with ErrVBucketLocked,
// which callers retry), copying the rows by their own means, flipping the
// vbucket to its new shard and unlocking. In a cluster the map lives in
// ZooKeeper, written with its version checked, and every node follows it.

// ErrVBucketLocked is wrapped, naming the vbucket, pool and reason, when a
// write reaches a vbucket whose writes an operator locked: retry later.
var ErrVBucketLocked = errors.New("mysql: vbucket locked for a shard move; retry later")

// ErrShardMap is wrapped by a shard map change that does not apply.
var ErrShardMap = errors.New("mysql: shard map change refused")

// ShardMap is the vbucket → shard map of the pools sharded by vbucket.
// It is a value: changes return a new one.
type ShardMap struct {
	// Shards is each vbucket's shard, by vbucket.
	Shards []int `json:"shards"`
	// Locked are the vbuckets whose writes are refused, with the reason.
	Locked map[int]string `json:"locked,omitempty"`
}

// defaultShardMap puts vbucket v on shard v % shards.
func defaultShardMap(vbuckets, shards int) ShardMap {
	m := ShardMap{Shards: make([]int, vbuckets)}
	for v := range m.Shards {
		m.Shards[v] = v % shards
	}
	return m
}

// DecodeShardMap reads a map as EncodeShardMap wrote it, checked against
// the vbucket count and the shards configured.
func DecodeShardMap(data []byte, vbuckets, shards int) (ShardMap, error) {
	var m ShardMap
	if err := json.Unmarshal(data, &m); err != nil {
		return ShardMap{}, fmt.Errorf("mysql: shard map: %w", err)
	}
	if len(m.Shards) != vbuckets {
		return ShardMap{}, fmt.Errorf("mysql: shard map has %d vbuckets, the cluster %d", len(m.Shards), vbuckets)
	}
	for v, s := range m.Shards {
		if s < 0 || s >= shards {
			return ShardMap{}, fmt.Errorf("mysql: shard map puts vbucket %d on shard %d, want 0 to %d", v, s, shards-1)
		}
	}
	return m, nil
}

// Encode is the map as it is kept in ZooKeeper.
func (m ShardMap) Encode() []byte {
	data, _ := json.Marshal(m) // ints and strings: it cannot fail
	return data
}

// ShardChange is one operator change of the shard map.
type ShardChange struct {
	Op      string // lock, flip or unlock
	VBucket int
	Shard   int    // flip's new shard
	Reason  string // lock's reason
}

// maxLockReason bounds a lock's reason: every refused write repeats it.
const maxLockReason = 500

// Apply returns the map after c, or why c does not apply: a flip needs the
// vbucket locked (its writes stopped while the rows move) and a shard that
// is configured.
func (m ShardMap) Apply(c ShardChange, shards int) (ShardMap, error) {
	if c.VBucket < 0 || c.VBucket >= len(m.Shards) {
		return m, fmt.Errorf("%w: vbucket %d, want 0 to %d", ErrShardMap, c.VBucket, len(m.Shards)-1)
	}
	n := ShardMap{Shards: slices.Clone(m.Shards), Locked: maps.Clone(m.Locked)}
	if n.Locked == nil {
		n.Locked = map[int]string{}
	}
	_, locked := n.Locked[c.VBucket]
	switch c.Op {
	case "lock":
		if c.Reason == "" || len(c.Reason) > maxLockReason {
			return m, fmt.Errorf("%w: lock needs a reason of 1 to %d bytes", ErrShardMap, maxLockReason)
		}
		n.Locked[c.VBucket] = c.Reason
	case "unlock":
		if !locked {
			return m, fmt.Errorf("%w: vbucket %d is not locked", ErrShardMap, c.VBucket)
		}
		delete(n.Locked, c.VBucket)
	case "flip":
		switch {
		case !locked:
			return m, fmt.Errorf("%w: vbucket %d must be locked before it is flipped (its writes stopped while its rows move)", ErrShardMap, c.VBucket)
		case c.Shard < 0 || c.Shard >= shards:
			return m, fmt.Errorf("%w: shard %d, want 0 to %d", ErrShardMap, c.Shard, shards-1)
		}
		n.Shards[c.VBucket] = c.Shard
	default:
		return m, fmt.Errorf("%w: op %q, want lock, flip or unlock", ErrShardMap, c.Op)
	}
	return n, nil
}

// hintVBucket is the vbucket of hintID among n.
func hintVBucket(hintID int64, n int) int {
	return int(crc32.ChecksumIEEE(strconv.AppendInt(nil, hintID, 10)) % uint32(n))
}

// routeVBucket returns the shard pool of a call to name, sharded by
// vbucket, for hintID; a write to a locked vbucket fails.
func (c *Client) routeVBucket(name string, hintID int64, write bool) (*server, error) {
	m := c.shardMap.Load()
	vb := hintVBucket(hintID, len(m.Shards))
	if reason, locked := m.Locked[vb]; write && locked {
		return nil, fmt.Errorf("%w: vbucket %d of pool %q (hintId %d): %s", ErrVBucketLocked, vb, name, hintID, reason)
	}
	shard := name + strconv.Itoa(m.Shards[vb])
	srv, ok := c.servers[shard]
	if !ok {
		return nil, fmt.Errorf("%w: the shard map puts vbucket %d of %q on pool %q, which is not configured", ErrNoShardPool, vb, name, shard)
	}
	return srv, nil
}

// ShardMap is the shard map in use.
func (c *Client) ShardMap() ShardMap { return *c.shardMap.Load() }

// DefaultShardMap is the map a cluster starts with.
func (c *Client) DefaultShardMap() ShardMap { return defaultShardMap(c.vbuckets, c.shards) }

// Shards is [servant.mysql.vbucket] shards.
func (c *Client) Shards() int { return c.shards }

// SetShardMap puts m in use.
func (c *Client) SetShardMap(m ShardMap) { c.shardMap.Store(&m) }
