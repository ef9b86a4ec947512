package mongodb

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/faed/faed/pool"
)

// Shard strategies: how a call's shardId picks the database of a pool.
const (
	// StrategyLegacy ignores shardId: every call goes to one database, named
	// by the pool's database key, or after the pool itself.
	StrategyLegacy = "legacy"
	// StrategyStandard sends shardId to database
	// <database><shardId/shard_base_num+1>, e.g. db1 for shards 0..99999.
	StrategyStandard = "standard"
)

// Defaults of a PoolConfig (see DefaultPoolConfig).
const (
	DefaultShardBaseNum    = 100000
	DefaultDatabasePrefix  = "db"
	DefaultMaxPoolSize     = 100
	DefaultMaxConnIdleTime = 5 * time.Minute
	DefaultConnectTimeout  = 2 * time.Second
	DefaultIOTimeout       = 5 * time.Second
)

// Config holds the [servant.mongodb] section of faed's TOML file, e.g.
//
//	[servant.mongodb.breaker]
//	failure_threshold = 5
//	retry_interval = "10s"
//
//	[servant.mongodb.pools.game]          # legacy: database "game"
//	uri = "mongodb://faed:secret@10.0.0.5:27017,10.0.0.6:27017/?replicaSet=rs0"
//	io_timeout = "3s"
//
//	[servant.mongodb.pools.user]          # shardId 0..99999 → db1, then db2…
//	servers = ["10.0.0.7:27017"]
//	user = "faed"
//	password = "secret"
//	shard_strategy = "standard"
//	max_pool_size = 50
type Config struct {
	// Pools maps a pool name, as clients pass it in mg_* calls, to its
	// servers. Empty means the servant is not configured. Default empty.
	Pools map[string]PoolConfig `toml:"pools"`

	// Breaker configures the circuit breaker of every pool (one per pool,
	// named by its server list). Default pool.DefaultBreakerConfig().
	Breaker pool.BreakerConfig `toml:"breaker"`
}

// PoolConfig describes one named pool: one MongoDB deployment, reached
// through one driver client that pools its own connections. Its section is
// decoded over DefaultPoolConfig (see UnmarshalTOML), so an absent key takes
// its default; an explicit 0 means what its comment says, never the default.
type PoolConfig struct {
	// URI is a mongodb:// connection string (credentials and driver
	// options included). Exactly one of URI and Servers must be set. A
	// database in its path only serves as the default auth source; the
	// shard strategy picks the database of each call. A mongodb+srv URI
	// is resolved (DNS) when New builds the client.
	URI pool.Secret `toml:"uri"`
	// Servers lists "host:port" seeds, the alternative to URI.
	Servers []string `toml:"servers"`
	// User and Password authenticate against the admin database when
	// Servers is used. Default none.
	User     string      `toml:"user"`
	Password pool.Secret `toml:"password"`

	// ShardStrategy is "legacy" or "standard" (see the Strategy
	// constants). If empty, "legacy".
	ShardStrategy string `toml:"shard_strategy"`
	// ShardBaseNum is how many shard ids share one database under the
	// standard strategy. Default 100000; 0 is refused (shard ids are
	// divided by it).
	ShardBaseNum int32 `toml:"shard_base_num"`
	// Database is the database under legacy (if empty, the pool name) and
	// the name prefix under standard (if empty, "db").
	Database string `toml:"database"`

	// MaxPoolSize bounds the driver's connections per server. Default 100;
	// 0: no limit.
	MaxPoolSize int `toml:"max_pool_size"`
	// MinPoolSize is how many connections per server the driver keeps
	// open, dialling them in the background. Default 0: none.
	MinPoolSize int `toml:"min_pool_size"`
	// MaxConnIdleTime closes a connection idle that long. Default 5m; 0:
	// never for being idle.
	MaxConnIdleTime time.Duration `toml:"max_conn_idle_time"`
	// ConnectTimeout bounds each dial and handshake, at least 1ms. Default
	// 2s; 0 is refused (the driver would put its own 30s in its place).
	ConnectTimeout time.Duration `toml:"connect_timeout"`
	// IOTimeout bounds each call, from entry to answer, server selection
	// and the wait for a connection included; at least 1ms. Default 5s; 0:
	// off, only the call's deadline bounds it.
	IOTimeout time.Duration `toml:"io_timeout"`

	// ReadOnly refuses writes with ErrReadOnly; reads go on. Default false;
	// switchable at run time with Client.SetReadOnly.
	ReadOnly bool `toml:"read_only"`
	// Degraded refuses every call with ErrDegraded. Default false;
	// switchable at run time with Client.SetDegraded.
	Degraded bool `toml:"degraded"`
}

