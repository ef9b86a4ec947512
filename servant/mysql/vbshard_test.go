package mysql

import (
	"errors"
	"strings"
	"testing"
)

func TestShardMapChanges(t *testing.T) {
	m := defaultShardMap(8, 2)
	if m.Shards[5] != 1 || m.Shards[6] != 0 {
		t.Fatalf("default map %v: want vbucket v on shard v %% 2", m.Shards)
	}
	for _, c := range []ShardChange{
		{Op: "flip", VBucket: 5, Shard: 0},                         // not locked
		{Op: "lock", VBucket: 5},                                   // no reason
		{Op: "lock", VBucket: 8, Reason: "x"},                      // out of range
		{Op: "unlock", VBucket: 5},                                 // not locked
		{Op: "lock", VBucket: 5, Reason: strings.Repeat("r", 501)}, // reason too long
		{Op: "move", VBucket: 5},
	} {
		if got, err := m.Apply(c, 2); !errors.Is(err, ErrShardMap) || got.Shards[5] != 1 {
			t.Errorf("%+v: %v, map %v; want refused, nothing changed", c, err, got.Shards)
		}
	}
	locked, err := m.Apply(ShardChange{Op: "lock", VBucket: 5, Reason: "moving"}, 2)
	if err != nil || locked.Locked[5] != "moving" || len(m.Locked) != 0 {
		t.Fatalf("lock: %v, %v; the old map %v must not change", locked, err, m.Locked)
	}
	if _, err := locked.Apply(ShardChange{Op: "flip", VBucket: 5, Shard: 2}, 2); !errors.Is(err, ErrShardMap) {
		t.Errorf("flip to shard 2 of 2: %v, want refused", err)
	}
	flipped, err := locked.Apply(ShardChange{Op: "flip", VBucket: 5, Shard: 0}, 2)
	if err != nil || flipped.Shards[5] != 0 || locked.Shards[5] != 1 {
		t.Fatalf("flip: %v, %v", flipped, err)
	}
	done, err := flipped.Apply(ShardChange{Op: "unlock", VBucket: 5}, 2)
	if err != nil || len(done.Locked) != 0 {
		t.Fatalf("unlock: %v, %v", done, err)
	}
	back, err := DecodeShardMap(done.Encode(), 8, 2)
	if err != nil || back.Shards[5] != 0 || len(back.Locked) != 0 {
		t.Errorf("decode of the encoded map: %v, %v", back, err)
	}
	for _, data := range []string{`{"shards":[0,1]}`, `{"shards":[0,1,0,1,0,5,0,1]}`, `not json`} {
		if _, err := DecodeShardMap([]byte(data), 8, 2); err == nil {
			t.Errorf("decode of %s: no error", data)
		}
	}
}

func TestVBucketShardConfig(t *testing.T) {
	pools := map[string]PoolConfig{"vu0": {}, "vu1": {}, "lk1": {}}
	for _, c := range []struct {
		cfg  VBucketShardConfig
		want string
	}{
		{VBucketShardConfig{Sharded: []string{"vu"}}, "vbucket.shards: must be at least 1"},
		{VBucketShardConfig{Sharded: []string{"vu"}, Shards: 3}, `needs the pool "vu2"`},
		{VBucketShardConfig{Sharded: []string{"vu0"}, Shards: 1}, "is not a pool"},
		{VBucketShardConfig{Sharded: []string{"lk"}, Shards: 1}, "sharded by lookup.sharded too"},
	} {
		var ps problems
		c.cfg.validate(&ps, "vbucket.", pools, []string{"lk"})
		if err := errors.Join(ps...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
	var ps problems
	VBucketShardConfig{Sharded: []string{"vu"}, Shards: 2}.validate(&ps, "vbucket.", pools, nil)
	if err := errors.Join(ps...); err != nil {
		t.Errorf("a valid config: %v", err)
	}
}
