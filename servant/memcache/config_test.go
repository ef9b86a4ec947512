package memcache

import (
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/faed/faed/pool"
)

func TestValidate(t *testing.T) {
	good := serversPool("127.0.0.1:11211", "127.0.0.1:11212")
	tests := []struct {
		name string
		edit func(pc *PoolConfig)
		want string // substring of the error; empty for valid
	}{
		{name: "defaults", edit: func(pc *PoolConfig) {}},
		{name: "consistent with replicas", edit: func(pc *PoolConfig) { pc.Selection, pc.Replicas = "consistent", 2 }},
		{name: "php-consistent", edit: func(pc *PoolConfig) { pc.Selection = "php-consistent" }},
		{name: "no servers", edit: func(pc *PoolConfig) { pc.Servers = nil },
			want: "pools.default.servers: at least one server"},
		{name: "server without port", edit: func(pc *PoolConfig) { pc.Servers = []string{"127.0.0.1"} },
			want: `pools.default.servers[0]: must be host:port, got "127.0.0.1"`},
		{name: "port out of range", edit: func(pc *PoolConfig) { pc.Servers = []string{"h:70000"} },
			want: "pools.default.servers[0]: must be host:port with a port 1 to 65535"},
		{name: "port not canonical", edit: func(pc *PoolConfig) { pc.Servers = []string{"h:011211"} },
			want: "servers[0]"},
		{name: "duplicate server", edit: func(pc *PoolConfig) { pc.Servers = []string{"h:1", "h:1"} },
			want: `pools.default.servers[1]: "h:1" is listed twice`},
		{name: "bad selection", edit: func(pc *PoolConfig) { pc.Selection = "ketama" },
			want: `pools.default.selection: must be "standard", "consistent" or "php-consistent", got "ketama"`},
		{name: "replicas above servers", edit: func(pc *PoolConfig) { pc.Replicas = 3 },
			want: "pools.default.replicas: must be 1 to 2 (the number of servers), got 3"},
		{name: "negative replicas", edit: func(pc *PoolConfig) { pc.Replicas = -1 }, want: "pools.default.replicas"},
		{name: "zero replicas", edit: func(pc *PoolConfig) { pc.Replicas = 0 }, want: "pools.default.replicas"},
		{name: "zero virtual nodes", edit: func(pc *PoolConfig) { pc.VirtualNodes = 0 }, want: "pools.default.virtual_nodes"},
		{name: "zero io timeout", edit: func(pc *PoolConfig) { pc.IOTimeout = 0 }, want: "pools.default.io_timeout"},
		{name: "zero key limit", edit: func(pc *PoolConfig) { pc.MaxKeyBytes = 0 }, want: "pools.default.max_key_bytes"},
		{name: "zero max_idle", edit: func(pc *PoolConfig) { pc.Pool.MaxIdle = 0 }, want: "pools.default.pool: max_idle"},
		{name: "negative virtual nodes", edit: func(pc *PoolConfig) { pc.VirtualNodes = -1 },
			want: "pools.default.virtual_nodes: must be at least 1"},
		{name: "negative io timeout", edit: func(pc *PoolConfig) { pc.IOTimeout = -time.Second },
			want: "pools.default.io_timeout: must be positive"},
		{name: "key limit above memcached's", edit: func(pc *PoolConfig) { pc.MaxKeyBytes = 251 },
			want: "pools.default.max_key_bytes: must be 1 to 250, got 251"},
		{name: "bad pool config", edit: func(pc *PoolConfig) { pc.Pool = pool.Config{MaxOpen: 2, MaxIdle: 3} },
			want: "pools.default.pool: pool: max_idle = 3: must not exceed max_open = 2"},
		{name: "bad breaker config", edit: func(pc *PoolConfig) { pc.Breaker.FailureThreshold = -1 },
			want: "pools.default.breaker: pool: failure_threshold = -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pc := good
			pc.Servers = append([]string(nil), good.Servers...)
			tt.edit(&pc)
			err := Config{Pools: map[string]PoolConfig{"default": pc}}.Validate()
			checkErr(t, err, tt.want)
		})
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("error %q, want none", err)
	case want != "" && err == nil:
		t.Fatalf("no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error %q, want it to contain %q", err, want)
	}
}

