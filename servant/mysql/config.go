package mysql

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faed/faed/pool"
)

// Config holds the [servant.mysql] section of faed's TOML file.
type Config struct {
	// Pools maps a pool name to one database on one server. Empty means the
	// servant is not configured and every call fails with ErrUnknownPool.
	// Default empty.
	Pools map[string]PoolConfig `toml:"pools"`

	// Lookup configures sharding by lookup table.
	Lookup LookupConfig `toml:"lookup"`

	// VBucket configures sharding by vbucket map.
	VBucket VBucketShardConfig `toml:"vbucket"`

	// QueryCache bounds the cache filled by reads that carry a cacheKey.
	QueryCache CacheConfig `toml:"query_cache"`

	// Breaker configures the circuit breaker of each server; pools on the
	// same address share one. Default pool.DefaultBreakerConfig().
	Breaker pool.BreakerConfig `toml:"breaker"`
}

// PoolConfig is one pool: a database on a server. Its section is decoded
// over DefaultPoolConfig (see UnmarshalTOML), so an absent key takes its
// default; an explicit 0 means what its comment says, never the default.
type PoolConfig struct {
	// Addr is the server as "host:port". Give Addr, or Host and Port.
	Addr string `toml:"addr"`
	// Host is the server's host name or IP, when Addr is not given.
	Host string `toml:"host"`
	// Port is the server's TCP port, with Host (unused with Addr). Default
	// 3306; 0 is refused with Host (no server listens there).
	Port int `toml:"port"`
	// User is the MySQL user. Required.
	User string `toml:"user"`
	// Password is User's password; it is masked when the config is shown.
	Password pool.Secret `toml:"password"`
	// Database is the database every connection uses. Required.
	Database string `toml:"database"`

	// MaxOpen bounds the connections open to the server from this pool; a
	// call waits for one (bounded by its ctx). Default 32; 0: no limit.
	MaxOpen int `toml:"max_open"`
	// MaxIdle is how many idle connections are kept, at most MaxOpen.
	// Default 8, or MaxOpen if that is set and smaller; 0 keeps none.
	MaxIdle int `toml:"max_idle"`
	// ConnMaxIdleTime closes a connection idle this long. Default 5m; 0:
	// never for being idle.
	ConnMaxIdleTime time.Duration `toml:"conn_max_idle_time"`
	// ConnMaxLifetime closes a connection this old once it is idle.
	// Default 1h; 0: never for its age.
	ConnMaxLifetime time.Duration `toml:"conn_max_lifetime"`
	// DialTimeout bounds connecting, handshake included. Default 1s; 0: no
	// bound but the call's deadline and the OS's.
	DialTimeout time.Duration `toml:"dial_timeout"`
	// ReadTimeout bounds each read from the server, so also the longest a
	// query may run before it fails as broken. Default 30s; 0: no read
	// timeout (the call's deadline still ends the call).
	ReadTimeout time.Duration `toml:"read_timeout"`
	// WriteTimeout bounds each write to the server. Default 30s; 0: no
	// write timeout.
	WriteTimeout time.Duration `toml:"write_timeout"`
	// PingInterval is how often Run pings the pool, through its breaker, so
	// that a server that went away is noticed and one that came back closes
	// the breaker without waiting for traffic. Default 30s; 0: no pings.
	PingInterval time.Duration `toml:"ping_interval"`

	// The session every connection of the pool gets when it is opened. No
	// statement may change it afterwards (see ErrSessionStatement), so every
	// call sees the same one. autocommit is always on: each statement
	// commits on its own (my_merge runs its own transaction).

	// Charset is the connection charset (SET NAMES). If empty, utf8mb4.
	Charset string `toml:"charset"`
	// Collation is the connection collation, of Charset. If empty, the
	// server's default collation of Charset.
	Collation string `toml:"collation"`
	// SQLMode is the session sql_mode, comma-separated. If empty,
	// STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION
	// (valid on MySQL 5.7 and 8 and on MariaDB). NO_BACKSLASH_ESCAPES and
	// ANSI_QUOTES (also in ANSI, DB2, MAXDB, MSSQL, ORACLE, POSTGRESQL) are
	// refused: the session check reads quotes the default way.
	SQLMode string `toml:"sql_mode"`
	// TimeZone is the session time_zone, e.g. "+00:00" or "SYSTEM" (named
	// zones need the server's time zone tables). If empty, the server's
	// global time_zone.
	TimeZone string `toml:"time_zone"`
	// StmtCacheSize bounds the prepared statements kept per pool, by SQL
	// text, least recently used out first. A statement is prepared on each
	// connection it runs on, so the server holds up to StmtCacheSize ×
	// MaxOpen of them for this pool (MariaDB's and MySQL's
	// max_prepared_stmt_count, 16382 by default, bounds all clients
	// together). Default 128; 0: no cache, each statement with arguments is
	// prepared for its call and closed after it.
	StmtCacheSize int `toml:"stmt_cache_size"`
}

