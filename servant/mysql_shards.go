package servant

import (
	"errors"
	"strconv"

	"github.com/faed/faed/servant/mysql"
)

// This file is the operator's side of MySQL sharding by vbucket (SPEC
// §5.3): the shard map in force, and its changes — lock a vbucket's writes,
// flip it to another shard once its rows moved, unlock — made through any
// node's admin server. In a cluster the map is the 'mysql-shards' notice
// znode, changed with its version checked, and every node follows it; on
// one node it lives in memory.

const shardsTopic = "mysql-shards"

// errNoVBucketShards answers the shard map calls of a node whose mysql
// servant shards nothing by vbucket.
var errNoVBucketShards = errors.New("servant: [servant.mysql.vbucket] shards no pool on this node")

// updater is sharedNotices that can change a topic's data version-checked;
// *peer.Cluster implements it.
type updater interface {
	UpdateData(topic string, change func(old []byte) ([]byte, error)) ([]byte, error)
}

// ShardMap is the shard map in force.
func (s *FunServant) ShardMap() (any, error) {
	my, done, err := s.shardClient()
	if err != nil {
		return nil, err
	}
	defer done()
	return my.ShardMap(), nil
}

// shardClient holds the mysql client for a shard map call, as hold does;
// errNoVBucketShards when it shards nothing by vbucket.
func (s *FunServant) shardClient() (*mysql.Client, func(), error) {
	my, done, err := s.my.hold()
	if err != nil {
		return nil, nil, errNoVBucketShards
	}
	if my.client.Shards() == 0 {
		done()
		return nil, nil, errNoVBucketShards
	}
	return my.client, done, nil
}

// ChangeShardMap applies one change (op lock, flip or unlock) to the shard
// map, cluster-wide when there is a cluster, and answers the map after it.
// Its error says why the change does not apply; nothing changed then.
func (s *FunServant) ChangeShardMap(op, vbucket, shard, reason string) (any, error) {
	my, done, err := s.shardClient()
	if err != nil {
		return nil, err
	}
	defer done()
	c := mysql.ShardChange{Op: op, Reason: reason}
	if c.VBucket, err = strconv.Atoi(vbucket); err != nil {
		return nil, errors.New("vbucket: want a number")
	}
	if op == "flip" {
		if c.Shard, err = strconv.Atoi(shard); err != nil {
			return nil, errors.New("shard: want a number")
		}
	}
	u, ok := s.shared.(updater)
	if !ok {
		m, err := my.ShardMap().Apply(c, my.Shards())
		if err != nil {
			return nil, err
		}
		my.SetShardMap(m)
		s.log.Warn("mysql: shard map changed", "op", op, "vbucket", c.VBucket, "shard", c.Shard, "reason", reason)
		return m, nil
	}
	var next mysql.ShardMap
	_, err = u.UpdateData(shardsTopic, func(old []byte) ([]byte, error) {
		m, err := decodeShardMap(my, old)
		if err != nil {
			return nil, err
		}
		if next, err = m.Apply(c, my.Shards()); err != nil {
			return nil, err
		}
		return next.Encode(), nil
	})
	if err != nil {
		return nil, err
	}
	my.SetShardMap(next) // at once here; the notice brings it to every node
	s.log.Warn("mysql: shard map changed cluster-wide", "op", op, "vbucket", c.VBucket, "shard", c.Shard, "reason", reason)
	return next, nil
}

// decodeShardMap reads the cluster's map; nothing yet is the default map.
func decodeShardMap(my *mysql.Client, data []byte) (mysql.ShardMap, error) {
	if len(data) == 0 {
		return my.DefaultShardMap(), nil
	}
	return mysql.DecodeShardMap(data, len(my.DefaultShardMap().Shards), my.Shards())
}

// followShards replaces our shard map with the cluster's, if mysql shards
// by vbucket here.
func (s *FunServant) followShards() {
	my, done, err := s.shardClient()
	if err != nil {
		return
	}
	defer done()
	data, err := s.shared.NoticeData(shardsTopic)
	if err != nil {
		s.log.Warn("mysql: reading the cluster's shard map", "err", err)
		return
	}
	m, err := decodeShardMap(my, data)
	if err != nil {
		s.log.Warn("mysql: the cluster's shard map does not fit this node's configuration; keeping ours", "err", err)
		return
	}
	my.SetShardMap(m)
}
