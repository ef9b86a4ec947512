package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/scripts/testserver"

	"github.com/apache/thrift/lib/go/thrift"
)

func TestMain(m *testing.M) { testserver.MainWithFaed(m) }

// faedWait bounds the waits on a faed child: a -race child started while
// the whole suite runs on two cores once took more than 10s to answer at
// all (an empty log).
const faedWait = 30 * time.Second

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
			out, err := exec.Command(testserver.FaedBinary(t), "-check", path).CombinedOutput()
			if (err == nil) != tt.ok || !strings.Contains(string(out), tt.mention) {
				t.Fatalf("faed -check: err %v, output %q; want ok=%v mentioning %q", err, out, tt.ok, tt.mention)
			}
		})
	}
}

func TestFullExampleConfigIsValid(t *testing.T) {
	out, err := exec.Command(testserver.FaedBinary(t), "-check", "../../etc/faed.full.toml").CombinedOutput()
	if err != nil {
		t.Fatalf("etc/faed.full.toml: %v: %s", err, out)
	}
}

func TestSigtermDrainsAndExitsZero(t *testing.T) {
	d := testserver.StartFaed(t, t.TempDir(), "")
	c := goClient(t, "unix", d.Unix)
	if v, err := c.Ping(context.Background(), rc); err != nil || !strings.HasPrefix(v, "ver:") {
		t.Fatalf("ping = %q, %v", v, err)
	}
	if err := d.Stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("faed exit after SIGTERM: %v, want status 0", err)
	}
	if _, err := os.Stat(d.Unix); err == nil {
		t.Errorf("unix socket %s left behind after shutdown", d.Unix)
	}
}

func TestKvdbSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	d := testserver.StartFaed(t, dir, "")
	c := goClient(t, "tcp", d.TCP)
	if ok, err := c.KvdbSet(context.Background(), rc, []byte("persist"), []byte("me")); err != nil || !ok {
		t.Fatalf("kvdb_set = %v, %v", ok, err)
	}
	if err := d.Stop(t, syscall.SIGINT); err != nil {
		t.Fatalf("exit after SIGINT: %v", err)
	}
	d2 := testserver.StartFaed(t, dir, "")
	c2 := goClient(t, "tcp", d2.TCP)
	if v, err := c2.KvdbGet(context.Background(), rc, []byte("persist")); err != nil || string(v) != "me" {
		t.Fatalf("kvdb_get after restart = %q, %v", v, err)
	}
}

func TestAdminOverHTTP(t *testing.T) {
	d := testserver.StartFaed(t, t.TempDir(), "")
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
	case <-d.Done():
		if err := d.Err(); err != nil {
			t.Fatalf("exit after POST /stop: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("faed still running 15s after POST /stop")
	}
}