// DefaultConfig returns the documented defaults: no pools, default breaker.
func DefaultConfig() Config {
	return Config{Breaker: pool.DefaultBreakerConfig()}
}

// Configured reports whether any pool is configured.
func (c Config) Configured() bool { return len(c.Pools) > 0 }

// Validate returns the first error it finds, naming the bad key, e.g.
// `pools.users.shard_strategy: must be "legacy" or "standard", got "x"`.
// It never echoes a URI or password.
func (c Config) Validate() error {
	if err := c.Breaker.Validate(); err != nil {
		return fmt.Errorf("breaker: %w", err)
	}
	// Sorted, so the error reported first is the same on every run.
	for _, name := range slices.Sorted(maps.Keys(c.Pools)) {
		if name == "" {
			return errors.New("pools: a pool name must not be empty")
		}
		if err := c.Pools[name].validate(name); err != nil {
			return fmt.Errorf("pools.%s.%w", name, err)
		}
	}
	return nil
}

// validate checks one pool; its errors start with the bad key.
func (p PoolConfig) validate(name string) error {
	if err := p.validateServers(); err != nil {
		return err
	}
	if err := p.validateSizes(); err != nil {
		return err
	}
	if err := p.validateShards(name); err != nil {
		return err
	}
	return p.validateDriver()
}

func (p PoolConfig) validateServers() error {
	switch {
	case p.URI == "" && len(p.Servers) == 0:
		return errors.New("uri: one of uri and servers must be set")
	case p.URI != "" && len(p.Servers) > 0:
		return errors.New("servers: set uri or servers, not both")
	case p.URI != "" && (p.User != "" || p.Password != ""):
		return errors.New("user: put credentials in the uri when uri is set")
	case p.Password != "" && p.User == "":
		return errors.New("user: must be set when password is")
	}
	for i, s := range p.Servers {
		if s == "" || strings.ContainsAny(s, " \t\r\n,/") {
			return fmt.Errorf("servers[%d]: must be one host:port, got %q", i, s)
		}
	}
	return nil
}

func (p PoolConfig) validateSizes() error {
	switch {
	case p.MaxPoolSize < 0:
		return fmt.Errorf("max_pool_size: must not be negative, got %d", p.MaxPoolSize)
	case p.MinPoolSize < 0 || p.MaxPoolSize > 0 && p.MinPoolSize > p.MaxPoolSize:
		return fmt.Errorf("min_pool_size: must be 0..max_pool_size (%d), got %d", p.MaxPoolSize, p.MinPoolSize)
	case p.MaxConnIdleTime < 0:
		return fmt.Errorf("max_conn_idle_time: must not be negative, got %s", p.MaxConnIdleTime)
	case p.ConnectTimeout == 0:
		return errors.New("connect_timeout: 0 is not allowed: the driver would put its own 30s in its place")
	case p.ConnectTimeout < time.Millisecond:
		return fmt.Errorf("connect_timeout: must be at least 1ms, got %s", p.ConnectTimeout)
	case p.IOTimeout != 0 && p.IOTimeout < time.Millisecond:
		return fmt.Errorf("io_timeout: must be at least 1ms, got %s", p.IOTimeout)
	}
	return nil
}

