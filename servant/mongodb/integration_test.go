package mongodb

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/faed/faed/pool"
	"github.com/faed/faed/scripts/testserver"
)

// Integration tests against FerretDB v1.24.0 with its SQLite backend
// (scripts/testserver). Pool "game" is legacy (database "game"); pool
// "shard" is standard with 10 shard ids per database.
//
// Every mg_* call works there, with $set, $inc, $push ($each, $slice),
// $addToSet, $pull, $pullAll, $pop, $rename, $unset, $min, $max, $mul,
// $bit, $currentDate, $setOnInsert, dotted paths, and the query operators
// $or, $nor, $in, $regex, $exists, $elemMatch, $size, $all, $mod, $type,
// $not. FerretDB refuses (checked by hand, not tested, since real MongoDB
// takes them): positional updates (a.$, a.$[]), $where, $text, $expr with
// comparison operators, the $slice and $elemMatch projections, and a
// $natural sort on a non-capped collection. It has no transactions, which
// this package does not use.

func startClient(t testing.TB) (*Client, *testserver.Mongo) {
	t.Helper()
	m := testserver.StartMongo(t)
	cfg := DefaultConfig()
	cfg.Pools = map[string]PoolConfig{
		"game": with(DefaultPoolConfig(), func(p *PoolConfig) { p.URI, p.IOTimeout = pool.Secret(m.URI), 5*time.Second }),
		"shard": with(DefaultPoolConfig(), func(p *PoolConfig) {
			p.Servers, p.ShardStrategy, p.ShardBaseNum = []string{m.Addr}, StrategyStandard, 10
		}),
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c, m
}

// doc is a document built from alternating keys and values.
func doc(t testing.TB, kv ...any) []byte {
	t.Helper()
	d := bson.D{}
	for i := 0; i < len(kv); i += 2 {
		d = append(d, bson.E{Key: kv[i].(string), Value: kv[i+1]})
	}
	return marshal(t, d)
}

// decode turns a BSON document into a map with int values normalized to int64.
func decode(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := bson.Unmarshal(b, &m); err != nil {
		t.Fatalf("result is not BSON: %v", err)
	}
	for k, v := range m {
		if n, ok := v.(int32); ok {
			m[k] = int64(n)
		}
	}
	return m
}

// must(f())(t) returns f's value, failing the test if f failed.
func must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func TestInsertAndFind(t *testing.T) {
	c, _ := startClient(t)
	ctx := context.Background()
	if ok := must(c.Insert(ctx, "game", "users", 0, doc(t, "_id", 1, "name", "ann", "age", 30)))(t); !ok {
		t.Fatal("Insert = false")
	}
	docs := [][]byte{doc(t, "_id", 2, "name", "bob", "age", 20), doc(t, "_id", 3, "name", "cid", "age", 40),
		doc(t, "_id", 4, "name", "dan", "age", 20), doc(t, "name", "eve", "age", 50)}
	if ok := must(c.Inserts(ctx, "game", "users", 0, docs))(t); !ok {
		t.Fatal("Inserts = false")
	}

	got := decode(t, must(c.FindOne(ctx, "game", "users", 0, doc(t, "name", "bob"), doc(t, "age", 1)))(t))
	if !reflect.DeepEqual(got, map[string]any{"_id": int64(2), "age": int64(20)}) {
		t.Errorf("FindOne with fields = %v", got)
	}
	if _, err := c.FindOne(ctx, "game", "users", 0, doc(t, "name", "zed"), nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("FindOne miss: %v, want ErrNotFound", err)
	}
	if got := decode(t, must(c.FindOne(ctx, "game", "users", 0, nil, nil))(t)); got["_id"] == nil {
		t.Errorf("FindOne with an empty query = %v", got)
	}
	eve := decode(t, must(c.FindOne(ctx, "game", "users", 0, doc(t, "name", "eve"), nil))(t))
	if _, ok := eve["_id"].(bson.ObjectID); !ok {
		t.Errorf("a document inserted without _id got _id %T, want an ObjectID", eve["_id"])
	}

	got = decode(t, must(c.FindID(ctx, "game", "users", 0, doc(t, "_id", 3)))(t))
	if got["name"] != "cid" {
		t.Errorf("FindID({_id: 3}) = %v", got)
	}
	got = decode(t, must(c.FindID(ctx, "game", "users", 0, doc(t, "id", 4)))(t))
	if got["name"] != "dan" {
		t.Errorf("FindID({id: 4}) = %v", got)
	}
	if _, err := c.FindID(ctx, "game", "users", 0, doc(t, "_id", 99)); !errors.Is(err, ErrNotFound) {
		t.Errorf("FindID miss: %v, want ErrNotFound", err)
	}

	if n := must(c.Count(ctx, "game", "users", 0, nil))(t); n != 5 {
		t.Errorf("Count(all) = %d, want 5", n)
	}
	if n := must(c.Count(ctx, "game", "users", 0, doc(t, "age", 20)))(t); n != 2 {
		t.Errorf("Count(age 20) = %d, want 2", n)
	}
	if n := must(c.Count(ctx, "game", "empty", 0, nil))(t); n != 0 {
		t.Errorf("Count of a missing collection = %d", n)
	}
}

func TestFindAll(t *testing.T) {
	c, _ := startClient(t)
	ctx := context.Background()
	var docs [][]byte
	for i := 1; i <= 6; i++ {
		docs = append(docs, doc(t, "_id", i, "g", i%2, "n", 10-i, "x", "pad"))
	}
	must(c.Inserts(ctx, "game", "items", 0, docs))(t)
	ids := func(res [][]byte) []int64 {
		out := []int64{}
		for _, b := range res {
			out = append(out, decode(t, b)["_id"].(int64))
		}
		return out
	}
	tests := []struct {
		name        string
		query       []byte
		fields      []byte
		limit, skip int32
		orderBy     []string
		want        []int64
	}{
		{"all by _id", nil, nil, 0, 0, []string{"_id"}, []int64{1, 2, 3, 4, 5, 6}},
		{"descending", nil, nil, 0, 0, []string{"-_id"}, []int64{6, 5, 4, 3, 2, 1}},
		{"by n ascending", nil, nil, 0, 0, []string{"n"}, []int64{6, 5, 4, 3, 2, 1}},
		{"two keys", nil, nil, 0, 0, []string{"-g", "+n"}, []int64{5, 3, 1, 6, 4, 2}},
		{"limit", nil, nil, 2, 0, []string{"_id"}, []int64{1, 2}},
		{"skip", nil, nil, 0, 4, []string{"_id"}, []int64{5, 6}},
		{"limit and skip", nil, nil, 2, 1, []string{"-_id"}, []int64{5, 4}},
		{"query", doc(t, "g", 0), nil, 0, 0, []string{"_id"}, []int64{2, 4, 6}},
		{"no match", doc(t, "g", 7), nil, 0, 0, nil, []int64{}},
		{"fields", doc(t, "_id", 1), doc(t, "n", 1), 0, 0, nil, []int64{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := must(c.FindAll(ctx, "game", "items", 0, tt.query, tt.fields, tt.limit, tt.skip, tt.orderBy))(t)
			if got := ids(res); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ids = %v, want %v", got, tt.want)
			}
			if tt.fields != nil && len(res) == 1 && len(decode(t, res[0])) != 2 {
				t.Errorf("with fields {n: 1}: %v, want _id and n only", decode(t, res[0]))
			}
		})
	}
}

