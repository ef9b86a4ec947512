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

func TestPrintRatios(t *testing.T) {
	us := func(v float64) *float64 { return &v }
	row := func(label, target, call, pattern string, clients int, cps, p50 float64) result {
		return result{Mode: "load", Label: label, Target: target, Call: call, Pattern: pattern,
			Transport: "buffered", Protocol: "binary", Clients: clients, CallsPerSec: cps, P50us: p50, P99us: 2 * p50, ServerUs: us(cps / 10000)}
	}
	mc := func(r result) result { r.Protocol = "memcache"; return r }
	both := func(r result) result { r.ServerProcs = 2; return r }
	rows := []result{
		row("echo", "unix:/e", "noop", "persistent", 64, 200000, 100),
		row("stock", "unix:/s", "noop", "persistent", 64, 100000, 200),
		row("faed", "unix:/f", "noop", "persistent", 64, 150000, 150),
		mc(row("memcached", "tcp:127.0.0.1:1", "get", "persistent", 64, 160000, 120)),
		row("faed", "tcp:127.0.0.1:2", "lc_get", "persistent", 64, 80000, 240),
		row("faed", "unix:/f", "lc_get", "persistent", 64, 90000, 220), // no memcached over unix
		mc(row("memcached", "tcp:127.0.0.1:1", "get", "php", 64, 60000, 300)),
		both(row("faed", "tcp:127.0.0.1:2", "mc_get", "php", 64, 30000, 600)),
		both(row("faed", "unix:/f", "mc_get", "php", 64, 45000, 400)),
		both(row("faed-local", "tcp:127.0.0.1:3", "lc_get", "persistent", 64, 100000, 200)),
		both(row("faed-fwd", "tcp:127.0.0.1:3", "lc_get", "persistent", 64, 50000, 400)),
		both(row("faed-local", "tcp:127.0.0.1:3", "lc_get", "persistent", 1, 20000, 50)),
		both(row("faed-fwd", "tcp:127.0.0.1:3", "lc_get", "persistent", 1, 10000, 90)),
		both(row("relay", "tcp:127.0.0.1:4", "lc_get", "persistent", 1, 12000, 75)),
		row("mariadb", "tcp:127.0.0.1:5", "select", "php-fpm", 8, 9000, 600),
		both(handled(row("faed", "unix:/f", "my_query", "php-fpm", 8, 6000, 1100), 120, 100)),
	}
	out := summarize(t, rows)
	for _, want := range []string{
		"faed noop / echo persistent unix c=64 0.75x 1.50x 1.50x 0.75x",
		"faed noop / stock persistent unix c=64 1.50x 0.75x 0.75x 1.50x",
		"faed lc_get / memcached get persistent tcp c=64 0.50x 2.00x 2.00x 0.50x",
		"faed mc_get / memcached get php tcp c=64 0.50x 2.00x",
		"faed mc_get / memcached get php unix/tcp c=64 0.75x",
		"forwarded / local lc_get persistent tcp c=64 0.50x 2.00x",
		"forwarding cost, persistent tcp c=64: p50 400.0us - 200.0us = +200.0us\n",
		"forwarding cost, persistent tcp c=1: p50 90.0us - 50.0us = +40.0us\n",
		"forwarded / relay floor persistent tcp c=1 0.83x 1.20x",
		"PHP my_query / mysqli php-fpm unix/tcp c=8 0.67x",
		"forwarded, 1 client: p50 met p50 90.0us, relay floor 75.0us, want <= 95.0us",
		"my_query, PHP, loopback MISSED calls/s 0.67x (6000.0 / 9000.0, c=8), want >= 1.00x",
		"my_query handler vs MariaDB's own time met handler 120.0us, MariaDB 100.0us, want <= 120.0us",
		"noop, persistent: CPU met srv us/call 0.75x (15.0 / 20.0, c=64), want <= 1.15x",
		"lc_get / memcached get: p99 MISSED p99 2.00x (480.0 / 240.0, c=64), want <= 1.20x",
		"forwarded / local, many clients MISSED calls/s 0.50x (50000.0 / 100000.0, c=64), want >= 0.60x",
		"my_query, PHP, delay proxy - no rows in this run",
		"get persistent tcp c=64 memcached",
		"3.00* 0", // several processes marked
		"* CPU of several server processes summed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	for _, unwanted := range []string{"lc_get persistent unix c=64 0.", "faed/faed-", "memcache c=64"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("summary has %q:\n%s", unwanted, out)
		}
	}
	rows[len(rows)-3].P50us = 60 // a faster floor: 90us is now over budget
	if out := summarize(t, rows); !strings.Contains(out, "forwarded, 1 client: p50 MISSED p50 90.0us, relay floor 60.0us, want <= 80.0us") {
		t.Errorf("summary does not flag a missed goal:\n%s", out)
	}
}

// handled gives r faed's handler time and MariaDB's own, as -php measures
// them.
func handled(r result, handlerUs, mariadbUs float64) result {
	r.HandlerUs, r.BackendUs = &handlerUs, &mariadbUs
	return r
}

// summarize writes rows as -json does and returns the summary with runs of
// blanks squeezed to one space.
func summarize(t *testing.T, rows []result) string {
	t.Helper()
	var buf bytes.Buffer
	for _, r := range rows {
		if err := emit(&buf, &bytes.Buffer{}, r, true); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "r.jsonl")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := printSummary(&out, path); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for line := range strings.Lines(out.String()) {
		lines = append(lines, strings.Join(strings.Fields(line), " "))
	}
	return strings.Join(lines, "\n")
}
