package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/scripts/testserver"
	"github.com/faed/faed/servant/mongodb"
	"github.com/faed/faed/servant/mysql"

	"github.com/apache/thrift/lib/go/thrift"
)

func TestCheckTimeouts(t *testing.T) {
	cluster := func(c *Config) {
		c.Cluster.ZooKeeper = []string{"127.0.0.1:2181"}
		c.Cluster.Advertise = "127.0.0.1:9001"
	}
	tests := []struct {
		name  string
		tweak func(*Config)
		keys  []string // named in the error; none = valid
	}{
		{"defaults", func(*Config) {}, nil},
		{"defaults in a cluster", cluster, nil},
		{"retry wait past the deadline", func(c *Config) {
			cluster(c)
			c.Servant.ForwardRetryWait = 15 * time.Second
		}, []string{"[servant] forward_retry_wait", "[engine] call_timeout"}},
		{"retry wait without a cluster", func(c *Config) { c.Servant.ForwardRetryWait = 15 * time.Second }, nil},
		{"peer call longer than the caller's", func(c *Config) {
			cluster(c)
			c.Cluster.CallTimeout = 5 * time.Second
		}, []string{"[cluster] call_timeout", "[engine] call_timeout"}},
		{"engine deadline below the peer default", func(c *Config) {
			cluster(c)
			c.Engine.CallTimeout = time.Second
			c.Servant.ForwardRetryWait = 500 * time.Millisecond
		}, []string{"[cluster] call_timeout (3s)", "[engine] call_timeout (1s)"}},
		{"peer dial as long as the deadline", func(c *Config) {
			cluster(c)
			c.Cluster.Peer.DialTimeout = 3 * time.Second
		}, []string{"[cluster.peer_pool] dial_timeout", "[engine] call_timeout"}},
		{"mysql dial as long as the deadline", func(c *Config) {
			c.Servant.MySQL.Pools = map[string]mysql.PoolConfig{"main": {Addr: "127.0.0.1:3306", User: "u", Database: "d", DialTimeout: 3 * time.Second}}
		}, []string{"[servant.mysql.pools.main] dial_timeout", "[engine] call_timeout"}},
		{"mongodb connect as long as its io_timeout", func(c *Config) {
			c.Servant.MongoDB.Pools = map[string]mongodb.PoolConfig{"game": {Servers: []string{"127.0.0.1:27017"}, IOTimeout: time.Second, ConnectTimeout: time.Second}}
		}, []string{"[servant.mongodb.pools.game] connect_timeout", "[servant.mongodb.pools.game] io_timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultConfig()
			tt.tweak(&c)
			err := checkTimeouts(c)
			if len(tt.keys) == 0 {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error naming %v", tt.keys)
			}
			for _, k := range tt.keys {
				if !strings.Contains(err.Error(), k) {
					t.Fatalf("error %q does not name %s", err, k)
				}
			}
		})
	}
}

func TestCheckRefusesIOTimeoutNamingItsReplacements(t *testing.T) {
	path := filepath.Join(t.TempDir(), "faed.toml")
	os.WriteFile(path, []byte("[engine]\nio_timeout = \"10s\"\n"), 0o644)
	out, err := exec.Command(testserver.FaedBinary(t), "-check", path).CombinedOutput()
	for _, want := range []string{"io_timeout", "read_timeout", "call_timeout", "write_timeout"} {
		if err == nil || !strings.Contains(string(out), want) {
			t.Fatalf("faed -check with io_timeout: %v, %q; want a refusal naming %s", err, out, want)
		}
	}
}

func TestZKCallPastItsDeadlineAnswersAndKeepsTheConnection(t *testing.T) {
	z := testserver.StartZooKeeper(t)
	proxy := testserver.StartProxy(t, z.Addr)
	d := testserver.StartFaed(t, t.TempDir(), fmt.Sprintf(`[engine]
call_timeout = "1s"
[servant.zk]
servers = [%q]
root = "/faetest/deadline"
`, proxy.Addr))
	c := goClient(t, "tcp", d.TCP)
	ctx := context.Background()
	testserver.Eventually(t, "zk_create through the proxy", faedWait, func() bool {
		_, err := c.ZkCreate(ctx, rc, "/before", "x")
		return err == nil
	})
	proxy.Stall(true)
	calls := []struct {
		name string
		do   func() error
		want []string
	}{
		{"zk_create", func() error { _, err := c.ZkCreate(ctx, rc, "/stalled", "x"); return err },
			[]string{"zk_create", "deadline 1s exceeded waiting for zookeeper 127.0.0.1:", "(the create may still be applied)"}},
		{"zk_children", func() error { _, err := c.ZkChildren(ctx, rc, "/"); return err },
			[]string{"zk_children", "deadline 1s exceeded waiting for zookeeper 127.0.0.1:"}},
	}
	for _, call := range calls {
		start := time.Now()
		err := call.do()
		took := time.Since(start)
		app, ok := errors.AsType[thrift.TApplicationException](err)
		if !ok {
			t.Fatalf("%s with ZooKeeper stalled: %v, want a TApplicationException", call.name, err)
		}
		for _, w := range call.want {
			if !strings.Contains(app.Error(), w) {
				t.Fatalf("%s: %q lacks %q", call.name, app.Error(), w)
			}
		}
		if took < 900*time.Millisecond || took > 2500*time.Millisecond {
			t.Fatalf("%s answered after %v, want about its 1s deadline", call.name, took)
		}
		if v, err := c.Noop(ctx, 7); err != nil || v != 7 {
			t.Fatalf("noop on the same connection after %s: %v, %v", call.name, v, err)
		}
	}
	if n := callDeadlines(t, d, "zk_create") + callDeadlines(t, d, "zk_children"); n != 2 {
		t.Fatalf("stats count %d deadline errors, want 2", n)
	}
	if !strings.Contains(d.Log.String(), "deadline 1s exceeded") {
		t.Fatalf("the deadline error was not logged:\n%s", d.Log.String())
	}
}

