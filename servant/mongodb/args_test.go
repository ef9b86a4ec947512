package mongodb

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"
)

func TestParseOrderBy(t *testing.T) {
	tests := []struct {
		name  string
		items []string
		want  bson.D
		err   string
	}{
		{"none", nil, nil, ""},
		{"ascending", []string{"a"}, bson.D{{Key: "a", Value: int32(1)}}, ""},
		{"plus", []string{"+a"}, bson.D{{Key: "a", Value: int32(1)}}, ""},
		{"descending", []string{"-a"}, bson.D{{Key: "a", Value: int32(-1)}}, ""},
		{"order kept", []string{"-b", "a", "c.d"},
			bson.D{{Key: "b", Value: int32(-1)}, {Key: "a", Value: int32(1)}, {Key: "c.d", Value: int32(1)}}, ""},
		{"empty item", []string{"a", ""}, nil, "orderBy[1]: empty field"},
		{"bare minus", []string{"-"}, nil, "orderBy[0]: empty field"},
		{"double minus", []string{"--a"}, nil, "orderBy[0]: one direction sign only"},
		{"operator", []string{"$id"}, nil, "must not start with $"},
		{"natural", []string{"-$natural"}, bson.D{{Key: "$natural", Value: int32(-1)}}, ""},
		{"twice", []string{"a", "-a"}, nil, `orderBy[1]: field "a" appears twice`},
		{"empty segment", []string{"a..b"}, nil, "empty path segment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseOrderBy(tt.items)
			checkErr(t, err, tt.err)
			if tt.err != "" && !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if tt.err == "" && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseOrderBy(%q) = %v, want %v", tt.items, got, tt.want)
			}
		})
	}
}

func TestParseChange(t *testing.T) {
	tests := []struct {
		name    string
		doc     []byte
		replace bool
		err     string
	}{
		{"operators", marshal(t, bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: 1}}}, {Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}}), false, ""},
		{"plain", marshal(t, bson.D{{Key: "a", Value: 1}}), true, ""},
		{"mixed", marshal(t, bson.D{{Key: "a", Value: 1}, {Key: "$set", Value: bson.D{}}}), false, "change: mixes"},
		{"empty doc", emptyDoc, false, "change: empty document"},
		{"no bytes", nil, false, "change: not a BSON document"},
		{"garbage", []byte("hello world"), false, "change: not a BSON document"},
		{"truncated", marshal(t, bson.D{{Key: "a", Value: 1}})[:8], false, "change: not a BSON document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, err := parseChange(tt.doc)
			checkErr(t, err, tt.err)
			if tt.err == "" && ch.replace != tt.replace {
				t.Errorf("replace = %v, want %v", ch.replace, tt.replace)
			}
		})
	}
}

func TestIDValue(t *testing.T) {
	tests := []struct {
		name string
		doc  []byte
		want any // the id decoded into an interface
		err  string
	}{
		{"_id", marshal(t, bson.D{{Key: "x", Value: 1}, {Key: "_id", Value: "k"}}), "k", ""},
		{"one element", marshal(t, bson.D{{Key: "id", Value: int32(7)}}), int32(7), ""},
		{"two elements", marshal(t, bson.D{{Key: "a", Value: 1}, {Key: "b", Value: 2}}), nil, "id: must be"},
		{"empty", emptyDoc, nil, "id: must be"},
		{"raw int", []byte{7, 0, 0, 0}, nil, "id: not a BSON document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := idValue(tt.doc)
			checkErr(t, err, tt.err)
			if tt.err != "" {
				return
			}
			var got any
			if err := v.Unmarshal(&got); err != nil || got != tt.want {
				t.Errorf("id = %v (%v), want %v", got, err, tt.want)
			}
		})
	}
}

func TestArgs(t *testing.T) {
	doc := marshal(t, bson.D{{Key: "a", Value: 1}})
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"empty table", checkTable(""), "table: empty"},
		{"system table", checkTable("system.users"), "table: reserved"},
		{"dollar table", checkTable("a$b"), "table: must not contain"},
		{"table ok", checkTable("user_profile.v2"), ""},
		{"negative limit", checkPage(-1, 0), "limit: must not be negative"},
		{"negative skip", checkPage(0, -1), "skip: must not be negative"},
		{"bad query", second(query("query", []byte{1, 2})), "query: not a BSON document"},
		{"empty query", second(query("query", nil)), ""},
		{"bad fields", second(projection([]byte{0})), "fields: not a BSON document"},
		{"no docs", second(insertsArgs("t", nil)), "docs: empty list"},
		{"bad second doc", second(insertsArgs("t", [][]byte{doc, {9}})), "docs[1]: not a BSON document"},
		{"remove with upsert", third(famArgs("t", nil, nil, true, true, false)), "remove: combines"},
		{"remove with returnNew", third(famArgs("t", nil, nil, false, true, true)), "remove: combines"},
		{"remove without change", third(famArgs("t", nil, nil, false, true, false)), ""},
		{"modify without change", third(famArgs("t", nil, nil, false, false, false)), "change: not a BSON document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, tt.err, tt.want)
			if tt.want != "" && !errors.Is(tt.err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", tt.err)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want outcome
	}{
		{"nil", nil, answered},
		{"no documents", mongo.ErrNoDocuments, answered},
		{"duplicate key", mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: 11000}}}, answered},
		{"bad query", mongo.CommandError{Code: 2, Message: "unknown operator"}, answered},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), unsent},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), fault},
		{"server selection", topology.ServerSelectionError{Wrapped: errors.New("no server")}, fault},
		{"network", mongo.CommandError{Labels: []string{"NetworkError"}}, fault},
		{"client side", mongo.ErrNilDocument, unsent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.err); got != tt.want {
				t.Errorf("classify(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestShardDatabase(t *testing.T) {
	tests := []struct {
		name    string
		pool    PoolConfig
		shardID int32
		want    string
		err     string
	}{
		{"legacy is the pool name", PoolConfig{}, 123456, "game", ""},
		{"legacy ignores negative", PoolConfig{}, -5, "game", ""},
		{"legacy database key", PoolConfig{Database: "gamedb"}, 7, "gamedb", ""},
		{"standard first", PoolConfig{ShardStrategy: StrategyStandard}, 0, "db1", ""},
		{"standard last of first", PoolConfig{ShardStrategy: StrategyStandard}, 99999, "db1", ""},
		{"standard second", PoolConfig{ShardStrategy: StrategyStandard}, 100000, "db2", ""},
		{"standard max", PoolConfig{ShardStrategy: StrategyStandard}, 2147483647, "db21475", ""},
		{"standard base", PoolConfig{ShardStrategy: StrategyStandard, ShardBaseNum: 10}, 25, "db3", ""},
		{"standard prefix", PoolConfig{ShardStrategy: StrategyStandard, Database: "user"}, 100001, "user2", ""},
		{"standard negative", PoolConfig{ShardStrategy: StrategyStandard}, -1, "", "shardId: must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pc := tt.pool
			if pc.ShardBaseNum == 0 {
				pc.ShardBaseNum = DefaultShardBaseNum // the literal names only what the case is about
			}
			got, err := newShards(pc.withDefaults("game")).databaseFor(tt.shardID)
			checkErr(t, err, tt.err)
			if got != tt.want {
				t.Errorf("databaseFor(%d) = %q, want %q", tt.shardID, got, tt.want)
			}
		})
	}
}

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := bson.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func second[T any](_ T, err error) error { return err }

func third[T, U any](_ T, _ U, err error) error { return err }
