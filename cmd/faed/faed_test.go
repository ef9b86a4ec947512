package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"

	"github.com/apache/thrift/lib/go/thrift"
)

// faedBin is the daemon built once by TestMain for the tests that run it as
// a child process, the way operators and CI do.
var faedBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "faed-bin")
	if err != nil {
		panic(err)
	}
	faedBin = filepath.Join(dir, "faed")
	out, err := exec.Command("go", "build", "-o", faedBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building faed: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// daemon is a faed child process on free loopback ports.
type daemon struct {
	cmd    *exec.Cmd
	dir    string
	TCP    string // host:port of the Thrift TCP listener
	Unix   string // path of the unix socket
	HTTP   string // host:port of the admin server
	Log    *logBuffer
	exited chan error
	gone   chan struct{} // closed once the process has exited and its log is complete
}

// logBuffer is a child's log, appended by the goroutine reading its stderr
// and read by tests while the child runs.
type logBuffer struct {
	// mu guards b.
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) WriteString(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(s)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// engineSection takes the keys of an [engine] table out of an extra TOML,
// up to the next table, so that they join the launcher's own [engine]
// table (TOML refuses a table defined twice).
func engineSection(extra string) (keys, rest string) {
	before, body, ok := strings.Cut("\n"+extra, "\n[engine]\n")
	if !ok {
		return "", extra
	}
	after := ""
	if i := strings.Index(body, "\n["); i >= 0 {
		body, after = body[:i+1], body[i+1:]
	}
	return body, before + "\n" + after
}

// startFaed writes a config (the extra TOML is appended, with {{TCP}}
// replaced by the daemon's TCP address) into dir and starts faed on it,
// returning once its admin port answers; it is killed in t.Cleanup if still
// running. Pass the same dir again to restart on the same data.
func startFaed(t *testing.T, dir, extra string) *daemon {
	t.Helper()
	d := launchFaed(t, dir, extra)
	waitUntil(t, "faed to answer on its admin port", func() bool { return pingAdmin(d) })
	return d
}

// pingAdmin reports whether d's admin port answers GET /ping.
func pingAdmin(d *daemon) bool {
	resp, err := http.Get("http://" + d.HTTP + "/ping")
	if err == nil {
		resp.Body.Close()
	}
	return err == nil
}

// launchFaed is startFaed without waiting for the daemon to serve.
func launchFaed(t *testing.T, dir, extra string) *daemon {
	t.Helper()
	d := &daemon{dir: dir, TCP: freePort(t), HTTP: freePort(t), Unix: filepath.Join(dir, "faed.sock"), Log: &logBuffer{}, exited: make(chan error, 1), gone: make(chan struct{})}
	d.writeConfig(t, extra)
	spawn(t, d)
	return d
}

// writeConfig writes d's faed.toml: its listeners and kvdb file, and the
// extra TOML with {{TCP}} replaced by d's TCP address.
func (d *daemon) writeConfig(t *testing.T, extra string) {
	t.Helper()
	extra = strings.ReplaceAll(extra, "{{TCP}}", d.TCP)
	engineKeys, extra := engineSection(extra)
	cfg := fmt.Sprintf(`
[engine]
listen = ["tcp:%s", "unix:%s"]
%s
[http]
listen = %q
[servant.kvdb]
path = %q
%s`, d.TCP, d.Unix, engineKeys, d.HTTP, filepath.Join(d.dir, "kv.db"), extra)
	if err := os.WriteFile(filepath.Join(d.dir, "faed.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

// restart starts faed again on the config and data of d, which must have
// exited: same dir, same addresses, so a cluster node comes back as the
// member it was. It returns once the admin port answers.
func (d *daemon) restart(t *testing.T) *daemon {
	t.Helper()
	again := &daemon{dir: d.dir, TCP: d.TCP, HTTP: d.HTTP, Unix: d.Unix, Log: &logBuffer{}, exited: make(chan error, 1), gone: make(chan struct{})}
	spawn(t, again)
	waitUntil(t, "restarted faed to answer on its admin port", func() bool { return pingAdmin(again) })
	return again
}

// spawn runs faed on d.dir's faed.toml, collects its log, and kills it in
// t.Cleanup if still running.
func spawn(t *testing.T, d *daemon) {
	t.Helper()
	d.cmd = exec.Command(faedBin, "-config", filepath.Join(d.dir, "faed.toml"))
	stderr, _ := d.cmd.StderrPipe()
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			d.Log.WriteString(s.Text() + "\n")
		}
	}()
	go func() {
		<-logDone
		d.exited <- d.cmd.Wait()
		close(d.gone)
	}()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		if t.Failed() {
			// Reading the log while the scanner still appends to it would race.
			select {
			case <-d.gone:
			case <-time.After(5 * time.Second):
			}
			t.Logf("faed %s log:\n%s", d.TCP, d.Log.String())
		}
	})
}

// kill9 kills faed with SIGKILL, as a crash would, and waits until it is gone.
func (d *daemon) kill9(t *testing.T) {
	t.Helper()
	d.cmd.Process.Kill()
	select {
	case <-d.gone:
	case <-time.After(15 * time.Second):
		t.Fatal("faed still running 15s after SIGKILL")
	}
}

// stop sends sig and waits for the exit status.
func (d *daemon) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	d.cmd.Process.Signal(sig)
	select {
	case err := <-d.exited:
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("faed did not exit within 15s")
		return nil
	}
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

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	// 30s: a -race child started while the whole suite runs on two cores
	// once took more than 10s to answer at all (an empty log).
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// goClient is the generated Go client on a buffered binary connection.
func goClient(t *testing.T, network, addr string) *rpc.FunServantClient {
	t.Helper()
	conn, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	trans := thrift.NewTBufferedTransport(thrift.NewTSocketFromConnConf(conn, nil), 4096)
	p := thrift.NewTBinaryProtocolConf(trans, nil)
	return rpc.NewFunServantClient(thrift.NewTStandardClient(p, p))
}

var rc = &rpc.Context{Rid: 42, Reason: "test.case", UID: 7}

func TestCheckFlag(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, toml string
		ok         bool
		mention    string
	}{
		{"default file", "", true, "ok"},
		{"ignored virtual_nodes still loads", "[cluster]\nvirtual_nodes = 160\n", true, "ok"},
		{"unknown key", "[engine]\nlisten_on = [\"tcp:127.0.0.1:1\"]\n", false, "engine.listen_on"},
		{"unknown section", "[servant.redis]\nhost = \"x\"\n", false, "servant.redis"},
		{"bad duration", "[engine]\nidle_timeout = \"soon\"\n", false, "idle_timeout"},
		{"negative value", "[engine]\nmax_outstanding_sessions = 0\n", false, "max_outstanding_sessions"},
		{"bad listener", "[engine]\nlisten = [\"udp:127.0.0.1:1\"]\n", false, "listen"},
		{"worker id out of range", "[servant.idgen]\nworker_id = 32\n", false, "worker_id"},
		{"syntax error", "[engine\n", false, "faed.toml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "../../etc/faed.toml"
			if tt.toml != "" {
				path = filepath.Join(dir, "faed.toml")
				os.WriteFile(path, []byte(tt.toml), 0o644)
			}
			out, err := exec.Command(faedBin, "-check", path).CombinedOutput()
			if (err == nil) != tt.ok || !strings.Contains(string(out), tt.mention) {
				t.Fatalf("faed -check: err %v, output %q; want ok=%v mentioning %q", err, out, tt.ok, tt.mention)
			}
		})
	}
}

