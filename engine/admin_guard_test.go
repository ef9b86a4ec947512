package engine

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/faed/faed/scripts/testserver"
)

const testToken = "0123456789abcdef-test-token"

func TestAdminConfigValidate(t *testing.T) {
	dir := t.TempDir()
	goodFile := filepath.Join(dir, "token")
	os.WriteFile(goodFile, []byte("  "+testToken+"\n"), 0o600)
	emptyFile := filepath.Join(dir, "empty")
	os.WriteFile(emptyFile, []byte("\n"), 0o600)
	tests := []struct {
		name string
		cfg  AdminConfig
		err  string // "" when valid; else a part of the error
	}{
		{"default", DefaultAdminConfig(), ""},
		{"ipv4 loopback", AdminConfig{Listen: "127.0.0.5:9002"}, ""},
		{"ipv6 loopback", AdminConfig{Listen: "[::1]:9002"}, ""},
		{"localhost", AdminConfig{Listen: "localhost:9002"}, ""},
		{"all interfaces without token", AdminConfig{Listen: "0.0.0.0:9002"}, "token or token_file must be set"},
		{"empty host without token", AdminConfig{Listen: ":9002"}, "listen:"},
		{"lan address without token", AdminConfig{Listen: "10.0.0.5:9002"}, "listen:"},
		{"name without token", AdminConfig{Listen: "admin.example:9002"}, "listen:"},
		{"all interfaces with token", AdminConfig{Listen: "0.0.0.0:9002", Token: testToken}, ""},
		{"all interfaces with token_file", AdminConfig{Listen: "0.0.0.0:9002", TokenFile: goodFile}, ""},
		{"both token and token_file", AdminConfig{Listen: "127.0.0.1:9002", Token: testToken, TokenFile: goodFile}, "not both"},
		{"short token", AdminConfig{Listen: "127.0.0.1:9002", Token: "secret"}, "token: want at least 16"},
		{"token with a space", AdminConfig{Listen: "127.0.0.1:9002", Token: "0123456789 abcdef"}, "token: want printable"},
		{"missing token_file", AdminConfig{Listen: "127.0.0.1:9002", TokenFile: filepath.Join(dir, "nope")}, "token_file:"},
		{"empty token_file", AdminConfig{Listen: "0.0.0.0:9002", TokenFile: emptyFile}, "token_file: want at least 16"},
		{"no port", AdminConfig{Listen: "127.0.0.1"}, "listen: want host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("Validate() = %v, want %q", err, tt.err)
			}
			if err != nil && strings.Contains(err.Error(), testToken) {
				t.Fatalf("the error shows the token: %v", err)
			}
		})
	}
	if tok, err := (AdminConfig{TokenFile: goodFile}).token(); err != nil || tok != testToken {
		t.Fatalf("token from token_file = %q, %v; want it trimmed", tok, err)
	}
}

// adminRequest is one request to the admin server, as a browser, curl or
// faectl would send it.
type adminRequest struct {
	method, path string
	header       map[string]string // "Host" sets the Host header
	form         bool              // a form body, as an HTML form posts it
}

func (r adminRequest) do(t *testing.T, base string) (int, string) {
	t.Helper()
	var body io.Reader
	if r.form {
		body = strings.NewReader(url.Values{"x": {"1"}}.Encode())
	}
	req, err := http.NewRequest(r.method, base+r.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if r.form {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range r.header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode >= 400 && ct != "application/json" {
		t.Errorf("%s %s answered %d with Content-Type %q, want a JSON error", r.method, r.path, resp.StatusCode, ct)
	}
	return resp.StatusCode, string(b)
}

// guardCase is one request and what the admin server must do with it.
type guardCase struct {
	name  string
	req   adminRequest
	code  int
	stops bool // whether Stop must have been called
}

// runGuardCases sends each case's request to a fresh admin server on cfg
// and checks its status, whether it stopped the daemon, and that the admin
// server and the engine keep serving afterwards.
func runGuardCases(t *testing.T, cfg AdminConfig, cases []guardCase) {
	s := startServer(t, nil)
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			var stops atomic.Int32
			base := startAdmin(t, s, cfg, func() { stops.Add(1) })
			port := base[strings.LastIndex(base, ":")+1:]
			req := tt.req
			req.header = map[string]string{}
			for k, v := range tt.req.header {
				req.header[k] = strings.ReplaceAll(v, "PORT", port)
			}
			code, body := req.do(t, base)
			if code != tt.code {
				t.Fatalf("%s %s = %d %s, want %d", tt.req.method, tt.req.path, code, body, tt.code)
			}
			if !tt.stops {
				if code, _ := (adminRequest{method: "GET", path: "/ping"}).do(t, base); code != http.StatusOK {
					t.Fatalf("GET /ping after a refused request = %d", code)
				}
				if n := stops.Load(); n != 0 {
					t.Fatalf("a refused request called Stop %d times", n)
				}
				return
			}
			testserver.Eventually(t, "Stop to be called", waitLimit, func() bool { return stops.Load() == 1 })
		})
	}
	c := dial(t, "tcp", s.tcp, KindBinary)
	if _, err := c.Ping(t.Context(), rc); err != nil {
		t.Fatalf("the engine stopped serving: %v", err)
	}
}

