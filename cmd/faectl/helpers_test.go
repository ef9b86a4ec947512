package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// faedBin is the daemon, built once by TestMain; the tests run it as a child
// process, as operators do.
var faedBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "faectl-test")
	if err != nil {
		panic(err)
	}
	faedBin = filepath.Join(dir, "faed")
	if out, err := exec.Command("go", "build", "-o", faedBin, "../faed").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building faed: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// node is a faed child process listening on free loopback ports.
type node struct {
	TCP    string // host:port of the Thrift TCP listener
	Unix   string // path of the Thrift unix socket
	HTTP   string // host:port of the admin server
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
	log    *lockedBuffer
	token  string // [http] token, if set before start
	config string // its faed.toml, once started
	kvPath string
}

// startNode starts faed on a config of its own listeners plus extra TOML
// and waits until the admin server answers. The process is killed in
// t.Cleanup; its log is printed if the test failed.
func startNode(t *testing.T, extra string) *node {
	t.Helper()
	n := newNode(t)
	n.start(t, extra)
	return n
}

// newNode picks a node's ports and socket path without starting it.
func newNode(t *testing.T) *node {
	t.Helper()
	return &node{TCP: freePort(t), HTTP: freePort(t), Unix: filepath.Join(t.TempDir(), "faed.sock"),
		exited: make(chan struct{}), log: &lockedBuffer{}}
}

// start is startNode for a node from newNode.
func (n *node) start(t *testing.T, extra string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "faed.toml")
	n.config, n.kvPath = path, filepath.Join(dir, "kv.db")
	writeConfig(t, path, n, n.kvPath, extra)
	n.cmd = exec.Command(faedBin, "-config", path)
	n.cmd.Stderr = n.log
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		n.cmd.Wait()
		close(n.exited)
	}()
	t.Cleanup(func() {
		n.cmd.Process.Kill()
		<-n.exited
		if t.Failed() {
			t.Logf("faed %s log:\n%s", n.TCP, n.log.String())
		}
	})
	waitFor(t, 10*time.Second, "faed to answer on "+n.HTTP, n.answers)
}

func writeConfig(t *testing.T, path string, n *node, kvPath, extra string) {
	t.Helper()
	cfg := fmt.Sprintf(`
[engine]
listen = ["tcp:%s", "unix:%s"]
[http]
listen = %q
token = %q
[servant.kvdb]
path = %q
%s`, n.TCP, n.Unix, n.HTTP, n.token, kvPath, extra)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

// answers reports whether the node's admin server answers GET /ping.
func (n *node) answers() bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + n.HTTP + "/ping")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// lockedBuffer collects a child's stderr; the test reads it while the child
// may still write.
type lockedBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// result is what one faectl invocation printed and returned.
type result struct {
	out, err string
	code     int
}

// faectl runs a command line in-process.
func faectl(args ...string) result {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return result{out: out.String(), err: errOut.String(), code: code}
}

// mustRun runs a command line that must succeed and returns its output.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	r := faectl(args...)
	if r.code != 0 {
		t.Fatalf("faectl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.out, r.err)
	}
	return r.out
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// row returns the fields of the first line of out whose first field is
// first, or nil.
func row(out, first string) []string {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 0 && f[0] == first {
			return f
		}
	}
	return nil
}
