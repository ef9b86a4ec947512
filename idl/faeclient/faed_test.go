package faeclient

import (
	"encoding/json"
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

// A faed child process for the tests, as cmd/faed's and cmd/faectl's tests
// start theirs (a shared test toolkit will replace the three).

// faedBin is the daemon, built once by TestMain.
var faedBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "faeclient-test")
	if err != nil {
		panic(err)
	}
	faedBin = filepath.Join(dir, "faed")
	if out, err := exec.Command("go", "build", "-o", faedBin, "github.com/faed/faed/cmd/faed").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building faed: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// daemon is a faed child listening on a free loopback port and a unix
// socket.
type daemon struct {
	TCP    string // "tcp:host:port", as Config.Addr spells it
	Unix   string // "unix:/path"
	HTTP   string // host:port of the admin server
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
	log    *lockedBuffer
}

// startFaed starts faed with engineKeys in its [engine] table and extra
// TOML after it, and returns once its admin server answers. It is killed
// in t.Cleanup; its log is printed if the test failed.
func startFaed(t *testing.T, engineKeys, extra string) *daemon {
	t.Helper()
	dir := t.TempDir()
	tcp, sock := freePort(t), filepath.Join(dir, "faed.sock")
	d := &daemon{TCP: "tcp:" + tcp, Unix: "unix:" + sock, HTTP: freePort(t), exited: make(chan struct{}), log: &lockedBuffer{}}
	cfg := fmt.Sprintf(`
[engine]
listen = ["tcp:%s", "unix:%s"]
%s
[http]
listen = %q
[servant.kvdb]
path = %q
%s`, tcp, sock, engineKeys, d.HTTP, filepath.Join(dir, "kv.db"), extra)
	path := filepath.Join(dir, "faed.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	d.cmd = exec.Command(faedBin, "-config", path)
	d.cmd.Stderr = d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		<-d.exited
		if t.Failed() {
			t.Logf("faed log:\n%s", d.log.String())
		}
	})
	waitFor(t, "faed to answer on "+d.HTTP, func() bool { _, err := d.sessions(); return err == nil })
	return d
}

// kill kills faed with SIGKILL and waits until it is gone.
func (d *daemon) kill(t *testing.T) {
	t.Helper()
	d.cmd.Process.Kill()
	select {
	case <-d.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("faed still running 15s after SIGKILL")
	}
}

// sessions returns how many client connections faed has open, from its
// /stats.
func (d *daemon) sessions() (int, error) {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + d.HTTP + "/stats")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var stats struct {
		Engine struct {
			SessionsActive int `json:"sessions_active"`
		} `json:"engine"`
	}
	err = json.NewDecoder(resp.Body).Decode(&stats)
	return stats.Engine.SessionsActive, err
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

// waitFor polls cond until it holds, failing the test after 30s (a -race
// child on two busy cores can take more than 10s to answer at all).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lockedBuffer collects a child's stderr; the test reads it while the child
// may still write.
type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
