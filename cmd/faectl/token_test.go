package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faed/faed/scripts/testserver"
)

const nodeToken = "faectl-test-token-0123456789"

// startTokenNode starts a faed child whose admin server needs nodeToken.
func startTokenNode(t *testing.T) *testserver.Faed {
	t.Helper()
	return testserver.StartFaed(t, t.TempDir(), fmt.Sprintf("[http]\ntoken = %q\n", nodeToken))
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
		if !n.Answers() {
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
			case <-n.Done():
			case <-time.After(15 * time.Second):
				t.Fatal("faed did not exit within 15s of stop with the token")
			}
			if err := n.Err(); err != nil {
				t.Fatalf("faed exit after stop: %v, want status 0", err)
			}
		})
	}
}