func TestFullExampleConfigIsValid(t *testing.T) {
	out, err := exec.Command(faedBin, "-check", "../../etc/faed.full.toml").CombinedOutput()
	if err != nil {
		t.Fatalf("etc/faed.full.toml: %v: %s", err, out)
	}
}

func TestSigtermDrainsAndExitsZero(t *testing.T) {
	d := startFaed(t, t.TempDir(), "")
	c := goClient(t, "unix", d.Unix)
	if v, err := c.Ping(context.Background(), rc); err != nil || !strings.HasPrefix(v, "ver:") {
		t.Fatalf("ping = %q, %v", v, err)
	}
	if err := d.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("faed exit after SIGTERM: %v, want status 0", err)
	}
	if _, err := os.Stat(d.Unix); err == nil {
		t.Errorf("unix socket %s left behind after shutdown", d.Unix)
	}
}

func TestKvdbSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	d := startFaed(t, dir, "")
	c := goClient(t, "tcp", d.TCP)
	if ok, err := c.KvdbSet(context.Background(), rc, []byte("persist"), []byte("me")); err != nil || !ok {
		t.Fatalf("kvdb_set = %v, %v", ok, err)
	}
	if err := d.stop(t, syscall.SIGINT); err != nil {
		t.Fatalf("exit after SIGINT: %v", err)
	}
	d2 := startFaed(t, dir, "")
	c2 := goClient(t, "tcp", d2.TCP)
	if v, err := c2.KvdbGet(context.Background(), rc, []byte("persist")); err != nil || string(v) != "me" {
		t.Fatalf("kvdb_get after restart = %q, %v", v, err)
	}
}

func TestAdminOverHTTP(t *testing.T) {
	d := startFaed(t, t.TempDir(), "")
	c := goClient(t, "tcp", d.TCP)
	c.LcSet(context.Background(), rc, "k", []byte("v"))
	resp, err := http.Get("http://" + d.HTTP + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`"name": "lc_set"`, `"lcache"`, `"kvdb"`} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("/stats lacks %s:\n%s", want, body)
		}
	}
	resp, err = http.Post("http://"+d.HTTP+"/stop", "", nil)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /stop = %v, %v", resp, err)
	}
	select {
	case err := <-d.exited:
		if err != nil {
			t.Fatalf("exit after POST /stop: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("faed still running 15s after POST /stop")
	}
}