func TestValidateReportsEveryPool(t *testing.T) {
	cfg := Config{Pools: map[string]PoolConfig{
		"a": {},
		"b": {Servers: []string{"h:1"}, Replicas: 2},
	}}
	err := cfg.Validate()
	checkErr(t, err, "pools.a.servers")
	checkErr(t, err, "pools.b.replicas")
}

func TestDefaults(t *testing.T) {
	if DefaultConfig().Configured() {
		t.Error("the default config has pools; it should leave the servant unconfigured")
	}
	pc := PoolConfig{Servers: []string{"h:1"}}.withDefaults()
	want := PoolConfig{Servers: pc.Servers, Selection: "standard", Replicas: 1, VirtualNodes: 160,
		IOTimeout: 200 * time.Millisecond, MaxKeyBytes: 250}
	if pc.Selection != want.Selection || pc.Replicas != want.Replicas || pc.VirtualNodes != want.VirtualNodes ||
		pc.IOTimeout != want.IOTimeout || pc.MaxKeyBytes != want.MaxKeyBytes {
		t.Errorf("withDefaults = %+v, want %+v", pc, want)
	}
}

func TestMaxIdleDefaultsToMaxOpen(t *testing.T) {
	tests := []struct {
		name string
		pool pool.Config
		want int
	}{
		{name: "neither set", want: 64},
		{name: "max_open set", pool: pool.Config{MaxOpen: 16}, want: 16},
		{name: "max_idle set", pool: pool.Config{MaxIdle: 2}, want: 2},
		{name: "both set", pool: pool.Config{MaxIdle: 2, MaxOpen: 16}, want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pc := PoolConfig{Servers: []string{"h:1"}, Pool: tt.pool}.withDefaults()
			if pc.Pool.MaxIdle != tt.want || pc.Pool.MaxOpen != tt.pool.MaxOpen {
				t.Errorf("max_idle, max_open = %d, %d; want %d, %d", pc.Pool.MaxIdle, pc.Pool.MaxOpen, tt.want, tt.pool.MaxOpen)
			}
		})
	}
}

// TestDefaultPoolKeepsItsConnections checks that a pool with the default
// sizes keeps every connection its 16 concurrent calls needed.
func TestDefaultPoolKeepsItsConnections(t *testing.T) {
	_, addrs := startMemcached(t, 1)
	c := newTestClient(t, serversPool(addrs...))
	fill(t, c.pools["p"].servers[0], 16)
}

func TestNewRefusesBadConfig(t *testing.T) {
	_, err := New(Config{Pools: map[string]PoolConfig{"x": {}}})
	checkErr(t, err, "pools.x.servers: at least one server")
}

func TestDecodeTOML(t *testing.T) {
	const doc = `
[pools.default]
servers = ["10.0.0.1:11211", "10.0.0.2:11211"]
selection = "consistent"
replicas = 2
virtual_nodes = 100
io_timeout = "150ms"
max_key_bytes = 200
pool = { max_open = 16, max_idle = 2 }
breaker = { failure_threshold = 3, retry_interval = "5s" }
`
	var cfg Config
	md, err := toml.Decode(doc, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		t.Fatalf("keys not decoded: %v", u)
	}
	pc := cfg.Pools["default"]
	if len(pc.Servers) != 2 || pc.Selection != "consistent" || pc.Replicas != 2 || pc.VirtualNodes != 100 ||
		pc.IOTimeout != 150*time.Millisecond || pc.MaxKeyBytes != 200 || pc.Pool.MaxOpen != 16 ||
		pc.Breaker.RetryInterval != 5*time.Second {
		t.Errorf("decoded %+v", pc)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

// TestBatchGetsDefault: batching is on unless a pool says batch_gets = false.
func TestBatchGetsDefault(t *testing.T) {
	tests := []struct {
		name string
		line string
		want bool
	}{
		{name: "absent", line: "", want: true},
		{name: "true", line: "batch_gets = true", want: true},
		{name: "false", line: "batch_gets = false", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg Config
			if _, err := toml.Decode("[pools.p]\nservers = [\"127.0.0.1:11211\"]\n"+tt.line+"\n", &cfg); err != nil {
				t.Fatal(err)
			}
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if pc := cfg.Pools["p"]; pc.BatchGets != tt.want || (c.pools["p"].servers[0].gets != nil) != tt.want {
				t.Errorf("BatchGets %v, batcher %v; want %v", pc.BatchGets, c.pools["p"].servers[0].gets != nil, tt.want)
			}
		})
	}
}