func TestUpdates(t *testing.T) {
	c, _ := startClient(t)
	ctx := context.Background()
	must(c.Inserts(ctx, "game", "u", 0, [][]byte{doc(t, "_id", 1, "k", "a", "n", 1), doc(t, "_id", 2, "k", "a", "n", 1)}))(t)
	find := func(id int) map[string]any {
		return decode(t, must(c.FindID(ctx, "game", "u", 0, doc(t, "_id", id)))(t))
	}

	inc := doc(t, "$inc", bson.D{{Key: "n", Value: 5}})
	if ok := must(c.Update(ctx, "game", "u", 0, doc(t, "k", "a"), inc))(t); !ok {
		t.Error("Update of a match = false")
	}
	if a, b := find(1)["n"], find(2)["n"]; a.(int64)+b.(int64) != 7 {
		t.Errorf("after one Update n = %v and %v, want one of them changed (first match only)", a, b)
	}
	if ok := must(c.Update(ctx, "game", "u", 0, doc(t, "k", "zz"), inc))(t); ok {
		t.Error("Update without a match = true")
	}
	if ok := must(c.UpdateID(ctx, "game", "u", 0, 2, doc(t, "only", "this")))(t); !ok {
		t.Error("UpdateID = false")
	}
	if got := find(2); !reflect.DeepEqual(got, map[string]any{"_id": int64(2), "only": "this"}) {
		t.Errorf("a plain change replaces the document: got %v", got)
	}
	if ok := must(c.UpdateID(ctx, "game", "u", 0, 99, inc))(t); ok {
		t.Error("UpdateID of a missing id = true")
	}

	if ok := must(c.Upsert(ctx, "game", "u", 0, doc(t, "k", "new"), doc(t, "$set", bson.D{{Key: "v", Value: 1}})))(t); !ok {
		t.Error("Upsert (insert) = false")
	}
	must(c.Upsert(ctx, "game", "u", 0, doc(t, "k", "new"), doc(t, "$inc", bson.D{{Key: "v", Value: 1}})))(t)
	got := decode(t, must(c.FindOne(ctx, "game", "u", 0, doc(t, "k", "new"), nil))(t))
	if got["v"] != int64(2) {
		t.Errorf("after two Upserts %v, want v 2", got)
	}
	must(c.UpsertID(ctx, "game", "u", 0, 7, doc(t, "$set", bson.D{{Key: "w", Value: "x"}})))(t)
	must(c.UpsertID(ctx, "game", "u", 0, 8, doc(t, "w", "y")))(t)
	if find(7)["w"] != "x" || find(8)["w"] != "y" {
		t.Errorf("UpsertID: %v, %v", find(7), find(8))
	}

	if n := must(c.Count(ctx, "game", "u", 0, nil))(t); n != 5 {
		t.Fatalf("Count = %d, want 5", n)
	}
	if ok := must(c.Delete(ctx, "game", "u", 0, doc(t, "_id", bson.D{{Key: "$gte", Value: 7}})))(t); !ok {
		t.Error("Delete = false")
	}
	if n := must(c.Count(ctx, "game", "u", 0, nil))(t); n != 4 {
		t.Errorf("after Delete Count = %d, want 4 (one document deleted)", n)
	}
	if ok := must(c.Delete(ctx, "game", "u", 0, doc(t, "_id", 1000)))(t); ok {
		t.Error("Delete without a match = true")
	}
}

