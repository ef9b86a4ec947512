package engine

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// recordingCluster is a ClusterAdmin that notes what it was asked.
type recordingCluster struct {
	rebalances int
	drained    []string
	refuse     error // answered by Drain when set
}

func (c *recordingCluster) MapStats() any    { return map[string]any{"version": 7} }
func (c *recordingCluster) Rebalance() error { c.rebalances++; return nil }
func (c *recordingCluster) Drain(node string) error {
	if c.refuse != nil {
		return c.refuse
	}
	c.drained = append(c.drained, node)
	return nil
}

func startClusterAdmin(t *testing.T, c ClusterAdmin) string {
	t.Helper()
	s := startServer(t, nil)
	a, err := NewAdmin(AdminConfig{Listen: "127.0.0.1:0"}, s.e, AdminOptions{Version: "test", Cluster: c})
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

func TestAdminClusterEndpoints(t *testing.T) {
	c := &recordingCluster{}
	base := startClusterAdmin(t, c)
	for _, tt := range []struct {
		name, method, path string
		code               int
		body               string
	}{
		{"map", "GET", "/cluster/map", 200, `"version": 7`},
		{"map refuses POST", "POST", "/cluster/map", 405, `"error"`},
		{"rebalance", "POST", "/cluster/rebalance", 202, `"rebalance": "requested"`},
		{"rebalance refuses GET", "GET", "/cluster/rebalance", 405, `"error"`},
		{"drain", "POST", "/cluster/drain?node=127.0.0.1:9001", 202, `"draining": "127.0.0.1:9001"`},
		{"drain without node", "POST", "/cluster/drain", 400, "say which node"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, body := get(t, tt.method, base+tt.path)
			if code != tt.code || !strings.Contains(body, tt.body) {
				t.Fatalf("%s %s = %d %s; want %d containing %q", tt.method, tt.path, code, body, tt.code, tt.body)
			}
		})
	}
	if c.rebalances != 1 || len(c.drained) != 1 {
		t.Fatalf("cluster saw %d rebalances and drains %v; want 1 and one", c.rebalances, c.drained)
	}
	c.refuse = errors.New("node 127.0.0.1:9 is not a member")
	if code, _, body := get(t, "POST", base+"/cluster/drain?node=127.0.0.1:9"); code != http.StatusConflict || !strings.Contains(body, "not a member") {
		t.Fatalf("refused drain = %d %s; want 409 with the reason", code, body)
	}
}

func TestAdminClusterCrossSiteRefused(t *testing.T) {
	c := &recordingCluster{}
	base := startClusterAdmin(t, c)
	req, _ := http.NewRequest("POST", base+"/cluster/drain?node=127.0.0.1:9001", nil)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || len(c.drained) != 0 {
		t.Fatalf("cross-site drain = %d, drained %v; want 403 and nothing drained", resp.StatusCode, c.drained)
	}
}

func TestAdminClusterWithoutCluster(t *testing.T) {
	s := startServer(t, nil)
	base := startAdmin(t, s, AdminConfig{}, func() {})
	if code, _, body := get(t, "GET", base+"/cluster/map"); code != 404 || !strings.Contains(body, "not in a cluster") {
		t.Fatalf("GET /cluster/map on one node = %d %s; want 404 saying why", code, body)
	}
}
