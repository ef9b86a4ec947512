// FunServant: the one service faed exposes. Method names, argument ids,
// types and required markers match the original fae/faed so PHP code written
// for it keeps working. New methods and new optional arguments are fine;
// renumbering never is.
//
// The request context argument is named reqCtx rather than ctx: Thrift 0.17's
// Go generator names its own context.Context parameter ctx.

namespace go fun.rpc
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

// TNotOwner (faed addition, between faed nodes): a node asked to serve a key
// of a vbucket it does not hold as active answers with its map version and
// the owner it knows; the forwarding faed refreshes its map and retries, so
// the original caller never sees it.
exception TNotOwner {
  1: optional i64 mapVersion
  2: optional string owner
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

// The hand-off of a vbucket between faed nodes (faed addition, SPEC §5.3;
// only the coordinator calls vb_*). One item of a vbucket's state:
//   kvdb:       key, value; no value: the key was deleted (a tail change)
//   locks:      key, ttlMs = what is left of the holder's lease
//   lcache:     key, value
//   queryCache: key, value = the MysqlResult in Thrift binary, ttlMs left
struct VBucketItem {
  1: binary key
  2: optional binary value
  3: optional i64 ttlMs
}

// A batch of one vbucket's state, as vb_pull returns and vb_push applies it.
struct VBucketBatch {
  1: i32 vbucket
  2: list<VBucketItem> kvdb
  3: list<VBucketItem> locks
  4: list<VBucketItem> lcache
  5: list<VBucketItem> queryCache
  6: binary cursor
  7: bool more
}

// Context travels with every call but noop.
//   rid:    per web request id chosen by the client
//   reason: what the caller is doing, e.g. "controller.action"
//   uid:    end user id
//   sticky: set only by a forwarding faed: execute here, never forward;
//           it never overrides ownership
//   budgetMs: the caller's remaining time budget in ms (faed addition); the
//           call runs under the lower of it and the configured deadline, and
//           a forwarding faed passes on what is left
//   mapVersion: set by a forwarding faed: the version of the cluster map it
//           routed by; a node with an older map refreshes before deciding
// faed reads a message the way the original did: a field marked required
// but missing is served as its zero value (and counted), so PHP code that
// builds Context without uid keeps working.
struct Context {
  1: required i64 rid
  2: required string reason
  3: required i64 uid
  4: optional bool sticky
  5: optional i32 budgetMs
  6: optional i64 mapVersion
  // trace (faed addition): log a trace line of this call on every faed
  // node it passes (the original's notes wanted clients to control
  // sampling); without it, [engine] trace_sample decides.
  7: optional bool trace
  // peerToken (faed addition): the cluster's secret, which every faed node
  // reads from ZooKeeper and sends with its vb_* calls; a vb_* call without
  // it (from a client) is refused.
  8: optional binary peerToken
}

service FunServant {
  // Version, build, node id and uptime.
  string ping(1: required Context reqCtx)

  // Returns x. No context: for throughput tests.
  i32 noop(1: required i32 x)

  // Snowflake ids: 41 bits ms since 2014-01-04 11:29:34.657 UTC | 5 bits tag |
  // 5 bits worker id | 12 bits sequence.
  i64 id_next(1: required Context reqCtx)
  i64 id_next_with_tag(1: required Context reqCtx, 2: i16 tag)
  // [unix ms, tag, worker id, sequence]
  list<i64> id_decode(1: required Context reqCtx, 2: i64 id)

  // LRU cache.
  bool lc_set(1: required Context reqCtx, 2: required string key, 3: required binary value)
    throws (1: TNotOwner notOwner)
  binary lc_get(1: required Context reqCtx, 2: required string key)
    throws (1: TCacheMissed miss, 2: TNotOwner notOwner)
  void lc_del(1: required Context reqCtx, 2: required string key)
    throws (1: TNotOwner notOwner)

  // Cluster-wide try-lock; true if the key was free or its holder expired.
  bool lock(1: Context reqCtx, 2: string reason, 3: string key)
    throws (1: TNotOwner notOwner)
  void unlock(1: Context reqCtx, 2: string reason, 3: string key)
    throws (1: TNotOwner notOwner)

  // ZooKeeper, confined to the configured root.
  bool zk_create(1: required Context reqCtx, 2: required string path, 3: required string data)
  list<string> zk_children(1: required Context reqCtx, 2: required string path)
  bool zk_del(1: required Context reqCtx, 2: required string path)

  // memcached pools.
  bool mc_set(1: required Context reqCtx, 2: required string pool, 3: required string key,
              4: required TMemcacheData value, 5: required i32 expiration)
  TMemcacheData mc_get(1: required Context reqCtx, 2: required string pool, 3: required string key)
    throws (1: TCacheMissed miss)
  bool mc_add(1: required Context reqCtx, 2: required string pool, 3: required string key,
              4: required TMemcacheData value, 5: required i32 expiration)
  bool mc_delete(1: required Context reqCtx, 2: required string pool, 3: required string key)
  i64 mc_increment(1: required Context reqCtx, 2: required string pool, 3: required string key,
                   4: required i64 delta)

  // MongoDB pools; query, fields, change and documents are BSON bytes.
  // TMongoDegrade: the pool is degraded (breaker open or operator switch);
  // TMongoReadOnly: the pool is read-only and the call writes. Both are
  // faed additions to the throws clauses: new exception fields, no
  // renumbering.
  binary mg_find_one(1: required Context reqCtx, 2: string pool, 3: string table, 4: i32 shardId,
                     5: binary query, 6: binary fields)
    throws (1: TMongoNotFound nf, 2: TMongoDegrade degrade)
  list<binary> mg_find_all(1: required Context reqCtx, 2: string pool, 3: string table,
                           4: i32 shardId, 5: binary query, 6: binary fields, 7: i32 limit,
                           8: i32 skip, 9: list<string> orderBy)
    throws (1: TMongoDegrade degrade)
  binary mg_find_id(1: required Context reqCtx, 2: string pool, 3: string table, 4: i32 shardId,
                    5: binary id)
    throws (1: TMongoDegrade degrade)
  i32 mg_count(1: required Context reqCtx, 2: string pool, 3: string table, 4: i32 shardId,
               5: binary query)
    throws (1: TMongoDegrade degrade)
  bool mg_update(1: required Context reqCtx, 2: string pool, 3: string table, 4: i32 shardId,
                 5: binary query, 6: binary change)
    throws (1: TMongoDegrade degrade, 2: TMongoReadOnly readOnly)
  bool mg_update_id(1: required Context reqCtx, 2: string pool, 3: string table, 4: i32 shardId,
                    5: i32 id, 6: binary change)
    throws (1: TMongoDegrade degrade, 2: TMongoReadOnly readOnly)
  bool mg_upsert(1: required Context reqCtx, 2: string pool, 3: string table, 4: i32 shardId,
                 5: binary query, 6: binary change)
    throws (1: TMongoDegrade degrade, 2: TMongoReadOnly readOnly)
  bool mg_upsert_id(1: required Context reqCtx, 2: string pool, 3: string table, 4: i32 shardId,
                    5: i32 id, 6: binary change)
    throws (1: TMongoDegrade degrade, 2: TMongoReadOnly readOnly)
  bool mg_insert(1: required Context reqCtx, 2: string pool, 3: string table, 4: i32 shardId,
                 5: binary doc)
    throws (1: TMongoDegrade degrade, 2: TMongoReadOnly readOnly)
  bool mg_inserts(1: required Context reqCtx, 2: string pool, 3: string table, 4: i32 shardId,
                  5: list<binary> docs)
    throws (1: TMongoDegrade degrade, 2: TMongoReadOnly readOnly)
  bool mg_delete(1: required Context reqCtx, 2: string pool, 3: string table, 4: i32 shardId,
                 5: binary query)
    throws (1: TMongoDegrade degrade, 2: TMongoReadOnly readOnly)
  binary mg_find_and_modify(1: required Context reqCtx, 2: string pool, 3: string table,
                            4: i32 shardId, 5: binary query, 6: binary change, 7: bool upsert,
                            8: bool remove, 9: bool returnNew)
    throws (1: TMongoDegrade degrade, 2: TMongoReadOnly readOnly, 3: TMongoNotFound nf)

  // MySQL pools.
  MysqlResult my_query(1: required Context reqCtx, 2: string pool, 3: string table,
                       4: i64 hintId, 5: string sql, 6: list<string> argv, 7: string cacheKey)
    throws (1: TNotOwner notOwner)
  MysqlResult my_query_shards(1: required Context reqCtx, 2: string pool, 3: string table,
                              4: string sql, 5: list<string> argv)
  i64 my_bulk_exec(1: required Context reqCtx, 2: list<string> pool, 3: list<string> table,
                   4: list<i64> hintId, 5: list<string> sql, 6: list<list<string>> argv,
                   7: list<string> cacheKey)
  MysqlMergeResult my_merge(1: required Context reqCtx, 2: string pool, 3: string table,
                            4: i64 hintId, 5: string where, 6: string key, 7: string column,
                            8: string jsonValue)
  void my_evict(1: required Context reqCtx, 2: string cacheKey)
    throws (1: TNotOwner notOwner)

  // Embedded persistent key-value store (faed addition).
  bool kvdb_set(1: required Context reqCtx, 2: required binary key, 3: required binary value)
    throws (1: TNotOwner notOwner)
  binary kvdb_get(1: required Context reqCtx, 2: required binary key)
    throws (1: TCacheMissed miss, 2: TNotOwner notOwner)
  bool kvdb_del(1: required Context reqCtx, 2: required binary key)
    throws (1: TNotOwner notOwner)

  // The hand-off of a vbucket (faed addition, between faed nodes only).
  // vb_pull reads vbucket's state on its source. step 1: a snapshot page of
  // the kvdb keys after cursor (the first page starts recording changes),
  // `more` while pages remain; 2: the kvdb changes since the last pull;
  // 3: after the fence of planVersion is in force here (waited for), the
  // last changes, the held locks and the cache entries, and the recording
  // ends; 4: abort: the recording ends, nothing is returned.
  VBucketBatch vb_pull(1: required Context reqCtx, 2: i32 vbucket, 3: i32 step,
                       4: binary cursor, 5: i64 planVersion)
    throws (1: TNotOwner notOwner)
  // vb_push applies a batch on the move's destination, atomically per
  // batch; refused unless this node's plan (at least planVersion) moves the
  // vbucket here.
  bool vb_push(1: required Context reqCtx, 2: VBucketBatch batch, 3: i64 planVersion)
    throws (1: TNotOwner notOwner)
  // vb_drop drops this node's state of a vbucket its map (at least
  // mapVersion) neither gives it nor moves to it; the number of kvdb keys
  // dropped.
  i64 vb_drop(1: required Context reqCtx, 2: i32 vbucket, 3: i64 mapVersion)
    throws (1: TNotOwner notOwner)
  // vb_replicate applies on a replica what the vbucket's active owner
  // changed before it acknowledges the change (SPEC §5.4): kvdb items as in
  // a tail (no value: deleted), lock items with ttlMs the lease granted, or
  // no ttlMs: released. Refused unless this node's map (at least
  // mapVersion) lists it as a replica of the vbucket.
  bool vb_replicate(1: required Context reqCtx, 2: VBucketBatch batch, 3: i64 mapVersion)
    throws (1: TNotOwner notOwner)
}