// callDeadlines reads the deadline count of one call from /stats.
func callDeadlines(t *testing.T, d *testserver.Faed, call string) int64 {
	t.Helper()
	var snap struct {
		Engine struct {
			PerCall []struct {
				Name      string `json:"name"`
				Deadlines int64  `json:"deadlines"`
			} `json:"per_call"`
		} `json:"engine"`
	}
	if err := json.Unmarshal(adminGet(t, d, "/stats"), &snap); err != nil {
		t.Fatalf("GET /stats: %v", err)
	}
	for _, c := range snap.Engine.PerCall {
		if c.Name == call {
			return c.Deadlines
		}
	}
	return 0
}

// mysqlTimeoutsFaed starts faed on a real MariaDB with the engine clocks given.
func mysqlTimeoutsFaed(t *testing.T, engine string) *testserver.Faed {
	t.Helper()
	m := testserver.StartMariaDB(t)
	return testserver.StartFaed(t, t.TempDir(), fmt.Sprintf(`[engine]
%s
[servant.mysql.pools.main]
addr = %q
user = "root"
database = "mysql"
`, engine, m.Addr))
}

func TestACallLongerThanTheReadAndWriteTimeoutsGetsItsReply(t *testing.T) {
	d := mysqlTimeoutsFaed(t, "read_timeout = \"1s\"\nwrite_timeout = \"1s\"\ncall_timeout = \"5s\"")
	c := goClient(t, "tcp", d.TCP)
	ctx := context.Background()
	start := time.Now()
	r, err := c.MyQuery(ctx, rc, "main", "", 0, "SELECT SLEEP(2)", nil, "")
	if err != nil || len(r.Rows) != 1 || r.Rows[0][0] != "0" {
		t.Fatalf("SELECT SLEEP(2) with read/write timeouts of 1s: %+v, %v", r, err)
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Fatalf("answered after %v, before the query could end", took)
	}
	if v, err := c.Noop(ctx, 3); err != nil || v != 3 {
		t.Fatalf("noop on the same connection: %v, %v", v, err)
	}
}

func TestACallersBudgetLowersTheDeadline(t *testing.T) {
	d := mysqlTimeoutsFaed(t, "call_timeout = \"4s\"")
	c := goClient(t, "tcp", d.TCP)
	ctx := context.Background()
	budget := int32(200)
	start := time.Now()
	_, err := c.MyQuery(ctx, &rpc.Context{Rid: 1, Reason: "test", BudgetMs: &budget}, "main", "", 0, "SELECT SLEEP(2)", nil, "")
	took := time.Since(start)
	app, ok := errors.AsType[thrift.TApplicationException](err)
	if !ok || !strings.Contains(app.Error(), "my_query") || !strings.Contains(app.Error(), "deadline 200ms exceeded waiting for") {
		t.Fatalf("SELECT SLEEP(2) on a 200ms budget: %v, want the deadline error", err)
	}
	if took < 190*time.Millisecond || took > 700*time.Millisecond {
		t.Fatalf("answered after %v, want about the 200ms budget", took)
	}
	if v, err := c.Noop(ctx, 4); err != nil || v != 4 {
		t.Fatalf("noop on the same connection: %v, %v", v, err)
	}
	t.Logf("budget 200ms answered in %v: %s", took, app.Error())

	// A budget the caller chose blames no server: more budget-cut calls
	// than the breaker's failure threshold leave the pool serving.
	short := int32(50)
	for i := range 8 {
		if _, err := c.MyQuery(ctx, &rpc.Context{BudgetMs: &short}, "main", "", 0, "SELECT SLEEP(1)", nil, ""); err == nil {
			t.Fatalf("budget-cut call %d: no error", i)
		}
	}
	if r, err := c.MyQuery(ctx, rc, "main", "", 0, "SELECT 1", nil, ""); err != nil || len(r.Rows) != 1 {
		t.Fatalf("SELECT 1 after budget-cut calls: %+v, %v; want the pool still serving", r, err)
	}
}

// TestACallersBudgetEndsAMemcacheCall: a memcached that accepts and never
// answers holds mc_get for the caller's 300ms budget, not the pool's 2s
// io_timeout (it held it for 2s before: the budget cancels the call's ctx
// and gomemcache watches no ctx), and budget-cut calls leave the breaker
// closed.
func TestACallersBudgetEndsAMemcacheCall(t *testing.T) {
	d := testserver.StartFaed(t, t.TempDir(), fmt.Sprintf("[servant.memcache.pools.p]\nservers = [%q]\nio_timeout = \"2s\"\n", testserver.Silent(t)))
	c := goClient(t, "unix", d.Unix)
	budget := int32(300)
	for i := range 6 {
		start := time.Now()
		_, err := c.McGet(context.Background(), &rpc.Context{Rid: 1, Reason: "test", BudgetMs: &budget}, "p", "k")
		took := time.Since(start)
		if err == nil || !strings.Contains(err.Error(), "deadline 300ms exceeded") || strings.Contains(err.Error(), "circuit open") {
			t.Fatalf("mc_get %d on a silent memcached: %v, want the 300ms deadline error, breaker closed", i, err)
		}
		if took > time.Second {
			t.Fatalf("mc_get %d answered after %v, want the 300ms budget, not io_timeout 2s", i, took)
		}
	}
}
