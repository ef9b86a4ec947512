package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/faed/faed/scripts/testserver"
)

// Clients no one here wrote: Apache Thrift's PHP and Python libraries
// calling faed through the stubs generated from idl/fun.thrift, on both
// listeners and both transports. The scripts in testdata check every answer
// themselves and exit non-zero on the first wrong one.

// scriptClient is one language's client script and how to tell whether it
// can run on this machine.
type scriptClient struct {
	lang    string   // as the script labels its output
	argv    []string // interpreter and script; address, transport and worker id follow
	probe   []string // exits 0 when the interpreter and its Thrift library are installed
	install string   // what is missing when probe fails
}

// clientWorkerID is the idgen worker id the client tests run faed with, so
// the scripts can check that id_decode gives it back.
const clientWorkerID = "9"

func TestPHPClient(t *testing.T) { runClientScripts(t, phpClient()) }

func phpClient() scriptClient {
	return scriptClient{
		lang: "php",
		argv: []string{"php", "testdata/client.php"},
		probe: []string{"php", "-r", `require "../../idl/php/autoload.php";
			if (!class_exists("Thrift\\Transport\\TSocket")) {
				echo "no Thrift\\Transport\\TSocket under ", getenv("FAE_THRIFT_LIB") ?: "/usr/lib/php";
				exit(3);
			}`},
		install: "php-cli and php-thrift",
	}
}

func TestPythonClient(t *testing.T) {
	runClientScripts(t, scriptClient{
		lang:    "python",
		argv:    []string{"/usr/bin/python3", "testdata/client.py"},
		probe:   []string{"/usr/bin/python3", "-c", "import thrift.transport.TSocket"},
		install: "/usr/bin/python3 with python3-thrift",
	})
}

// runClientScripts starts one faed and runs the script on every listener
// and transport, then checks that faed counted the calls.
func runClientScripts(t *testing.T, c scriptClient) {
	requireInstalled(t, c)
	d := testserver.StartFaed(t, t.TempDir(), "[servant.idgen]\nworker_id = "+clientWorkerID+"\n")
	addrs := []struct{ network, addr string }{{"tcp", "tcp:" + d.TCP}, {"unix", "unix:" + d.Unix}}
	runs := 0
	for _, a := range addrs {
		for _, transport := range []string{"buffered", "framed"} {
			runs++
			t.Run(a.network+"/"+transport, func(t *testing.T) {
				out := runScript(t, c, a.addr, transport)
				want := c.lang + " " + a.network + " " + transport + ": "
				if !strings.HasPrefix(out, want) || !strings.Contains(out, "checks ok") {
					t.Fatalf("output %q, want a line starting %q and saying the checks are ok", out, want)
				}
				t.Log(strings.TrimSpace(out))
			})
		}
	}
	if t.Failed() {
		return
	}
	// Each run makes three lc_set calls, one of them with a key over the
	// limit, and one mc_get, which fails: memcache is not configured.
	calls := callStats(t, d)
	checkCalls(t, calls, "lc_set", 3*runs, runs)
	checkCalls(t, calls, "mc_get", runs, runs)
	checkCalls(t, calls, "id_next_with_tag", 2*runs, runs)
}

// requireInstalled skips the test when the interpreter or its Thrift
// library is missing, or fails it when FAED_REQUIRE_SERVERS is set
// (as `make test` does after installing them).
func requireInstalled(t *testing.T, c scriptClient) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, c.probe[0], c.probe[1:]...).CombinedOutput()
	if err == nil {
		return
	}
	detail := err.Error()
	if s := strings.TrimSpace(string(out)); s != "" {
		detail += ": " + s
	}
	msg := c.install + " not usable here (" + detail + "); `make test` installs it"
	if os.Getenv("FAED_REQUIRE_SERVERS") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// runScript runs the client script against addr and returns its output,
// failing the test with that output if the script exits non-zero.
func runScript(t *testing.T, c scriptClient, addr, transport string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	args := append(c.argv[1:len(c.argv):len(c.argv)], addr, transport, clientWorkerID)
	out, err := exec.CommandContext(ctx, c.argv[0], args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %s still running after 60s; output so far:\n%s", c.lang, strings.Join(args, " "), out)
	}
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", c.lang, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// callCount is one entry of the engine's per-call stats.
type callCount struct {
	Count, Errors int
}

// callStats reads the per-call counters from faed's GET /stats.
func callStats(t *testing.T, d *testserver.Faed) map[string]callCount {
	t.Helper()
	resp, err := http.Get("http://" + d.HTTP + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var stats struct {
		Engine struct {
			PerCall []struct {
				Name   string `json:"name"`
				Count  int    `json:"count"`
				Errors int    `json:"errors"`
			} `json:"per_call"`
		} `json:"engine"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
		t.Fatalf("GET /stats: %v", err)
	}
	calls := make(map[string]callCount)
	for _, c := range stats.Engine.PerCall {
		calls[c.Name] = callCount{c.Count, c.Errors}
	}
	return calls
}

func checkCalls(t *testing.T, calls map[string]callCount, name string, count, errors int) {
	t.Helper()
	if got, want := calls[name], (callCount{count, errors}); got != want {
		t.Errorf("/stats %s: %d calls, %d errors; want %d calls, %d errors (all stats: %v)",
			name, got.Count, got.Errors, want.Count, want.Errors, calls)
	}
}

// TestPHPReconnects runs testdata/reconnect.php against a faed that closes
// idle connections after 200ms: the PHP helper must open them again where
// that is safe, and only there.
func TestPHPReconnects(t *testing.T) {
	c := phpClient()
	requireInstalled(t, c)
	d := testserver.StartFaed(t, t.TempDir(), "[engine]\nidle_timeout = \"200ms\"\n")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "php", "testdata/reconnect.php", "tcp:"+d.TCP, "unix:"+d.Unix, "600").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "checks ok") {
		t.Fatalf("php reconnect.php: %v\n%s", err, out)
	}
	t.Log(strings.TrimSpace(string(out)))
}
