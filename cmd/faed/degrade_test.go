package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/scripts/testserver"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestDegradeSwitches: an operator switches real backends' pools degraded
// or read-only over POST /degrade; refused calls answer at once with the
// declared exception (mongodb) or a clear error naming the reason, the rest
// go on, /stats and /metrics show the switch, and lifting it restores
// every call. Bad requests are refused and change nothing.
func TestDegradeSwitches(t *testing.T) {
	b := startBackends(t)
	d := testserver.StartFaed(t, t.TempDir(), b.toml())
	c, conn, err := dialFun(d.TCP)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := t.Context()
	value := &rpc.TMemcacheData{Data: []byte("v")}
	if _, err := c.McSet(ctx, rc, "mc", "deg-key", value, 0); err != nil {
		t.Fatalf("mc_set before any switch: %v", err)
	}

	for _, bad := range []url.Values{
		{"servant": {"memcache"}, "mode": {"degraded"}},                                           // no reason
		{"servant": {"memcache"}, "mode": {"sideways"}, "reason": {"x"}},                          // no such mode
		{"servant": {"lcache"}, "mode": {"degraded"}, "reason": {"x"}},                            // no switch there
		{"servant": {"memcache"}, "pool": {"nope"}, "mode": {"degraded"}, "reason": {"x"}},        // no such pool
		{"servant": {"memcache"}, "mode": {"degraded"}, "reason": {strings.Repeat("r", 100_000)}}, // past the bound
	} {
		if code, body := adminPost(t, d, "/degrade?"+bad.Encode()); code != http.StatusBadRequest {
			t.Errorf("POST /degrade?%s: %d %s, want 400", bad.Encode(), code, body)
		}
	}
	if got := string(adminGet(t, d, "/degrade")); !strings.Contains(got, `"switches": []`) {
		t.Errorf("GET /degrade after refused requests: %s, want no switch", got)
	}

	setSwitch(t, d, "memcache", "mc", "degraded", "memcached upgrade")
	start := time.Now()
	_, err = c.McGet(ctx, rc, "mc", "deg-key")
	if took := time.Since(start); err == nil || !strings.Contains(err.Error(), "degraded by an operator") || !strings.Contains(err.Error(), "memcached upgrade") || took > time.Second {
		t.Errorf("mc_get on a degraded pool: %v after %v, want at once an error naming the switch and its reason", err, took)
	}
	setSwitch(t, d, "memcache", "", "read_only", "resharding")
	setSwitch(t, d, "memcache", "mc", "off", "")
	if got, err := c.McGet(ctx, rc, "mc", "deg-key"); err != nil || string(got.GetData()) != "v" {
		t.Errorf("mc_get under an all-pools read-only switch: %v, %v; want the value", got, err)
	}
	if _, err := c.McSet(ctx, rc, "mc", "deg-key", value, 0); err == nil || !strings.Contains(err.Error(), "read-only by an operator") {
		t.Errorf("mc_set under a read-only switch: %v, want refused", err)
	}

	setSwitch(t, d, "mysql", "main", "read_only", "migration")
	if _, err := c.MyQuery(ctx, rc, "main", "item", 0, "SELECT 1", nil, ""); err != nil {
		t.Errorf("a SELECT on a read-only mysql pool: %v, want served", err)
	}
	if _, err := c.MyQuery(ctx, rc, "main", "item", 0, "DELETE FROM item WHERE id = -1", nil, ""); err == nil || !strings.Contains(err.Error(), "read-only by an operator") {
		t.Errorf("a DELETE on a read-only mysql pool: %v, want refused", err)
	}

	doc, _ := bson.Marshal(bson.D{{Key: "name", Value: "deg"}})
	setSwitch(t, d, "mongodb", "", "read_only", "failover drill")
	if _, err := c.MgInsert(ctx, rc, "game", "deg", 0, doc); !errors.As(err, new(*rpc.TMongoReadOnly)) {
		t.Errorf("mg_insert on a read-only pool: %v, want TMongoReadOnly", err)
	}
	if _, err := c.MgCount(ctx, rc, "game", "deg", 0, doc); err != nil {
		t.Errorf("mg_count on a read-only pool: %v, want served", err)
	}
	setSwitch(t, d, "mongodb", "game", "degraded", "failover drill")
	if _, err := c.MgCount(ctx, rc, "game", "deg", 0, doc); !errors.As(err, new(*rpc.TMongoDegrade)) {
		t.Errorf("mg_count on a degraded pool: %v, want TMongoDegrade", err)
	}

	list := string(adminGet(t, d, "/degrade"))
	for _, want := range []string{`"name": "memcache"`, `"name": "mysql:main"`, `"name": "mongodb:game"`, `"reason": "migration"`} {
		if !strings.Contains(list, want) {
			t.Errorf("GET /degrade lacks %s:\n%s", want, list)
		}
	}
	if m := string(adminGet(t, d, "/metrics")); !strings.Contains(m, `faed_servant_switches_read_only{switch="mysql:main"} 1`) {
		t.Errorf("/metrics lacks the mysql switch as a labelled gauge")
	}

	for _, target := range [][2]string{{"memcache", ""}, {"mysql", "main"}, {"mongodb", "game"}, {"mongodb", ""}} {
		setSwitch(t, d, target[0], target[1], "off", "")
	}
	if _, err := c.McSet(ctx, rc, "mc", "deg-key", value, 0); err != nil {
		t.Errorf("mc_set after the switches were lifted: %v", err)
	}
	if _, err := c.MgInsert(ctx, rc, "game", "deg", 0, doc); err != nil {
		t.Errorf("mg_insert after the switches were lifted: %v", err)
	}
	if got := string(adminGet(t, d, "/degrade")); !strings.Contains(got, `"switches": []`) {
		t.Errorf("GET /degrade after every switch was lifted: %s", got)
	}
}

