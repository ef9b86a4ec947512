// Package testserver starts real backend servers and faed itself on free loopback ports for
// tests and stops them in t.Cleanup, and holds the test toolkit every package shares: polling
// (Eventually), free ports, a locked buffer and a fake clock. It owns no server configuration
// beyond what a test needs; production code must never import it.
//
// A missing server binary skips the test with a message naming the package to install, unless
// FAED_REQUIRE_SERVERS=1 (set by `make test`), which turns the skip into a failure.
package testserver

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// requireEnv is the environment variable that turns a missing server into a test failure.
const requireEnv = "FAED_REQUIRE_SERVERS"

// lookBinary returns the path of the program name, looking in PATH and then in the sbin and bin
// directories (mariadbd lives in /usr/sbin, which a non-login PATH may lack). When it is missing
// the test is skipped, or failed under FAED_REQUIRE_SERVERS=1.
func lookBinary(t testing.TB, name, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/bin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	missing(t, name+" not found in PATH, /usr/sbin or /usr/bin", pkg)
	return ""
}

// lookFile is lookBinary for a file that must exist at a fixed path, like a jar.
func lookFile(t testing.TB, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		missing(t, path+" does not exist", pkg)
	}
}

func missing(t testing.TB, what, pkg string) {
	t.Helper()
	msg := "testserver: " + what + "; install it with `apt-get update && apt-get install -y " +
		pkg + "` (make test installs it)"
	if os.Getenv(requireEnv) == "1" {
		t.Fatal(msg + " [" + requireEnv + "=1 forbids skipping]")
		return
	}
	t.Skip(msg)
}

// FreePort returns "127.0.0.1:port" for a TCP port that was free a moment ago. Another process
// may take it before the server binds it; a readiness check then fails with the log printed.
func FreePort(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
}

// freePort is FreePort's port number.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testserver: finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
