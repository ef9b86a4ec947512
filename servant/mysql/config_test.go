package mysql

import (
	"strings"
	"testing"
	"time"

	"github.com/faed/faed/pool"

	"github.com/BurntSushi/toml"
)

func validConfig() Config {
	cfg := DefaultConfig()
	pc := DefaultPoolConfig()
	pc.Addr, pc.User, pc.Database = "127.0.0.1:3306", "app", "db"
	cfg.Pools = map[string]PoolConfig{"app": pc, "lookup": pc, "user1": pc, "user2": pc}
	cfg.Lookup.Pool = "lookup"
	cfg.Lookup.Sharded = []string{"user"}
	return cfg
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string // substring of the error; "" means valid
	}{
		{"valid", func(*Config) {}, ""},
		{"default is valid", func(c *Config) { *c = DefaultConfig() }, ""},
		{"host and port", func(c *Config) {
			c.Pools["app"] = PoolConfig{Host: "db1", Port: 3307, User: "u", Database: "d"}
		}, ""},
		{"no address", func(c *Config) { c.Pools["app"] = PoolConfig{User: "u", Database: "d"} }, "pools.app.addr: addr or host is required"},
		{"addr and host", func(c *Config) {
			c.Pools["app"] = PoolConfig{Addr: "a:1", Host: "a", User: "u", Database: "d"}
		}, "pools.app.addr: give addr or host"},
		{"addr without port", func(c *Config) { setPool(c, "app", func(p *PoolConfig) { p.Addr = "db1" }) }, "pools.app.addr: must be host:port"},
		{"bad port", func(c *Config) {
			c.Pools["app"] = PoolConfig{Host: "a", Port: 70000, User: "u", Database: "d"}
		}, "pools.app.port"},
		{"no user", func(c *Config) { setPool(c, "app", func(p *PoolConfig) { p.User = "" }) }, "pools.app.user: is required"},
		{"no database", func(c *Config) { setPool(c, "app", func(p *PoolConfig) { p.Database = "" }) }, "pools.app.database: is required"},
		{"negative max_open", func(c *Config) { setPool(c, "app", func(p *PoolConfig) { p.MaxOpen = -1 }) }, "pools.app.max_open: must not be negative"},
		{"max_idle above max_open", func(c *Config) {
			setPool(c, "app", func(p *PoolConfig) { p.MaxOpen, p.MaxIdle = 2, 3 })
		}, "pools.app.max_idle: must not exceed max_open"},
		{"negative read_timeout", func(c *Config) {
			setPool(c, "app", func(p *PoolConfig) { p.ReadTimeout = -time.Second })
		}, "pools.app.read_timeout"},
		{"negative ping_interval", func(c *Config) {
			setPool(c, "app", func(p *PoolConfig) { p.PingInterval = -1 })
		}, "pools.app.ping_interval"},
		{"lookup pool missing", func(c *Config) { c.Lookup.Pool = "nope" }, `lookup.pool: "nope" is not a configured pool`},
		{"lookup table injection", func(c *Config) { c.Lookup.Table = "t; DROP" }, "lookup.table"},
		{"lookup ttl zero", func(c *Config) { c.Lookup.CacheTTL = 0 }, "lookup.cache_ttl"},
		{"lookup cache negative", func(c *Config) { c.Lookup.CacheSize = -1 }, "lookup.cache_size"},
		{"sharded without shards", func(c *Config) { c.Lookup.Sharded = []string{"guild"} }, `lookup.sharded[0]: "guild" has no shard pools`},
		{"sharded name is a pool", func(c *Config) { c.Lookup.Sharded = []string{"app"} }, `lookup.sharded[0]: "app" is a pool`},
		{"leading zero is no shard", func(c *Config) {
			c.Pools["guild01"] = c.Pools["app"]
			c.Lookup.Sharded = []string{"user", "guild"}
		}, `lookup.sharded[1]: "guild" has no shard pools`},
		{"shard of two names", func(c *Config) {
			c.Pools["user12"] = c.Pools["app"]
			c.Lookup.Sharded = []string{"user", "user1"}
		}, `pool "user12" is a shard of both "user" and "user1"`},
		{"cache max_bytes tiny", func(c *Config) { c.QueryCache.MaxBytes = 10 }, "query_cache.max_bytes"},
		{"cache off needs no bytes", func(c *Config) { c.QueryCache = CacheConfig{} }, ""},
		{"cache ttl negative", func(c *Config) { c.QueryCache.TTL = -1 }, "query_cache.ttl"},
		{"breaker negative", func(c *Config) { c.Breaker.FailureThreshold = -1 }, "breaker: pool: failure_threshold"},
		{"session keys", func(c *Config) {
			setPool(c, "app", func(p *PoolConfig) {
				p.Charset, p.Collation, p.SQLMode, p.TimeZone = "gbk", "gbk_chinese_ci", "STRICT_ALL_TABLES,NO_ZERO_DATE", "+08:00"
			})
		}, ""},
		{"charset injection", func(c *Config) { setPool(c, "app", func(p *PoolConfig) { p.Charset = "utf8; SET x=1" }) }, "pools.app.charset"},
		{"collation quote", func(c *Config) { setPool(c, "app", func(p *PoolConfig) { p.Collation = "a'b" }) }, "pools.app.collation"},
		{"sql_mode quote", func(c *Config) { setPool(c, "app", func(p *PoolConfig) { p.SQLMode = "ANSI'" }) }, "pools.app.sql_mode"},
		{"time_zone quote", func(c *Config) { setPool(c, "app", func(p *PoolConfig) { p.TimeZone = "'+00:00'" }) }, "pools.app.time_zone"},
		{"no backslash escapes", func(c *Config) {
			setPool(c, "app", func(p *PoolConfig) { p.SQLMode = "STRICT_ALL_TABLES,no_backslash_escapes" })
		}, "pools.app.sql_mode: NO_BACKSLASH_ESCAPES is not supported"},
		{"ansi quotes", func(c *Config) { setPool(c, "app", func(p *PoolConfig) { p.SQLMode = "ANSI" }) }, "ANSI is not supported"},
		{"negative stmt_cache_size", func(c *Config) { setPool(c, "app", func(p *PoolConfig) { p.StmtCacheSize = -1 }) }, "pools.app.stmt_cache_size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			tt.change(&cfg)
			err := cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestValidateNamesEveryProblem(t *testing.T) {
	cfg := validConfig()
	setPool(&cfg, "user2", func(p *PoolConfig) { p.User, p.MaxIdle = "", -1 })
	cfg.Breaker = pool.BreakerConfig{FailureThreshold: -1, RetryInterval: -1}
	err := cfg.Validate()
	for _, key := range []string{"pools.user2.user:", "pools.user2.max_idle:", "breaker: pool: failure_threshold",
		"breaker: pool: retry_interval"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Validate() = %v, want it to name %s", err, key)
		}
	}
}

func setPool(c *Config, name string, f func(*PoolConfig)) {
	p := c.Pools[name]
	f(&p)
	c.Pools[name] = p
}

func TestDecodeTOML(t *testing.T) {
	const doc = `
[pools.lookup]
addr = "10.0.0.1:3306"
user = "fae"
password = "s3cret"
database = "lookup"

[pools.user1]
host = "10.0.0.2"
user = "fae"
database = "user_1"
max_open = 64
max_idle = 16
conn_max_idle_time = "2m"
dial_timeout = "500ms"

[pools.user2]
host = "10.0.0.3"
user = "fae"
database = "user_2"

[lookup]
pool = "lookup"
sharded = ["user"]
cache_ttl = "30s"

[query_cache]
max_items = 5000

[breaker]
failure_threshold = 3
retry_interval = "5s"
`
	cfg := DefaultConfig()
	md, err := toml.Decode(doc, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if un := md.Undecoded(); len(un) > 0 {
		t.Fatalf("undecoded keys: %v", un)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	u1 := cfg.Pools["user1"].withDefaults()
	if u1.address() != "10.0.0.2:3306" || u1.MaxIdle != 16 || u1.ConnMaxIdleTime != 2*time.Minute ||
		u1.DialTimeout != 500*time.Millisecond || u1.ReadTimeout != 30*time.Second {
		t.Errorf("user1 = %+v", u1)
	}
	if cfg.Lookup.Table != "UserLookup" || cfg.Lookup.CacheSize != 100_000 || cfg.QueryCache.MaxBytes != 64<<20 {
		t.Errorf("defaults lost: %+v %+v", cfg.Lookup, cfg.QueryCache)
	}
	if got := string(cfg.Pools["lookup"].Password); got != "s3cret" {
		t.Errorf("password = %q", got)
	}
	if s := cfg.Pools["lookup"].Password.String(); strings.Contains(s, "s3cret") {
		t.Errorf("Password.String() = %q shows the secret", s)
	}
}

func TestShardPools(t *testing.T) {
	pools := map[string]PoolConfig{"user10": {}, "user2": {}, "user1": {}, "user": {}, "userx": {}, "user02": {}, "users1": {}}
	got := shardPools("user", pools)
	want := []shard{{1, "user1"}, {2, "user2"}, {10, "user10"}}
	if len(got) != len(want) {
		t.Fatalf("shardPools = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("shardPools = %v, want %v", got, want)
		}
	}
}
