package engine

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// startAdmin serves the admin server of s on cfg (listen defaults to a
// free loopback port) and returns its base URL; stop is its Stop.
func startAdmin(t *testing.T, s *testServer, cfg AdminConfig, stop func()) string {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	a, err := NewAdmin(cfg, s.e, AdminOptions{
		Version: "test",
		Sections: map[string]func() any{"servant": func() any {
			return map[string]any{
				"lcache":   map[string]any{"hits": 3},
				"memcache": []testPool{{Name: "default", Servers: []testMcServer{{Server: "127.0.0.1:11211", Calls: 7, State: "open"}}}},
				"mysql":    testMySQL{Pools: map[string]testMySQLPool{"shard-a": {Calls: 2}, "shard-b": {Calls: 5}}},
			}
		}},
		Config: func() []byte { return []byte("[engine]\n") },
		Stop:   stop,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	go a.Serve()
	t.Cleanup(func() { a.Shutdown(context.Background()) })
	return "http://" + a.Addr().String()
}

// The shapes of the servant's stats that /metrics must label: a list of
// named pools holding a list of named servers, and a map of pools.
type testPool struct {
	Name    string
	Servers []testMcServer
}

type testMcServer struct {
	Server string
	Calls  int
	State  string
}

type testMySQL struct {
	Pools map[string]testMySQLPool `json:"pools"`
}

type testMySQLPool struct {
	Calls int `json:"calls"`
}

func get(t *testing.T, method, url string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
}

func TestAdminEndpoints(t *testing.T) {
	s := startServer(t, nil)
	stopped := make(chan struct{})
	base := startAdmin(t, s, AdminConfig{}, func() { close(stopped) })
	c := dial(t, "tcp", s.tcp, KindBinary)
	for range 5 {
		c.LcGet(context.Background(), rc, "k")
	}
	c.LcGet(context.Background(), rc, "fail")

	tests := []struct {
		name, method, path string
		code               int
		ctype, contains    string
	}{
		{"ping", "GET", "/ping", 200, "application/json", `"ok": true`},
		{"stats", "GET", "/stats", 200, "application/json", `"name": "lc_get"`},
		{"runtime", "GET", "/runtime", 200, "application/json", `"goroutines"`},
		{"config", "GET", "/config", 200, "application/toml", "[engine]"},
		{"metrics", "GET", "/metrics", 200, "text/plain", `faed_calls_total{call="lc_get"} 6`},
		{"metrics of a section", "GET", "/metrics", 200, "text/plain", "faed_servant_lcache_hits 3"},
		{"metrics of a list", "GET", "/metrics", 200, "text/plain", `faed_servant_memcache_servers_calls{pool="default",server="127.0.0.1:11211"} 7`},
		{"breaker state as a number", "GET", "/metrics", 200, "text/plain", `faed_servant_memcache_servers_state{pool="default",server="127.0.0.1:11211"} 2`},
		{"metrics of a map", "GET", "/metrics", 200, "text/plain", `faed_servant_mysql_pools_calls{pool="shard-b"} 5`},
		{"pprof", "GET", "/debug/pprof/goroutine?debug=1", 200, "text/plain", "goroutine"},
		{"unknown path", "GET", "/nope", 404, "application/json", `"error"`},
		{"stop needs POST", "GET", "/stop", 405, "application/json", `"error"`},
		{"stats refuses POST", "POST", "/stats", 405, "application/json", `"error"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, ctype, body := get(t, tt.method, base+tt.path)
			if code != tt.code || !strings.HasPrefix(ctype, tt.ctype) || !strings.Contains(body, tt.contains) {
				t.Fatalf("%s %s = %d %s\n%s\nwant %d %s containing %q", tt.method, tt.path, code, ctype, body, tt.code, tt.ctype, tt.contains)
			}
		})
	}

	var stats struct {
		Engine Snapshot `json:"engine"`
	}
	_, _, body := get(t, "GET", base+"/stats")
	if err := json.Unmarshal([]byte(body), &stats); err != nil {
		t.Fatal(err)
	}
	if stats.Engine.Calls != 6 || stats.Engine.Errors != 1 || stats.Engine.SessionsActive != 1 {
		t.Fatalf("stats: calls %d errors %d active %d, want 6, 1, 1", stats.Engine.Calls, stats.Engine.Errors, stats.Engine.SessionsActive)
	}

	if code, _, _ := get(t, "POST", base+"/stop"); code != http.StatusAccepted {
		t.Fatalf("POST /stop = %d", code)
	}
	select {
	case <-stopped:
	case <-time.After(2 * time.Second):
		t.Fatal("POST /stop did not call Stop")
	}
}
