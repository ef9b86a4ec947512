// Package mysql serves the my_* calls against named MySQL pools, with
// lookup-table sharding and a query cache. It knows nothing of peers or the
// engine.
//
// # Pools and servers
//
// Each configured pool is one database/sql DB (go-sql-driver/mysql) on one
// server, with its own connection limits and driver timeouts; database/sql
// does the pooling. Pools on the same server address share one circuit
// breaker (pool.Breaker): connection-level errors count against it, errors
// the server answered with because of the caller (duplicate key, syntax,
// unknown column, …) never do. While it is open, calls fail fast with an
// error naming the server.
//
// # Sharding
//
// A pool name a caller gives is either global (a configured pool, used
// directly) or sharded (listed in lookup.sharded). For a sharded pool "user",
// the call's hintId is looked up with
//
//	SELECT shardId, shardLock FROM <lookup.table> WHERE entityId=?
//
// on the lookup pool and the call goes to pool "user<shardId>". Lookup rows
// are cached in an LRU. A cached row is dropped (the whole lookup cache is
// purged) when a write goes through Query to the lookup pool and names the
// lookup table, either as the table argument or in its SQL (a plain INSERT
// excepted: it only adds rows, and only rows found are cached); in a cluster
// the write is announced (Cluster.LookupChanged) and the other nodes purge
// theirs on the notice (PurgeLookup). A row changed any other way is picked
// up within lookup.cache_ttl (1s by default), counted from when the cached
// read began. Rows whose shardLock is set are never cached, so clearing the
// lock takes effect at once. While shardLock is set, writes for the entity
// fail with ErrShardLocked and reads still go through. A tool moving an
// entity waits cache_ttl after setting shardLock (the notice is not
// acknowledged by the other nodes, and writes already routed may still
// land) before it copies the entity's rows.
//
// # Reads and writes
//
// A statement is a read when its first keyword, after leading whitespace,
// comments and opening parentheses, is SELECT, SHOW, DESCRIBE, DESC or
// EXPLAIN, in any case; everything else is a write (see IsRead).
//
// # Query cache
//
// When a call carries a cacheKey, a read is answered from the query cache if
// the key is there and otherwise fills it; a write, and Evict, drop the key.
// A fill that raced with a write or Evict of the same key is discarded, so
// the cache never keeps a result older than the last write through it. The
// cache is bounded by entries and by bytes, and stores the Result itself, so
// a hit returns exactly what the database returned. Entries expire after
// query_cache.ttl (60s by default) whether read or not. In a cluster
// (NewInCluster) only the key's owner caches it: reads of keys owned
// elsewhere bypass the cache, and DropUnowned, run after each ring change,
// drops what moved away. BulkExec leaves its evictions to the caller, which
// sends each to the key's owner.
//
// # NULL
//
// SQL NULL is sent as the four-character string "NULL", as the original fae
// did: PHP code written for it compares column values with "NULL". The cost
// is that a NULL column and a column holding the text "NULL" look alike;
// callers who must tell them apart select IS NULL as a column of its own.
// Values are sent as the text MySQL returns them in. A statement with
// arguments runs as a server-side prepared statement (binary protocol), whose
// values the driver turns back into the same text, but for FLOAT columns,
// which come with float32's shortest digits rather than MySQL's six.
//
// # Sessions
//
// Connections are shared by every caller, so statements that would leave
// session state on one (SET, USE, transactions, locks, user variables,
// temporary tables, …) are refused with ErrSessionStatement, and each pool's
// charset, collation, sql_mode, time_zone and autocommit are set on every new
// connection (see PoolConfig and checkSession).
package mysql