func TestFindAndModify(t *testing.T) {
	c, _ := startClient(t)
	ctx := context.Background()
	must(c.Insert(ctx, "game", "f", 0, doc(t, "_id", 1, "n", 1)))(t)
	inc := doc(t, "$inc", bson.D{{Key: "n", Value: 1}})
	q := doc(t, "_id", 1)
	fam := func(query, change []byte, upsert, remove, returnNew bool) map[string]any {
		t.Helper()
		return decode(t, must(c.FindAndModify(ctx, "game", "f", 0, query, change, upsert, remove, returnNew))(t))
	}

	if got := fam(q, inc, false, false, false); got["n"] != int64(1) {
		t.Errorf("returnNew false: %v, want the old n 1", got)
	}
	if got := fam(q, inc, false, false, true); got["n"] != int64(3) {
		t.Errorf("returnNew true: %v, want the new n 3", got)
	}
	if got := fam(q, doc(t, "m", 9), false, false, true); !reflect.DeepEqual(got, map[string]any{"_id": int64(1), "m": int64(9)}) {
		t.Errorf("plain change replaces: %v", got)
	}
	for _, miss := range []struct {
		name                      string
		change                    []byte
		upsert, remove, returnNew bool
	}{
		{"update, returnNew", inc, false, false, true},
		{"update, old document", inc, false, false, false},
		{"replace", doc(t, "m", 1), false, false, true},
		{"remove", nil, false, true, false},
	} {
		got, err := c.FindAndModify(ctx, "game", "f", 0, doc(t, "_id", 2), miss.change, miss.upsert, miss.remove, miss.returnNew)
		if err != nil || len(decode(t, got)) != 0 {
			t.Errorf("miss (%s) = %v, %v; want an empty document, as the original answered", miss.name, got, err)
		}
	}
	if n := must(c.Count(ctx, "game", "f", 0, doc(t, "_id", 2)))(t); n != 0 {
		t.Errorf("a miss without upsert left %d documents _id 2, want 0", n)
	}
	if got := fam(doc(t, "_id", 2), inc, true, false, true); got["n"] != int64(1) || got["_id"] != int64(2) {
		t.Errorf("upsert with returnNew: %v, want {_id: 2, n: 1}", got)
	}
	if got := fam(doc(t, "_id", 3), inc, true, false, false); len(got) != 0 {
		t.Errorf("upsert without returnNew: %v, want an empty document", got)
	}
	if got := fam(doc(t, "_id", 3), nil, false, true, false); got["n"] != int64(1) {
		t.Errorf("remove: %v, want the upserted document", got)
	}
	if n := must(c.Count(ctx, "game", "f", 0, nil))(t); n != 2 {
		t.Errorf("Count = %d, want 2 after the remove", n)
	}
}

