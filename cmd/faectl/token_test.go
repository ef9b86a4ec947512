package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const nodeToken = "faectl-test-token-0123456789"

// startTokenNode starts a faed child whose admin server needs nodeToken.
func startTokenNode(t *testing.T) *node {
	t.Helper()
	n := newNode(t)
	n.token = nodeToken
	n.start(t, "")
	return n
}

func TestStopNeedsTheToken(t *testing.T) {
	n := startTokenNode(t)
	t.Setenv(tokenEnv, "")
	wrong := filepath.Join(t.TempDir(), "wrong")
	os.WriteFile(wrong, []byte(nodeToken+"-not\n"), 0o600)
	for _, args := range [][]string{
		{"-admin", n.HTTP, "stop", "-yes"},
		{"-admin", n.HTTP, "-token-file", wrong, "stop", "-yes"},
	} {
		r := faectl(args...)
		if r.code != 1 || !strings.Contains(r.err, "401 Unauthorized: missing or wrong token") {
			t.Fatalf("faectl %s: exit %d, stderr %q; want exit 1 and faed's 401", strings.Join(args, " "), r.code, r.err)
		}
		if !n.answers() {
			t.Fatal("the node stopped without the right token")
		}
	}
	// Reads need no token.
	if out := mustRun(t, "-admin", n.HTTP, "stats"); !strings.Contains(out, "uptime") {
		t.Fatalf("stats without a token printed %q", out)
	}
}

func TestStopWithToken(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte(nodeToken+"\n"), 0o600)
	flag := []string{"-token-file", tokenFile}
	tests := []struct {
		name          string
		env           string   // FAED_ADMIN_TOKEN
		before, after []string // flags before and after "stop -yes"
	}{
		{"token file", "", flag, nil},
		{"token file after the command", "", nil, flag},
		{"environment", nodeToken, nil, nil},
		{"token file wins over the environment", "wrong-token-0123456789", flag, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := startTokenNode(t)
			t.Setenv(tokenEnv, tt.env)
			args := append(append([]string{"-admin", n.HTTP}, tt.before...), "stop", "-yes")
			args = append(args, tt.after...)
			out := mustRun(t, args...)
			if !strings.Contains(out, "node "+n.HTTP+" is stopping") {
				t.Fatalf("stop printed %q", out)
			}
			select {
			case <-n.exited:
			case <-time.After(15 * time.Second):
				t.Fatal("faed did not exit within 15s of stop with the token")
			}
			if code := n.cmd.ProcessState.ExitCode(); code != 0 {
				t.Fatalf("faed exit status after stop = %d, want 0", code)
			}
		})
	}
}
