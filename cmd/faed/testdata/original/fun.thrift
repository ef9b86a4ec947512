// The wire interface of the original fae/faed at its last revision, as
// SPEC.md §1 describes it: service FunServant, its method names, argument
// ids, types and requiredness markers, and the structs they carry. Written
// for faed's tests, not taken from the original: TestOriginalInterface
// checks idl/fun.thrift against it, and TestOriginalPHPCallers runs PHP
// code written the original's way through stubs generated from it.
//
// Left out on purpose: the original's Redis (rd_call), Couchbase (cb_*) and
// game (gm_*) calls, which faed does not serve (out of scope, SPEC §1).
// Everything else the original served is here; kvdb_* and the peer-to-peer
// calls are faed's own additions and are not.
//
// Argument names are not on the wire. These are the original's (ctx);
// idl/fun.thrift names the context reqCtx because Thrift 0.17's Go
// generator takes ctx for its own context.Context. No Go is generated
// from this file.

namespace php fun.rpc
namespace py fun.rpc
namespace java fun.rpc

exception TCacheMissed {
  11: optional string message
}

exception TMongoNotFound {
  11: optional string message
}

exception TMongoDegrade {
  11: optional string message
}

exception TMongoReadOnly {
  11: optional string message
}

struct TMemcacheData {
  1: required binary data
  2: required i32 flags
}

struct MysqlResult {
  1: required i64 rowsAffected
  2: required i64 lastInsertId
  3: required list<string> cols
  4: required list<list<string>> rows
}

struct MysqlMergeResult {
  1: required bool ok
  2: required string newVal
}

struct Context {
  1: required i64 rid
  2: required string reason
  3: required i64 uid
  4: optional bool sticky
}

service FunServant {
  string ping(1: required Context ctx)
  i32 noop(1: required i32 x)

  i64 id_next(1: required Context ctx)
  i64 id_next_with_tag(1: required Context ctx, 2: i16 tag)
  list<i64> id_decode(1: required Context ctx, 2: i64 id)

  bool lc_set(1: required Context ctx, 2: required string key, 3: required binary value)
  binary lc_get(1: required Context ctx, 2: required string key) throws (1: TCacheMissed miss)
  void lc_del(1: required Context ctx, 2: required string key)

  bool lock(1: Context ctx, 2: string reason, 3: string key)
  void unlock(1: Context ctx, 2: string reason, 3: string key)

  bool zk_create(1: required Context ctx, 2: required string path, 3: required string data)
  list<string> zk_children(1: required Context ctx, 2: required string path)
  bool zk_del(1: required Context ctx, 2: required string path)

  bool mc_set(1: required Context ctx, 2: required string pool, 3: required string key,
              4: required TMemcacheData value, 5: required i32 expiration)
  TMemcacheData mc_get(1: required Context ctx, 2: required string pool, 3: required string key)
    throws (1: TCacheMissed miss)
  bool mc_add(1: required Context ctx, 2: required string pool, 3: required string key,
              4: required TMemcacheData value, 5: required i32 expiration)
  bool mc_delete(1: required Context ctx, 2: required string pool, 3: required string key)
  i64 mc_increment(1: required Context ctx, 2: required string pool, 3: required string key,
                   4: required i64 delta)

  binary mg_find_one(1: required Context ctx, 2: string pool, 3: string table, 4: i32 shardId,
                     5: binary query, 6: binary fields)
    throws (1: TMongoNotFound miss)
  list<binary> mg_find_all(1: required Context ctx, 2: string pool, 3: string table, 4: i32 shardId,
                           5: binary query, 6: binary fields, 7: i32 limit, 8: i32 skip,
                           9: list<string> orderBy)
  binary mg_find_id(1: required Context ctx, 2: string pool, 3: string table, 4: i32 shardId,
                    5: binary id)
  i32 mg_count(1: required Context ctx, 2: string pool, 3: string table, 4: i32 shardId,
               5: binary query)
  bool mg_update(1: required Context ctx, 2: string pool, 3: string table, 4: i32 shardId,
                 5: binary query, 6: binary change)
  bool mg_update_id(1: required Context ctx, 2: string pool, 3: string table, 4: i32 shardId,
                    5: i32 id, 6: binary change)
  bool mg_upsert(1: required Context ctx, 2: string pool, 3: string table, 4: i32 shardId,
                 5: binary query, 6: binary change)
  bool mg_upsert_id(1: required Context ctx, 2: string pool, 3: string table, 4: i32 shardId,
                    5: i32 id, 6: binary change)
  bool mg_insert(1: required Context ctx, 2: string pool, 3: string table, 4: i32 shardId,
                 5: binary doc)
  bool mg_inserts(1: required Context ctx, 2: string pool, 3: string table, 4: i32 shardId,
                  5: list<binary> docs)
  bool mg_delete(1: required Context ctx, 2: string pool, 3: string table, 4: i32 shardId,
                 5: binary query)
  binary mg_find_and_modify(1: required Context ctx, 2: string pool, 3: string table,
                            4: i32 shardId, 5: binary query, 6: binary change, 7: bool upsert,
                            8: bool remove, 9: bool returnNew)

  MysqlResult my_query(1: required Context ctx, 2: string pool, 3: string table, 4: i64 hintId,
                       5: string sql, 6: list<string> argv, 7: string cacheKey)
  MysqlResult my_query_shards(1: required Context ctx, 2: string pool, 3: string table,
                              4: string sql, 5: list<string> argv)
  i64 my_bulk_exec(1: required Context ctx, 2: list<string> pool, 3: list<string> table,
                   4: list<i64> hintId, 5: list<string> sql, 6: list<list<string>> argv,
                   7: list<string> cacheKey)
  MysqlMergeResult my_merge(1: required Context ctx, 2: string pool, 3: string table,
                            4: i64 hintId, 5: string where, 6: string key, 7: string column,
                            8: string jsonValue)
  void my_evict(1: required Context ctx, 2: string cacheKey)
}