func TestReadOnlyAndDegrade(t *testing.T) {
	c, _ := startClient(t)
	ctx := context.Background()
	must(c.Insert(ctx, "game", "r", 0, doc(t, "_id", 1)))(t)
	c.SetReadOnly("game", true)
	if _, err := c.Insert(ctx, "game", "r", 0, doc(t, "_id", 2)); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Insert in read-only mode: %v", err)
	}
	if _, err := c.FindAndModify(ctx, "game", "r", 0, nil, doc(t, "a", 1), false, false, false); !errors.Is(err, ErrReadOnly) {
		t.Errorf("FindAndModify in read-only mode: %v", err)
	}
	if _, err := c.FindOne(ctx, "game", "r", 0, nil, nil); err != nil {
		t.Errorf("FindOne in read-only mode: %v", err)
	}
	if n, err := c.Count(ctx, "game", "r", 0, nil); err != nil || n != 1 {
		t.Errorf("Count in read-only mode = %d, %v; want 1 (the refused insert did not happen)", n, err)
	}
	if _, err := c.Insert(ctx, "shard", "r", 0, doc(t, "_id", 2)); err != nil {
		t.Errorf("read-only is per pool: %v", err)
	}
	c.SetReadOnly("game", false)
	c.SetDegraded("game", true)
	if _, err := c.FindOne(ctx, "game", "r", 0, nil, nil); !errors.Is(err, ErrDegraded) {
		t.Errorf("FindOne while degraded: %v", err)
	}
	c.SetDegraded("game", false)
	if _, err := c.Insert(ctx, "game", "r", 0, doc(t, "_id", 2)); err != nil {
		t.Errorf("Insert after the switches are off: %v", err)
	}
}

func TestShardStrategies(t *testing.T) {
	c, m := startClient(t)
	ctx := context.Background()
	must(c.Insert(ctx, "game", "s", 12345, doc(t, "_id", "legacy")))(t)
	for _, shard := range []int32{0, 9, 10, 25} {
		must(c.Insert(ctx, "shard", "s", shard, doc(t, "_id", fmt.Sprint("shard", shard))))(t)
	}
	raw := must(mongo.Connect(options.Client().ApplyURI(m.URI)))(t)
	defer raw.Disconnect(ctx)
	want := map[string][]string{"game": {"legacy"}, "db1": {"shard0", "shard9"}, "db2": {"shard10"}, "db3": {"shard25"}}
	for db, ids := range want {
		var got []string
		cur := must(raw.Database(db).Collection("s").Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}})))(t)
		for cur.Next(ctx) {
			got = append(got, cur.Current.Lookup("_id").StringValue())
		}
		if !reflect.DeepEqual(got, ids) {
			t.Errorf("database %s holds %v, want %v", db, got, ids)
		}
	}
	if _, err := c.Insert(ctx, "shard", "s", -1, doc(t, "_id", 1)); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative shard id: %v, want ErrInvalid", err)
	}
}

func TestUserErrorsKeepBreakerClosed(t *testing.T) {
	c, _ := startClient(t)
	ctx := context.Background()
	must(c.Insert(ctx, "game", "d", 0, doc(t, "_id", 1)))(t)
	for range 2 * pool.DefaultBreakerConfig().FailureThreshold {
		_, err := c.Insert(ctx, "game", "d", 0, doc(t, "_id", 1))
		if !mongo.IsDuplicateKeyError(err) {
			t.Fatalf("second insert of _id 1: %v, want a duplicate key error", err)
		}
		if _, err := c.FindOne(ctx, "game", "d", 0, doc(t, "$bogus", 1), nil); err == nil {
			t.Fatal("a query with an unknown operator succeeded")
		}
	}
	st := c.Stats()["game"]
	if st.Breaker.State != pool.StateClosed || st.Breaker.ConsecutiveFailures != 0 {
		t.Errorf("breaker %+v after user errors, want closed with no failures", st.Breaker)
	}
	ins := st.PerCall["mg_insert"]
	if st.Conns.Created == 0 || st.Conns.CheckedOut == 0 || ins.Calls != 11 || ins.Errors != 10 || ins.Total <= 0 || ins.Max <= 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestInsertsStopsAtFirstFailure(t *testing.T) {
	c, _ := startClient(t)
	ctx := context.Background()
	docs := [][]byte{doc(t, "_id", 1), doc(t, "_id", 2), doc(t, "_id", 1), doc(t, "_id", 3)}
	if ok, err := c.Inserts(ctx, "game", "i", 0, docs); ok || !mongo.IsDuplicateKeyError(err) {
		t.Errorf("Inserts with a duplicate = %v, %v; want false and a duplicate key error", ok, err)
	}
	res := must(c.FindAll(ctx, "game", "i", 0, nil, nil, 0, 0, []string{"_id"}))(t)
	if len(res) != 2 {
		t.Errorf("%d documents inserted, want the 2 before the duplicate", len(res))
	}
}
