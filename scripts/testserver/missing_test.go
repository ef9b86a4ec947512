package testserver

import (
	"fmt"
	"strings"
	"testing"
)

// recordTB records Skip and Fatal instead of stopping the test, so missing can be checked.
type recordTB struct {
	testing.TB
	skipped, fatal string
}

func (r *recordTB) Helper()           {}
func (r *recordTB) Skip(args ...any)  { r.skipped = fmt.Sprint(args...) }
func (r *recordTB) Fatal(args ...any) { r.fatal = fmt.Sprint(args...) }

func TestLookBinaryMissing(t *testing.T) {
	tests := []struct {
		name, env           string
		wantSkip, wantFatal bool
	}{
		{name: "skips by default", env: "", wantSkip: true},
		{name: "fails when servers are required", env: "1", wantFatal: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(requireEnv, tt.env)
			r := &recordTB{TB: t}
			if got := lookBinary(r, "faed-no-such-server", "faed-no-such-pkg"); got != "" {
				t.Fatalf("lookBinary = %q, want empty", got)
			}
			msg := r.skipped + r.fatal
			if (r.skipped != "") != tt.wantSkip || (r.fatal != "") != tt.wantFatal {
				t.Fatalf("skipped = %q, fatal = %q", r.skipped, r.fatal)
			}
			for _, want := range []string{"faed-no-such-server not found", "apt-get install -y faed-no-such-pkg", "make test"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q lacks %q", msg, want)
				}
			}
		})
	}
}
