package mongodb

import (
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/faed/faed/pool"
)

func TestValidate(t *testing.T) {
	ok := serversPool("127.0.0.1:27017")
	tests := []struct {
		name string
		pool PoolConfig
		want string // substring of the error; "" means valid
	}{
		{"servers", ok, ""},
		{"uri", with(DefaultPoolConfig(), func(p *PoolConfig) { p.URI = "mongodb://u:p@h1:1,h2:2/admin?maxPoolSize=5" }), ""},
		{"neither", PoolConfig{}, "pools.p.uri: one of uri and servers"},
		{"both", PoolConfig{URI: "mongodb://h", Servers: []string{"h:1"}}, "pools.p.servers: set uri or servers"},
		{"user with uri", PoolConfig{URI: "mongodb://h", User: "u"}, "pools.p.user:"},
		{"password alone", PoolConfig{Servers: []string{"h:1"}, Password: "x"}, "pools.p.user: must be set"},
		{"empty server", PoolConfig{Servers: []string{""}}, "pools.p.servers[0]"},
		{"server list in one", PoolConfig{Servers: []string{"a:1,b:2"}}, "pools.p.servers[0]"},
		{"bad uri", with(DefaultPoolConfig(), func(p *PoolConfig) { p.URI = "http://secretpw@h" }), "pools.p.uri: not a valid"},
		{"zero base", with(ok, func(p *PoolConfig) { p.ShardBaseNum = 0 }), "pools.p.shard_base_num"},
		{"zero connect", with(ok, func(p *PoolConfig) { p.ConnectTimeout = 0 }), "pools.p.connect_timeout"},
		{"zero max pool is no limit", with(ok, func(p *PoolConfig) { p.MaxPoolSize, p.MinPoolSize = 0, 500 }), ""},
		{"zero io is off", with(ok, func(p *PoolConfig) { p.IOTimeout = 0 }), ""},
		{"strategy", with(ok, func(p *PoolConfig) { p.ShardStrategy = "hash" }), "pools.p.shard_strategy"},
		{"standard", with(ok, func(p *PoolConfig) { p.ShardStrategy = StrategyStandard }), ""},
		{"base", with(ok, func(p *PoolConfig) { p.ShardBaseNum = -1 }), "pools.p.shard_base_num"},
		{"database", with(ok, func(p *PoolConfig) { p.Database = "a.b" }), "pools.p.database"},
		{"max pool", with(ok, func(p *PoolConfig) { p.MaxPoolSize = -1 }), "pools.p.max_pool_size"},
		{"min pool", with(ok, func(p *PoolConfig) { p.MinPoolSize = 101 }), "pools.p.min_pool_size"},
		{"min pool ok", with(ok, func(p *PoolConfig) { p.MinPoolSize = 100 }), ""},
		{"idle", with(ok, func(p *PoolConfig) { p.MaxConnIdleTime = -time.Second }), "pools.p.max_conn_idle_time"},
		{"connect", with(ok, func(p *PoolConfig) { p.ConnectTimeout = time.Microsecond }), "pools.p.connect_timeout"},
		{"io", with(ok, func(p *PoolConfig) { p.IOTimeout = -1 }), "pools.p.io_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Pools = map[string]PoolConfig{"p": tt.pool}
			checkErr(t, cfg.Validate(), tt.want)
		})
	}
}

func TestValidateNames(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"default", DefaultConfig(), ""},
		{"empty pool name", Config{Pools: map[string]PoolConfig{"": serversPool("h:1")}}, "pools: a pool name"},
		{"legacy pool name not a database", Config{Pools: map[string]PoolConfig{"a b": serversPool("h:1")}}, "pools.a b.database"},
		{"breaker", Config{Breaker: pool.BreakerConfig{FailureThreshold: -1}}, "breaker: pool: failure_threshold"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkErr(t, tt.cfg.Validate(), tt.want) })
	}
}

func TestValidateHidesSecrets(t *testing.T) {
	cfg := Config{Pools: map[string]PoolConfig{"p": with(DefaultPoolConfig(), func(p *PoolConfig) { p.URI = "mongodb://u:hunter2@h/?maxPoolSize=x" })}}
	err := cfg.Validate()
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("Validate = %v, want an error without the password", err)
	}
}

func TestDecodeTOML(t *testing.T) {
	const doc = `
[breaker]
failure_threshold = 3
retry_interval = "2s"
[pools.users]
uri = "mongodb://u:pw@127.0.0.1:27017/"
shard_strategy = "standard"
shard_base_num = 1000
io_timeout = "800ms"
read_only = true
`
	cfg := DefaultConfig()
	md, err := toml.Decode(doc, &cfg)
	if err != nil || len(md.Undecoded()) > 0 {
		t.Fatalf("decode: %v, undecoded %v", err, md.Undecoded())
	}
	p := cfg.Pools["users"].withDefaults("users")
	if p.ShardBaseNum != 1000 || p.IOTimeout != 800*time.Millisecond || !p.ReadOnly || p.Database != "db" {
		t.Errorf("decoded %+v", p)
	}
	if cfg.Breaker.FailureThreshold != 3 || cfg.Breaker.RetryInterval != 2*time.Second {
		t.Errorf("breaker %+v", cfg.Breaker)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	out, _ := toml.Marshal(cfg)
	if strings.Contains(string(out), "pw@") {
		t.Errorf("encoded config shows the URI: %s", out)
	}
}

func TestDefaults(t *testing.T) {
	p := DefaultPoolConfig().withDefaults("game")
	want := PoolConfig{ShardStrategy: StrategyLegacy, ShardBaseNum: DefaultShardBaseNum, Database: "game",
		MaxPoolSize: 100, MaxConnIdleTime: 5 * time.Minute, ConnectTimeout: 2 * time.Second, IOTimeout: 5 * time.Second}
	if p.ShardStrategy != want.ShardStrategy || p.ShardBaseNum != want.ShardBaseNum || p.Database != want.Database ||
		p.MaxPoolSize != want.MaxPoolSize || p.MaxConnIdleTime != want.MaxConnIdleTime ||
		p.ConnectTimeout != want.ConnectTimeout || p.IOTimeout != want.IOTimeout {
		t.Errorf("withDefaults = %+v, want %+v", p, want)
	}
}

// serversPool is DefaultPoolConfig with servers, as a section naming only
// servers decodes.
func serversPool(servers ...string) PoolConfig {
	return with(DefaultPoolConfig(), func(p *PoolConfig) { p.Servers = servers })
}

func with(p PoolConfig, f func(*PoolConfig)) PoolConfig {
	f(&p)
	return p
}

// checkErr fails unless err is nil when want is empty, or contains want.
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("error %v, want none", err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Errorf("error %v, want one containing %q", err, want)
	}
}