// Session defaults (see PoolConfig).
const (
	defaultCharset = "utf8mb4"
	defaultSQLMode = "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
)

// LookupConfig configures sharding by lookup table.
type LookupConfig struct {
	// Pool is the pool holding the lookup table. Required when Sharded is
	// not empty. Default "".
	Pool string `toml:"pool"`
	// Table is the lookup table, with columns entityId, shardId and
	// shardLock. A plain identifier, or "db.table". Default "UserLookup".
	Table string `toml:"table"`
	// Sharded lists the logical pools routed through the lookup table: a
	// call to "user" goes to the pool "user<shardId>". Each needs at least
	// one such pool and must not itself be a pool. Default empty.
	Sharded []string `toml:"sharded"`
	// CacheSize bounds the lookup rows cached. Default 100000; 0: no cache.
	CacheSize int `toml:"cache_size"`
	// CacheTTL is how long a cached lookup row is trusted, counted from when
	// its read began: the bound on how long any node may route by a row
	// changed directly in the database (a migration tool). A write to the
	// lookup table through any faed node of a cluster is seen by every node
	// within milliseconds instead (a notice through ZooKeeper), so a cluster
	// whose lookup rows only ever change through faed may raise it. Rows
	// with shardLock set are never cached. Default 1s; at least 1ms: 0 is
	// refused (a cached row must expire; cache_size = 0 turns the cache
	// off).
	CacheTTL time.Duration `toml:"cache_ttl"`
}

// VBucketShardConfig configures sharding by vbucket map (SPEC §5.3): a
// call's hintId picks a vbucket, the cluster's shard map a shard.
type VBucketShardConfig struct {
	// Sharded lists the logical pools routed by vbucket: a call to "user"
	// goes to the pool "user<shard>" of hintId's vbucket. Each needs the
	// pools "user0" to "user<shards-1>", must not be a pool, nor be
	// sharded by lookup too. Default empty.
	Sharded []string `toml:"sharded"`
	// Shards is how many shard pools each sharded name has; a new shard map
	// puts vbucket v on shard v % shards. Required with Sharded (0 is then
	// refused: a vbucket needs a shard); unused without it. Default 0.
	Shards int `toml:"shards"`
}

func (v VBucketShardConfig) validate(ps *problems, prefix string, pools map[string]PoolConfig, byLookup []string) {
	if len(v.Sharded) == 0 {
		if v.Shards < 0 {
			ps.add(prefix+"shards", "must not be negative, got %d", v.Shards)
		}
		return
	}
	if v.Shards < 1 {
		ps.add(prefix+"shards", "must be at least 1 with sharded pools, got %d", v.Shards)
	}
	for i, name := range v.Sharded {
		key := fmt.Sprintf("%ssharded[%d]", prefix, i)
		_, isPool := pools[name]
		switch {
		case name == "" || isPool:
			ps.add(key, "%q must be a name that is not a pool", name)
		case slices.Contains(byLookup, name):
			ps.add(key, "%q is sharded by lookup.sharded too", name)
		}
		for s := range max(v.Shards, 0) {
			if _, ok := pools[name+strconv.Itoa(s)]; !ok {
				ps.add(key, "%q needs the pool %q (shards = %d)", name, name+strconv.Itoa(s), v.Shards)
			}
		}
	}
}

// CacheConfig bounds the query cache.
type CacheConfig struct {
	// MaxItems bounds the entries. Default 10000; 0: no query cache.
	MaxItems int `toml:"max_items"`
	// MaxBytes bounds the bytes held, estimated as the lengths of every
	// column name and value plus their headers. A result larger than an
	// eighth of it is not cached. At least 1024 while MaxItems is not 0.
	// Default 64 MiB; 0 is refused then (nothing would fit).
	MaxBytes int64 `toml:"max_bytes"`
	// TTL drops an entry this old, however often it is read: the bound on
	// how long an entry can outlive a change no eviction reached (a row
	// written directly in the database, an owner that could not be reached,
	// calls routed by an older ring while the cluster changes). Default 60s;
	// 0 is refused while MaxItems is not 0: entries always expire
	// (max_items = 0 turns the cache off).
	TTL time.Duration `toml:"ttl"`
	// VBuckets is the cluster's vbucket count, which entries are indexed
	// by (crc32 IEEE of the cacheKey modulo VBuckets, as the vbucket map
	// places keys); set by the dispatcher, not the file. If zero, 1024.
	VBuckets int `toml:"-"`
}

