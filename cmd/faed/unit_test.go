package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faed/faed/engine"
	"github.com/faed/faed/scripts/testserver"
)

// TestSystemdUnit keeps etc/faed.service in line with the daemon: reload is
// SIGHUP, stop is SIGTERM with time for the drain, descriptors enough for
// the default session bound, the configuration checked before the start;
// and systemd itself accepts the unit where systemd-analyze is installed.
func TestSystemdUnit(t *testing.T) {
	const path = "../../etc/faed.service"
	keys := unitKeys(t, path)
	def := engine.DefaultConfig()
	if got := keys["ExecReload"]; !strings.Contains(got, "kill -HUP $MAINPID") {
		t.Errorf("ExecReload = %q; want SIGHUP to $MAINPID", got)
	}
	if got := keys["KillSignal"]; got != "SIGTERM" {
		t.Errorf("KillSignal = %q; want SIGTERM (the drain)", got)
	}
	if stop, err := strconv.Atoi(keys["TimeoutStopSec"]); err != nil || time.Duration(stop)*time.Second <= def.ShutdownTimeout {
		t.Errorf("TimeoutStopSec = %q; want seconds above shutdown_timeout %v", keys["TimeoutStopSec"], def.ShutdownTimeout)
	}
	if n, err := strconv.Atoi(keys["LimitNOFILE"]); err != nil || n <= def.MaxOutstandingSessions {
		t.Errorf("LimitNOFILE = %q; want more than max_outstanding_sessions %d", keys["LimitNOFILE"], def.MaxOutstandingSessions)
	}
	if got := keys["ExecStartPre"]; !strings.Contains(got, "faed -check ") {
		t.Errorf("ExecStartPre = %q; want faed -check of the configuration", got)
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: the unit's keys are checked, not systemd's verdict")
	}
	// systemd-analyze wants the binary it names to exist: point the unit at
	// the test's build.
	unit, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(t.TempDir(), "faed.service")
	if err := os.WriteFile(copyPath, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/faed", testserver.FaedBinary(t))), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", copyPath).CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// unitKeys reads a unit file's Key=Value lines; a later key wins.
func unitKeys(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			keys[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestVersionFlag: -version names the build, not only "dev".
func TestVersionFlag(t *testing.T) {
	out, err := exec.Command(testserver.FaedBinary(t), "-version").CombinedOutput()
	if err != nil {
		t.Fatalf("faed -version: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if !strings.HasPrefix(lines[0], "faed ") || len(lines) < 2 || !strings.HasPrefix(lines[1], "go: go1.") {
		t.Fatalf("faed -version printed %q; want \"faed VERSION\" then the Go version", out)
	}
}