func (p PoolConfig) validateShards(name string) error {
	d := p.withDefaults(name)
	switch {
	case d.ShardStrategy != StrategyLegacy && d.ShardStrategy != StrategyStandard:
		return fmt.Errorf("shard_strategy: must be %q or %q, got %q", StrategyLegacy, StrategyStandard, p.ShardStrategy)
	case p.ShardBaseNum < 1:
		return fmt.Errorf("shard_base_num: must be at least 1, got %d: shard ids are divided by it", p.ShardBaseNum)
	}
	if err := checkDatabase(d.Database); err != nil {
		return fmt.Errorf("database: %w (the pool name is the default)", err)
	}
	return nil
}

// validateDriver lets the driver check the options it will get. Its message
// is not shown: a URI parse error may quote the URI, password included.
func (p PoolConfig) validateDriver() error {
	if err := p.withDefaults("").clientOptions(nil).Validate(); err != nil {
		if p.URI != "" {
			return errors.New("uri: not a valid MongoDB connection string")
		}
		return errors.New("servers: the driver refuses these options")
	}
	return nil
}

// checkDatabase applies MongoDB's rules for database names (a standard
// prefix gets digits appended, which keeps it valid).
func checkDatabase(db string) error {
	switch {
	case db == "":
		return errors.New("must not be empty")
	case len(db) > 60:
		return fmt.Errorf("must be at most 60 bytes, got %d", len(db))
	case strings.ContainsAny(db, "/\\. \"$*<>:|?\x00"):
		return fmt.Errorf("must not contain any of /\\. \"$*<>:|? or NUL, got %q", db)
	}
	return nil
}

// DefaultPoolConfig returns a pool's documented defaults, which its
// section is decoded over; the servers have none.
func DefaultPoolConfig() PoolConfig {
	return PoolConfig{ShardBaseNum: DefaultShardBaseNum, MaxPoolSize: DefaultMaxPoolSize,
		MaxConnIdleTime: DefaultMaxConnIdleTime, ConnectTimeout: DefaultConnectTimeout, IOTimeout: DefaultIOTimeout}
}

// UnmarshalTOML decodes a pool's section over DefaultPoolConfig.
func (p *PoolConfig) UnmarshalTOML(data any) error {
	type plain PoolConfig // without this method
	d := plain(DefaultPoolConfig())
	if err := pool.DecodeTable(data, &d); err != nil {
		return err
	}
	*p = PoolConfig(d)
	return nil
}

// withDefaults returns p with its empty strategy and database set; name is
// the pool's name, the legacy database when Database is empty. Numbers take
// theirs from DefaultPoolConfig, never from zero.
func (p PoolConfig) withDefaults(name string) PoolConfig {
	if p.ShardStrategy == "" {
		p.ShardStrategy = StrategyLegacy
	}
	if p.Database == "" && p.ShardStrategy == StrategyStandard {
		p.Database = DefaultDatabasePrefix
	} else if p.Database == "" {
		p.Database = name
	}
	return p
}

// clientOptions builds the driver's options from a PoolConfig whose
// defaults are applied. The driver pools connections itself; these options
// size and time that pool. Server selection gets io_timeout, so a call to a
// dead server fails within io_timeout instead of the driver's 30s.
func (p PoolConfig) clientOptions(mon *event.PoolMonitor) *options.ClientOptions {
	o := options.Client()
	if p.URI != "" {
		o.ApplyURI(string(p.URI))
	} else {
		o.SetHosts(p.Servers)
	}
	if p.User != "" {
		o.SetAuth(options.Credential{Username: p.User, Password: string(p.Password)})
	}
	o.SetMaxPoolSize(uint64(p.MaxPoolSize)).SetMinPoolSize(uint64(p.MinPoolSize))
	o.SetMaxConnIdleTime(p.MaxConnIdleTime).SetConnectTimeout(p.ConnectTimeout)
	if p.IOTimeout > 0 { // else the call's deadline bounds server selection
		o.SetServerSelectionTimeout(p.IOTimeout)
	}
	if mon != nil {
		o.SetPoolMonitor(mon)
	}
	return o
}
