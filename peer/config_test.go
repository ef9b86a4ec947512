package peer

import (
	"strings"
	"testing"
	"time"

	"github.com/faed/faed/pool"
)

func TestConfigValidate(t *testing.T) {
	zk := []string{"127.0.0.1:2181"}
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error; none means valid
	}{
		{name: "one-node cluster", cfg: Config{}},
		{name: "defaults", cfg: DefaultConfig()},
		{name: "cluster", cfg: Config{ZooKeeper: zk, Advertise: "10.0.0.1:9001", Root: "/x/y"}},
		{name: "ipv6 advertise", cfg: Config{ZooKeeper: zk, Advertise: "[::1]:9001"}},
		{name: "advertise required with zookeeper", cfg: Config{ZooKeeper: zk}, want: []string{"advertise", "required"}},
		{name: "advertise without port", cfg: Config{Advertise: "10.0.0.1"}, want: []string{"advertise", "host:port"}},
		{name: "advertise without host", cfg: Config{Advertise: ":9001"}, want: []string{"advertise"}},
		{name: "advertise with a slash", cfg: Config{Advertise: "a/b:1"}, want: []string{"advertise"}},
		{name: "zookeeper without port", cfg: Config{ZooKeeper: []string{"zk1"}, Advertise: "a:1"}, want: []string{"zookeeper", `"zk1"`}},
		{name: "relative root", cfg: Config{Root: "fae"}, want: []string{"root"}},
		{name: "root with trailing slash", cfg: Config{Root: "/fae/"}, want: []string{"root"}},
		{name: "root with empty segment", cfg: Config{Root: "/fae//x"}, want: []string{"root"}},
		{name: "negative session timeout", cfg: Config{SessionTimeout: -time.Second}, want: []string{"session_timeout"}},
		{name: "virtual_nodes is ignored", cfg: Config{VirtualNodes: -1}},
		{name: "negative call timeout", cfg: Config{CallTimeout: -1}, want: []string{"call_timeout"}},
		{name: "bad pool", cfg: Config{Peer: pool.Config{MaxOpen: -1}}, want: []string{"peer_pool", "max_open"}},
		{name: "bad breaker", cfg: Config{Breaker: pool.BreakerConfig{FailureThreshold: -1}}, want: []string{"peer_breaker", "failure_threshold"}},
		{name: "vbuckets", cfg: Config{VBuckets: 16, MaxMoves: 1, MoveBatchKeys: 10, LeaveGrace: time.Second}},
		{name: "too many vbuckets", cfg: Config{VBuckets: 1 << 17}, want: []string{"vbuckets"}},
		{name: "negative vbuckets", cfg: Config{VBuckets: -1}, want: []string{"vbuckets"}},
		{name: "negative leave grace", cfg: Config{LeaveGrace: -1}, want: []string{"leave_grace"}},
		{name: "negative max moves", cfg: Config{MaxMoves: -1}, want: []string{"max_moves"}},
		{name: "negative move batch", cfg: Config{MoveBatchKeys: -1}, want: []string{"move_batch_keys"}},
		{name: "every error at once", cfg: Config{Root: "x", SessionTimeout: -1, CallTimeout: -1},
			want: []string{"root", "session_timeout", "call_timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := withTestDefaults(tt.cfg).Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error mentioning %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to mention %q", err, w)
				}
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.Root != "/fae/cluster" || c.replicas() != 1 || !c.autoRebalance() {
		t.Fatalf("an empty root and unset replicas and auto_rebalance took %+v", c)
	}
	if c.SessionTimeout != 0 || c.VBuckets != 0 || c.CallTimeout != 0 {
		t.Fatalf("withDefaults filled a zero number: %+v", c)
	}
	if off := (Config{AutoRebalance: ptr(false)}).withDefaults(); off.autoRebalance() {
		t.Fatal("auto_rebalance = false became true")
	}
	if got := (Config{}).self(); got != "self" {
		t.Fatalf("self() without advertise = %q, want self", got)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	if _, err := New(withTestDefaults(Config{CallTimeout: -3}), nil); err == nil || !strings.Contains(err.Error(), "call_timeout") {
		t.Fatalf("New with a bad config: err = %v, want one naming call_timeout", err)
	}
}

// TestZeroKeys: a key set to 0 is off, or refused naming the key; never
// its default.
func TestZeroKeys(t *testing.T) {
	tests := []struct {
		name string
		set  func(*Config)
		want string // "" means off, valid
	}{
		{name: "zero call timeout is off", set: func(c *Config) { c.CallTimeout = 0 }},
		{name: "zero leave grace is off", set: func(c *Config) { c.LeaveGrace = 0 }},
		{name: "zero replicas", set: func(c *Config) { c.Replicas = ptr(0) }},
		{name: "zero session timeout", set: func(c *Config) { c.SessionTimeout = 0 }, want: "session_timeout"},
		{name: "zero vbuckets", set: func(c *Config) { c.VBuckets = 0 }, want: "vbuckets"},
		{name: "zero max moves", set: func(c *Config) { c.MaxMoves = 0 }, want: "max_moves"},
		{name: "zero move batch", set: func(c *Config) { c.MoveBatchKeys = 0 }, want: "move_batch_keys"},
		{name: "zero failover delay", set: func(c *Config) { c.FailoverDelay = 0 }, want: "failover_delay"},
		{name: "zero replica timeout", set: func(c *Config) { c.ReplicaTimeout = 0 }, want: "replica_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.set(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil (off)", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate() = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}
