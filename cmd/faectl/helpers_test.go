package main

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/faed/faed/scripts/testserver"
)

func TestMain(m *testing.M) { testserver.MainWithFaed(m) }

// result is what one faectl invocation printed and returned.
type result struct {
	out, err string
	code     int
}

// faectl runs a command line in-process.
func faectl(args ...string) result {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return result{out: out.String(), err: errOut.String(), code: code}
}

// mustRun runs a command line that must succeed and returns its output.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	r := faectl(args...)
	if r.code != 0 {
		t.Fatalf("faectl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.out, r.err)
	}
	return r.out
}

// row returns the fields of the first line of out whose first field is
// first, or nil.
func row(out, first string) []string {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 0 && f[0] == first {
			return f
		}
	}
	return nil
}