// DefaultConfig returns the documented defaults (the TOML file is decoded
// on top of it).
func DefaultConfig() Config {
	return Config{
		Lookup:     LookupConfig{Table: "UserLookup", CacheSize: 100_000, CacheTTL: time.Second},
		QueryCache: CacheConfig{MaxItems: 10_000, MaxBytes: 64 << 20, TTL: defaultCacheTTL},
		Breaker:    pool.DefaultBreakerConfig(),
	}
}

// Configured reports whether any pool is configured.
func (c Config) Configured() bool { return len(c.Pools) > 0 }

// Validate returns every error it finds, one per line, each naming its
// key, e.g. `pools.user1.max_open: must not be negative, got -1`.
func (c Config) Validate() error {
	var ps problems
	for _, name := range sortedKeys(c.Pools) {
		c.Pools[name].validate(&ps, "pools."+name+".")
	}
	c.Lookup.validate(&ps, "lookup.", c.Pools)
	c.VBucket.validate(&ps, "vbucket.", c.Pools, c.Lookup.Sharded)
	c.QueryCache.validate(&ps, "query_cache.")
	// The breaker's errors name their key already: "pool: failure_threshold = -1: …".
	ps.addAll("breaker: ", c.Breaker.Validate())
	return errors.Join(ps...)
}

// problems collects configuration errors, each starting with its full key.
type problems []error

func (ps *problems) add(key, format string, args ...any) {
	*ps = append(*ps, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
}

// addAll adds err, or each error it joins, with prefix before its key.
func (ps *problems) addAll(prefix string, err error) {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			ps.addAll(prefix, e)
		}
	} else if err != nil {
		*ps = append(*ps, fmt.Errorf("%s%w", prefix, err))
	}
}

func (p PoolConfig) validate(ps *problems, prefix string) {
	switch {
	case p.Addr != "" && p.Host != "":
		ps.add(prefix+"addr", "give addr or host, not both")
	case p.Addr == "" && p.Host == "":
		ps.add(prefix+"addr", "addr or host is required")
	case p.Addr != "":
		if _, _, err := net.SplitHostPort(p.Addr); err != nil {
			ps.add(prefix+"addr", "must be host:port, got %q", p.Addr)
		}
	}
	switch {
	case p.Port < 0 || p.Port > 65535:
		ps.add(prefix+"port", "must be 1..65535, got %d", p.Port)
	case p.Port == 0 && p.Host != "":
		ps.add(prefix+"port", "0 is not allowed with host: no server listens on port 0")
	}
	if p.User == "" {
		ps.add(prefix+"user", "is required")
	}
	if p.Database == "" {
		ps.add(prefix+"database", "is required")
	}
	p.validateLimits(ps, prefix)
	p.validateSession(ps, prefix)
}

// validateSession checks the session keys, which go into SET statements
// as they are: each is a word, or a list of them, and nothing else.
func (p PoolConfig) validateSession(ps *problems, prefix string) {
	word := func(key, v, extra string) {
		if strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"+extra) != "" {
			ps.add(prefix+key, "must be letters, digits, _ or %q only, got %q", extra, v)
		}
	}
	word("charset", p.Charset, "")
	word("collation", p.Collation, "")
	word("sql_mode", p.SQLMode, ",")
	word("time_zone", p.TimeZone, "+-:/")
	for _, mode := range strings.Split(strings.ToUpper(p.SQLMode), ",") {
		switch mode {
		case "NO_BACKSLASH_ESCAPES", "ANSI_QUOTES", "ANSI", "DB2", "MAXDB", "MSSQL", "ORACLE", "POSTGRESQL":
			ps.add(prefix+"sql_mode", "%s is not supported: the session check reads quotes and "+
				"backslashes the default way", mode)
		}
	}
	if p.StmtCacheSize < 0 {
		ps.add(prefix+"stmt_cache_size", "must not be negative, got %d", p.StmtCacheSize)
	}
}

func (p PoolConfig) validateLimits(ps *problems, prefix string) {
	if p.MaxOpen < 0 {
		ps.add(prefix+"max_open", "must not be negative, got %d", p.MaxOpen)
	}
	if p.MaxIdle < 0 {
		ps.add(prefix+"max_idle", "must not be negative, got %d", p.MaxIdle)
	}
	if p.MaxOpen > 0 && p.MaxIdle > p.MaxOpen {
		ps.add(prefix+"max_idle", "must not exceed max_open (%d), got %d", p.MaxOpen, p.MaxIdle)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"conn_max_idle_time", p.ConnMaxIdleTime}, {"conn_max_lifetime", p.ConnMaxLifetime},
		{"dial_timeout", p.DialTimeout}, {"read_timeout", p.ReadTimeout},
		{"write_timeout", p.WriteTimeout}, {"ping_interval", p.PingInterval}} {
		if d.v < 0 {
			ps.add(prefix+d.key, "must not be negative, got %s", d.v)
		}
	}
}