func TestAdminRefusesCrossSiteAndRebinding(t *testing.T) {
	crossSite := map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
	runGuardCases(t, AdminConfig{}, []guardCase{
		{"cross-site form post to stop", adminRequest{"POST", "/stop", crossSite, true}, http.StatusForbidden, false},
		{"cross-site by origin only", adminRequest{"POST", "/stop", map[string]string{"Origin": "http://evil.example"}, true}, http.StatusForbidden, false},
		{"rebound page posts to stop", adminRequest{"POST", "/stop", map[string]string{
			"Host": "evil.example:PORT", "Origin": "http://evil.example:PORT", "Sec-Fetch-Site": "same-origin"}, true}, http.StatusForbidden, false},
		{"rebound page reads config", adminRequest{"GET", "/config", map[string]string{
			"Host": "evil.example:PORT", "Sec-Fetch-Site": "same-origin"}, false}, http.StatusForbidden, false},
		{"rebound page without port", adminRequest{"GET", "/stats", map[string]string{"Host": "evil.example"}, false}, http.StatusForbidden, false},
		{"same-origin page reads config", adminRequest{"GET", "/config", map[string]string{
			"Origin": "http://127.0.0.1:PORT", "Sec-Fetch-Site": "same-origin"}, false}, http.StatusOK, false},
		{"localhost host", adminRequest{"GET", "/ping", map[string]string{"Host": "localhost:PORT"}, false}, http.StatusOK, false},
		{"ipv6 loopback host", adminRequest{"GET", "/ping", map[string]string{"Host": "[::1]:PORT"}, false}, http.StatusOK, false},
		{"curl or faectl post", adminRequest{"POST", "/stop", nil, false}, http.StatusAccepted, true},
		{"same-origin post", adminRequest{"POST", "/stop", map[string]string{
			"Origin": "http://127.0.0.1:PORT", "Sec-Fetch-Site": "same-origin"}, true}, http.StatusAccepted, true},
		{"typed in the address bar", adminRequest{"POST", "/stop", map[string]string{"Sec-Fetch-Site": "none"}, false}, http.StatusAccepted, true},
	})
}

func TestAdminRequiresToken(t *testing.T) {
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	runGuardCases(t, AdminConfig{Listen: "127.0.0.1:0", Token: testToken}, []guardCase{
		{"missing", adminRequest{"POST", "/stop", nil, false}, http.StatusUnauthorized, false},
		{"wrong", adminRequest{"POST", "/stop", bearer(testToken + "x"), false}, http.StatusUnauthorized, false},
		{"prefix of the token", adminRequest{"POST", "/stop", bearer(testToken[:16]), false}, http.StatusUnauthorized, false},
		{"basic scheme", adminRequest{"POST", "/stop", map[string]string{"Authorization": "Basic " + testToken}, false}, http.StatusUnauthorized, false},
		{"right token, cross-site", adminRequest{"POST", "/stop", map[string]string{
			"Authorization": "Bearer " + testToken, "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}, true}, http.StatusForbidden, false},
		{"rebound page without the token", adminRequest{"POST", "/stop", map[string]string{
			"Host": "evil.example:PORT", "Origin": "http://evil.example:PORT", "Sec-Fetch-Site": "same-origin"}, true}, http.StatusUnauthorized, false},
		{"reads need no token", adminRequest{"GET", "/stats", nil, false}, http.StatusOK, false},
		{"right", adminRequest{"POST", "/stop", bearer(testToken), false}, http.StatusAccepted, true},
		{"right, lower-case scheme", adminRequest{"POST", "/stop", map[string]string{"Authorization": "bearer " + testToken}, false}, http.StatusAccepted, true},
	})
}

func TestAdminRefusalIsJSON(t *testing.T) {
	s := startServer(t, nil)
	base := startAdmin(t, s, AdminConfig{Token: testToken}, func() {})
	req, _ := http.NewRequest("POST", base+"/stop", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), `"error": "missing or wrong token`) ||
		!strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("POST /stop without token = %d %q, WWW-Authenticate %q", resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
	}
	if strings.Contains(string(body), testToken) {
		t.Fatalf("the refusal shows the token: %s", body)
	}
}
