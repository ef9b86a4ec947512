package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrintSummary(t *testing.T) {
	us := func(v float64) *float64 { return &v }
	var buf bytes.Buffer
	for _, r := range []result{
		{Mode: "load", Label: "echo", Target: "unix:/e", Call: "noop", Pattern: "persistent", Transport: "buffered", Protocol: "binary", Clients: 64, CallsPerSec: 200000, P50us: 100, P99us: 400, ServerUs: us(4)},
		{Mode: "load", Label: "stock", Target: "unix:/s", Call: "noop", Pattern: "persistent", Transport: "buffered", Protocol: "binary", Clients: 64, CallsPerSec: 100000, P50us: 200, P99us: 800, ServerUs: us(8)},
		{Mode: "load", Label: "faed", Target: "unix:/f", Call: "noop", Pattern: "persistent", Transport: "buffered", Protocol: "binary", Clients: 64, CallsPerSec: 150000, P50us: 150, P99us: 600, ServerUs: us(6)},
		{Mode: "load", Label: "faed", Target: "tcp:127.0.0.1:1", Call: "noop", Pattern: "php", Transport: "buffered", Protocol: "binary", Clients: 64, CallsPerSec: 50000},
	} {
		if err := emit(&buf, &bytes.Buffer{}, r, true); err != nil {
			t.Fatal(err)
		}
	}
	emit(&buf, &bytes.Buffer{}, idleResult{Mode: "idle", Label: "faed", Target: "unix:/f", Conns: 10000, KiBPerConn: 9.5}, true)
	path := filepath.Join(t.TempDir(), "r.jsonl")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := printSummary(&out, path); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"noop persistent unix c=64",
		"noop php tcp c=64",
		"faed/stock 1.50x 0.75x 0.75x 0.75x",
		"faed/echo 0.75x 1.50x 1.50x 1.50x",
		"faed 10000 9.50 0",
	} {
		if !strings.Contains(strings.Join(strings.Fields(out.String()), " "), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}

func TestPrintSummaryBadLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.jsonl")
	os.WriteFile(path, []byte("{\"mode\":\"load\"}\nnot json\n"), 0o644)
	if err := printSummary(&bytes.Buffer{}, path); err == nil || !strings.Contains(err.Error(), ":2:") {
		t.Fatalf("err = %v, want one naming line 2", err)
	}
}

func TestCombineRounds(t *testing.T) {
	us := func(v float64) *float64 { return &v }
	rs := []result{
		{Label: "faed", CallsPerSec: 100, P50us: 10, P99us: 90, Errors: 1, ServerUs: us(5)},
		{Label: "faed", CallsPerSec: 300, P50us: 30, P99us: 70, Errors: 2, ServerUs: us(9)},
		{Label: "faed", CallsPerSec: 200, P50us: 20, P99us: 80, ServerUs: us(4)},
	}
	c := combine(rs)
	if c.Label != "faed (3)" || c.CallsPerSec != 200 || c.P50us != 20 || c.P99us != 80 || c.Errors != 3 || *c.ServerUs != 5 {
		t.Fatalf("combined %+v (server %v)", c, *c.ServerUs)
	}
	if baseLabel(c.Label) != "faed" {
		t.Fatalf("baseLabel(%q) = %q", c.Label, baseLabel(c.Label))
	}
	c = combine(append(rs[:1:1], result{Label: "faed", CallsPerSec: 50}))
	if c.CallsPerSec != 75 || c.ServerUs != nil {
		t.Fatalf("two rounds, one without server CPU: %+v", c)
	}
}