func setSwitch(t *testing.T, d *testserver.Faed, servant, pool, mode, reason string) {
	t.Helper()
	q := url.Values{"servant": {servant}, "pool": {pool}, "mode": {mode}, "reason": {reason}, "who": {"test"}}
	if code, body := adminPost(t, d, "/degrade?"+q.Encode()); code != http.StatusOK {
		t.Fatalf("POST /degrade?%s: %d %s", q.Encode(), code, body)
	}
}

func adminPost(t *testing.T, d *testserver.Faed, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://"+d.HTTP+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestDegradeCluster: a switch made through one node of a cluster reaches
// the other within a second, through ZooKeeper, and lifting it through the
// other reaches the first.
func TestDegradeCluster(t *testing.T) {
	zk := testserver.StartZooKeeper(t)
	mc := testserver.StartMemcached(t)
	o := clusterOpts{zookeeper: []string{zk.Addr}, sessionTimeout: "2s", firstWorker: 1, root: "/fae/degrade",
		extra: fmt.Sprintf("[servant.memcache.pools.mc]\nservers = [%q]\n", mc.Addr)}
	nodes := startNodes(t, o, 2)
	a, b := nodes[0], nodes[1]
	setSwitch(t, a.Faed, "memcache", "mc", "degraded", "memcached upgrade")
	start := time.Now()
	waitSwitches(t, b.Faed, `"name": "memcache:mc"`, start)
	if _, err := b.fun.McGet(t.Context(), rc, "mc", "k"); err == nil || !strings.Contains(err.Error(), "memcached upgrade") {
		t.Errorf("mc_get through the other node: %v, want refused by the switch", err)
	}
	setSwitch(t, b.Faed, "memcache", "mc", "off", "")
	waitSwitches(t, a.Faed, `"switches": []`, time.Now())
	if _, err := a.fun.McSet(t.Context(), rc, "mc", "k", &rpc.TMemcacheData{Data: []byte("v")}, 0); err != nil {
		t.Errorf("mc_set through the first node after the other lifted the switch: %v", err)
	}
}

// waitSwitches polls d's GET /degrade until it contains want, for at most a
// second after since.
func waitSwitches(t *testing.T, d *testserver.Faed, want string, since time.Time) {
	t.Helper()
	testserver.EventuallyNil(t, d.TCP+"'s GET /degrade to show "+want, time.Second-time.Since(since), func() error {
		if got := string(adminGet(t, d, "/degrade")); !strings.Contains(got, want) {
			return fmt.Errorf("GET /degrade: %s", got)
		}
		return nil
	})
	t.Logf("%s followed in %v", d.TCP, time.Since(since).Round(time.Millisecond))
}
