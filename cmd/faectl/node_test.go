package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faed/faed/scripts/testserver"
)

// One faed without ZooKeeper serves every single-node test; stop has its own.
func TestOneNode(t *testing.T) {
	n := testserver.StartFaed(t, t.TempDir(), "")
	t.Run("ping over tcp and unix", func(t *testing.T) { testPing(t, n) })
	t.Run("stats shows the calls made", func(t *testing.T) { testStats(t, n) })
	t.Run("top shows the calls of each interval", func(t *testing.T) { testTop(t, n) })
	t.Run("cluster commands say the node is not clustered", func(t *testing.T) { testNotClustered(t, n) })
}

func testPing(t *testing.T, n *testserver.Faed) {
	for _, addr := range []string{"tcp:" + n.TCP, "unix:" + n.Unix, n.TCP} {
		out := mustRun(t, "ping", "-addr", addr)
		f := row(out, addr)
		if len(f) < 4 || f[1] != "ok" || !strings.HasPrefix(f[3], "ver:") || !strings.Contains(out, ", uptime:") {
			t.Errorf("ping -addr %s printed %q; want %q ok <rtt> ver:…, build:…, myid:…, uptime:…", addr, out, addr)
			continue
		}
		if rtt, err := time.ParseDuration(f[2]); err != nil || rtt <= 0 {
			t.Errorf("ping -addr %s: round-trip time %q: want a positive duration", addr, f[2])
		}
	}
}

func testStats(t *testing.T, n *testserver.Faed) {
	before := pingCount(t, n)
	for range 3 {
		mustRun(t, "ping", "-addr", "unix:"+n.Unix)
	}
	want := strconv.Itoa(before + 3)
	var out string
	testserver.Eventually(t, "stats to count 3 more pings", 5*time.Second, func() bool {
		out = mustRun(t, "-admin", n.HTTP, "stats")
		f := row(out, "ping")
		return len(f) == 5 && f[1] == want
	})
	for _, s := range []string{"node      " + n.HTTP, "uptime", "sessions", "qps       1m", "top calls by count:"} {
		if !strings.Contains(out, s) {
			t.Errorf("stats summary lacks %q:\n%s", s, out)
		}
	}
	if f := row(out, "ping"); f[2] != "0" {
		t.Errorf("ping errors = %s, want 0:\n%s", f[2], out)
	}
}

func testTop(t *testing.T, n *testserver.Faed) {
	done := make(chan struct{})
	pinged := make(chan struct{})
	go func() {
		defer close(pinged)
		for i := 0; i < 200; i++ { // bounded: top's two screens take 0.4s
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			faectl("ping", "-addr", "unix:"+n.Unix)
		}
	}()
	out := mustRun(t, "-admin", n.HTTP, "top", "-n", "2", "-interval", "200ms")
	close(done)
	<-pinged
	if got := strings.Count(out, "faectl top  "+n.HTTP); got != 2 {
		t.Errorf("top -n 2 printed %d screens, want 2:\n%s", got, out)
	}
	f := row(out, "ping")
	if len(f) != 6 {
		t.Fatalf("top shows no ping row (CALL CALLS/S ERRORS/S P50 P99 TOTAL):\n%s", out)
	}
	if rate, err := strconv.ParseFloat(f[1], 64); err != nil || rate <= 0 {
		t.Errorf("ping calls/s %q, want a positive rate:\n%s", f[1], out)
	}
	if !strings.Contains(out, "calls/s ") || !strings.Contains(out, "sessions ") {
		t.Errorf("top lacks the node's calls/s and sessions line:\n%s", out)
	}
	if r := faectl("top", "-interval", "0"); r.code != 2 {
		t.Errorf("top -interval 0: exit %d, want 2 (usage)", r.code)
	}
}

// pingCount reads the ping count from stats -json.
func pingCount(t *testing.T, n *testserver.Faed) int {
	t.Helper()
	var st nodeStats
	if err := json.Unmarshal([]byte(mustRun(t, "stats", "-json", "-admin", n.HTTP)), &st); err != nil {
		t.Fatalf("stats -json is not JSON: %v", err)
	}
	for _, c := range st.Engine.PerCall {
		if c.Name == "ping" {
			return int(c.Count)
		}
	}
	return 0
}

func testNotClustered(t *testing.T, n *testserver.Faed) {
	for _, args := range [][]string{{"map", "-keys", "a,b"}, {"rebalance"}, {"drain", "127.0.0.1:1"}} {
		r := faectl(append([]string{"-admin", n.HTTP}, args...)...)
		if r.code != 1 || !strings.Contains(r.err, "this node is not in a cluster") || r.out != "" {
			t.Errorf("faectl %s: exit %d, stdout %q, stderr %q; want exit 1 saying the node is not in a cluster",
				strings.Join(args, " "), r.code, r.out, r.err)
		}
	}
	want := "node " + n.HTTP + " is not in a cluster: no cluster section in /stats"
	for _, args := range [][]string{{"members"}, {"ping", "-all"}} {
		r := faectl(append([]string{"-admin", n.HTTP}, args...)...)
		if r.code != 1 || !strings.Contains(r.err, want) || r.out != "" {
			t.Errorf("faectl %s: exit %d, stdout %q, stderr %q; want exit 1 and %q",
				strings.Join(args, " "), r.code, r.out, r.err, want)
		}
	}
}

func TestUnreachable(t *testing.T) {
	closed := testserver.FreePort(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"stats", []string{"-admin", closed, "stats"}, "node " + closed + " is unreachable"},
		{"members", []string{"members", "-admin", closed}, "node " + closed + " is unreachable"},
		{"ping -all", []string{"-admin", closed, "ping", "-all"}, "node " + closed + " is unreachable"},
		{"ping", []string{"ping", "-addr", "tcp:" + closed}, "ping tcp:" + closed + ":"},
		{"ping unix", []string{"ping", "-addr", "unix:" + t.TempDir() + "/none.sock"}, "none.sock"},
		{"bad address", []string{"ping", "-addr", "nowhere"}, `"nowhere": want tcp:host:port`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := faectl(tt.args...)
			if r.code != 1 || !strings.Contains(r.err, tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit 1 and %q", r.code, r.err, tt.want)
			}
		})
	}
}

func TestTimeoutBoundsACall(t *testing.T) {
	// A listener that accepts and never answers: the call must give up.
	silent := startSilentListener(t)
	start := time.Now()
	r := faectl("-timeout", "200ms", "ping", "-addr", "tcp:"+silent)
	if r.code != 1 || !strings.Contains(r.err, "timeout") {
		t.Fatalf("exit %d, stderr %q; want exit 1 and a timeout", r.code, r.err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("ping took %v with -timeout 200ms", took)
	}
}

func TestStop(t *testing.T) {
	n := testserver.StartFaed(t, t.TempDir(), "")
	r := faectl("-admin", n.HTTP, "stop")
	if r.code != 2 || !strings.Contains(r.err, "without -yes") {
		t.Fatalf("stop without -yes: exit %d, stderr %q; want exit 2 and a refusal", r.code, r.err)
	}
	if !n.Answers() {
		t.Fatal("the node stopped although -yes was not given")
	}
	out := mustRun(t, "stop", "-admin", n.HTTP, "-yes")
	if !strings.Contains(out, "node "+n.HTTP+" is stopping") {
		t.Fatalf("stop -yes printed %q", out)
	}
	select {
	case <-n.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("faed did not exit within 15s of stop -yes")
	}
	if err := n.Err(); err != nil {
		t.Fatalf("faed exit after stop: %v, want status 0", err)
	}
}
