package mongodb

import "strconv"

// shards picks the database of a call from its shardId. It is immutable.
type shards struct {
	strategy string
	base     int32  // shard ids per database, standard only
	database string // the database (legacy) or its name prefix (standard)
}

// newShards reads the strategy of a pool whose defaults are applied.
func newShards(p PoolConfig) shards {
	return shards{strategy: p.ShardStrategy, base: p.ShardBaseNum, database: p.Database}
}

// databaseFor returns the database for shardID. Legacy ignores shardID, as the
// original did; standard maps 0..base-1 to <prefix>1, base..2*base-1 to
// <prefix>2, and so on, and refuses a negative shardID.
func (s shards) databaseFor(shardID int32) (string, error) {
	if s.strategy == StrategyLegacy {
		return s.database, nil
	}
	if shardID < 0 {
		return "", invalid("shardId", "must not be negative with shard_strategy %q, got %d", s.strategy, shardID)
	}
	return s.database + strconv.Itoa(int(shardID/s.base)+1), nil
}
