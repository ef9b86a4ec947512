package engine

import (
	"runtime"
	"strings"
	"testing"
)

func TestBacklogWarning(t *testing.T) {
	tests := []struct {
		text     string
		sessions int
		backlog  int
		warns    string // "" for no warning
	}{
		{"4096", 10000, 4096, "below [engine] max_outstanding_sessions 10000"},
		{"65535", 10000, 65535, ""},
		{"10000\n", 10000, 10000, ""},
		{"", 10, 0, "not a backlog"},
		{"-1", 10, 0, "not a backlog"},
	}
	for _, tt := range tests {
		backlog, warning := backlogWarning(strings.TrimSpace(tt.text), tt.sessions)
		if backlog != tt.backlog || (tt.warns == "") != (warning == "") || !strings.Contains(warning, tt.warns) {
			t.Errorf("backlogWarning(%q, %d) = %d, %q; want %d and a warning containing %q", tt.text, tt.sessions, backlog, warning, tt.backlog, tt.warns)
		}
	}
}

// TestListenBacklogReadsTheKernel checks that Linux's real limit is read,
// so the start-up report is not always zero.
func TestListenBacklogReadsTheKernel(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("%s is Linux's; the backlog is not reported on %s", somaxconnPath, runtime.GOOS)
	}
	if backlog, _ := ListenBacklog(1); backlog <= 0 {
		t.Fatalf("ListenBacklog = %d; want the value of %s", backlog, somaxconnPath)
	}
}