// DefaultPoolConfig returns a pool's documented defaults, which its
// section is decoded over; the server, user and database have none.
func DefaultPoolConfig() PoolConfig {
	return PoolConfig{Port: 3306, MaxOpen: 32, MaxIdle: 8, ConnMaxIdleTime: 5 * time.Minute,
		ConnMaxLifetime: time.Hour, DialTimeout: time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, PingInterval: 30 * time.Second, StmtCacheSize: 128}
}

// UnmarshalTOML decodes a pool's section over DefaultPoolConfig. Without
// max_idle, a max_open below the default max_idle lowers it.
func (p *PoolConfig) UnmarshalTOML(data any) error {
	type plain PoolConfig // without this method
	d := plain(DefaultPoolConfig())
	if err := pool.DecodeTable(data, &d); err != nil {
		return err
	}
	if _, set := data.(map[string]any)["max_idle"]; !set && d.MaxOpen > 0 {
		d.MaxIdle = min(d.MaxIdle, d.MaxOpen)
	}
	*p = PoolConfig(d)
	return nil
}

// withDefaults returns p with its empty session strings set to their
// defaults. Numbers take theirs from DefaultPoolConfig, never from zero.
func (p PoolConfig) withDefaults() PoolConfig {
	if p.Charset == "" {
		p.Charset = defaultCharset
	}
	if p.SQLMode == "" {
		p.SQLMode = defaultSQLMode
	}
	return p
}

// address returns the server as host:port.
func (p PoolConfig) address() string {
	if p.Addr != "" {
		return p.Addr
	}
	return net.JoinHostPort(p.Host, strconv.Itoa(p.Port))
}

func (l LookupConfig) validate(ps *problems, prefix string, pools map[string]PoolConfig) {
	if err := checkTable(l.Table); err != nil {
		ps.add(prefix+"table", "%v", err)
	}
	if l.CacheSize < 0 {
		ps.add(prefix+"cache_size", "must not be negative, got %d", l.CacheSize)
	}
	if l.CacheTTL < time.Millisecond {
		ps.add(prefix+"cache_ttl", "must be at least 1ms, got %s: a cached row must expire "+
			"(cache_size = 0 turns the cache off)", l.CacheTTL)
	}
	if _, ok := pools[l.Pool]; len(l.Sharded) > 0 && !ok {
		ps.add(prefix+"pool", "%q is not a configured pool", l.Pool)
	}
	owner := map[string]string{} // shard pool → the sharded name it belongs to
	for i, name := range l.Sharded {
		checkSharded(ps, fmt.Sprintf("%ssharded[%d]", prefix, i), name, pools, owner)
	}
}

// checkSharded checks that a sharded name has shards, is not a pool itself,
// and shares no shard with another sharded name (recorded in owner).
func checkSharded(ps *problems, key, name string, pools map[string]PoolConfig, owner map[string]string) {
	_, isPool := pools[name]
	shards := shardPools(name, pools)
	switch {
	case name == "":
		ps.add(key, "must not be empty")
	case isPool:
		ps.add(key, "%q is a pool; a sharded name must not be", name)
	case len(shards) == 0:
		ps.add(key, "%q has no shard pools (%s1, %s2, …)", name, name, name)
	}
	for _, s := range shards {
		if prev, dup := owner[s.name]; dup {
			ps.add(key, "pool %q is a shard of both %q and %q", s.name, prev, name)
		}
		owner[s.name] = name
	}
}

func (c CacheConfig) validate(ps *problems, prefix string) {
	if c.MaxItems < 0 {
		ps.add(prefix+"max_items", "must not be negative, got %d", c.MaxItems)
	}
	if c.MaxItems > 0 && c.MaxBytes < 1024 {
		ps.add(prefix+"max_bytes", "must be at least 1024 when max_items > 0, got %d", c.MaxBytes)
	}
	if c.TTL < 0 || c.TTL == 0 && c.MaxItems > 0 {
		ps.add(prefix+"ttl", "must be positive when max_items > 0, got %s: entries must expire "+
			"(max_items = 0 turns the cache off)", c.TTL)
	}
}

// shard is one physical pool of a sharded logical pool.
type shard struct {
	id   int
	name string
}

// shardPools returns the pools named name<N> (N a decimal number written
// without leading zeros, as strconv.Itoa writes it), by N.
func shardPools(name string, pools map[string]PoolConfig) []shard {
	var out []shard
	for p := range pools {
		if len(p) <= len(name) || p[:len(name)] != name {
			continue
		}
		id, err := strconv.Atoi(p[len(name):])
		if err == nil && strconv.Itoa(id) == p[len(name):] {
			out = append(out, shard{id, p})
		}
	}
	slices.SortFunc(out, func(a, b shard) int { return a.id - b.id })
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
