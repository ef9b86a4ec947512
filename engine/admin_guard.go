package engine

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
)

// minTokenLen is the shortest admin token accepted; `openssl rand -hex 32`
// makes a good one.
const minTokenLen = 16

// token returns the admin token from Token or TokenFile, "" when neither is
// set. Errors name the key and never contain the token.
func (c AdminConfig) token() (string, error) {
	switch {
	case c.Token != "" && c.TokenFile != "":
		return "", errors.New("token, token_file: set one of them, not both")
	case c.TokenFile != "":
		b, err := os.ReadFile(c.TokenFile)
		if err != nil {
			return "", fmt.Errorf("token_file: %w", err)
		}
		return checkToken("token_file", strings.TrimSpace(string(b)))
	case c.Token != "":
		return checkToken("token", string(c.Token))
	}
	return "", nil
}

// checkToken returns tok if it can be sent in a header and is long enough.
func checkToken(key, tok string) (string, error) {
	if len(tok) < minTokenLen {
		return "", fmt.Errorf("%s: want at least %d characters, got %d", key, minTokenLen, len(tok))
	}
	for _, r := range tok {
		if r <= ' ' || r > '~' {
			return "", fmt.Errorf("%s: want printable ASCII without spaces", key)
		}
	}
	return tok, nil
}

// isLoopbackHost reports whether host (no port, no brackets) is a loopback
// IP literal or localhost. Other names are not resolved: what a name
// resolves to is exactly what DNS rebinding changes.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// changing guards an endpoint that changes the daemon (stop today; reload,
// degrade, rebalance and drain later); every such endpoint is registered
// through it. It refuses a cross-site browser request (a form or script on
// any page the operator opens, which a browser marks with Sec-Fetch-Site or
// Origin) with 403, and, when a token is set, a request without the right
// one with 401. Requests carrying neither browser header (curl, faectl)
// pass the first check.
func (a *Admin) changing(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := a.csrf.Check(r); err != nil {
			refuse(w, r, http.StatusForbidden, "cross-origin request refused: "+err.Error())
			return
		}
		if a.token != "" && !a.hasToken(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="faed admin"`)
			refuse(w, r, http.StatusUnauthorized, "missing or wrong token: send Authorization: Bearer <the [http] token>")
			return
		}
		h(w, r)
	})
}

// hasToken reports whether r carries "Authorization: Bearer <token>".
func (a *Admin) hasToken(r *http.Request) bool {
	scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	// Comparing digests takes the same time whatever the length or the
	// bytes of what was sent, so timing tells nothing about the token.
	want := sha256.Sum256([]byte(a.token))
	have := sha256.Sum256([]byte(strings.TrimSpace(got)))
	return subtle.ConstantTimeCompare(want[:], have[:]) == 1
}

// addressedHere defeats DNS rebinding, which CrossOriginProtection cannot
// see: a page on an attacker's name that re-resolves to 127.0.0.1 is
// same-origin to the browser, so its requests pass as the operator's own,
// and it can read the answers (GET /config, /stats, pprof) as well as POST.
// Its Host header still carries the attacker's name, though. So without a
// token every request, reads included, must be addressed to a loopback IP
// literal, localhost or the configured listen host, or it gets 403. With a
// token the server may listen anywhere under any name, and a rebound page
// cannot change anything because it does not know the token.
func (a *Admin) addressedHere(next http.Handler) http.Handler {
	if a.token != "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.knownHost(r.Host) {
			refuse(w, r, http.StatusForbidden, fmt.Sprintf("host %q refused: without an [http] token the admin server answers only requests addressed to a loopback host", r.Host))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// knownHost reports whether the Host header hostport (port optional) names
// this server in a way rebinding cannot produce. An empty one (HTTP/1.0)
// passes: browsers always send Host.
func (a *Admin) knownHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
	}
	listenHost, _, _ := net.SplitHostPort(a.cfg.Listen)
	return hostport == "" || isLoopbackHost(host) || (listenHost != "" && strings.EqualFold(host, listenHost))
}

// refuse answers a refused request with a JSON error and logs it, so that
// operators see attempts.
func refuse(w http.ResponseWriter, r *http.Request, code int, msg string) {
	slog.Warn("admin: request refused", "method", r.Method, "path", r.URL.Path, "host", r.Host,
		"origin", r.Header.Get("Origin"), "remote", r.RemoteAddr, "status", code)
	writeError(w, code, msg)
}
