package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
)

// logLines is a slog JSON handler's output, safe to write from the engine
// while the test reads it.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// await returns the decoded lines whose msg is msg once there are want of
// them (they are written after the reply, so the client may be first), or
// what there is after a second.
func (l *logLines) await(t *testing.T, msg string, want int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		got := l.with(t, msg)
		if len(got) >= want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// with returns the decoded lines whose msg is msg.
func (l *logLines) with(t *testing.T, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		var m map[string]any
		if line == "" {
			continue
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func tracedServer(t *testing.T, tweak func(*Config)) (*testServer, *logLines) {
	lines := &logLines{}
	s := startServerLogging(t, tweak, slog.New(slog.NewJSONHandler(lines, nil)))
	return s, lines
}

// TestSlowCallLine: a slow call's line says who made it (rid, reason, uid),
// its arguments and where the time went.
func TestSlowCallLine(t *testing.T) {
	s, lines := tracedServer(t, func(c *Config) { c.SlowCall = time.Nanosecond })
	c := dial(t, "tcp", s.tcp, KindBinary)
	ctx := &rpc.Context{Rid: 4242, Reason: "user.show", UID: 99}
	if _, err := c.LcGet(context.Background(), ctx, "profile:"+strings.Repeat("x", 400)); err != nil {
		t.Fatal(err)
	}
	got := lines.await(t, "slow call", 1)
	if len(got) != 1 {
		t.Fatalf("%d slow-call lines, want 1", len(got))
	}
	l := got[0]
	if l["call"] != "lc_get" || l["rid"] != 4242.0 || l["reason"] != "user.show" || l["uid"] != 99.0 {
		t.Errorf("slow-call line %v: want call lc_get, rid 4242, reason user.show, uid 99", l)
	}
	args, _ := l["args"].(string)
	if !strings.Contains(args, `Key:"profile:xxx`) || !strings.Contains(args, " bytes") || len(args) > maxLoggedArgs+32 {
		t.Errorf("args %q: want the key, cut at %d bytes with the full length said", args, maxLoggedArgs)
	}
	for _, k := range []string{"handler", "write", "elapsed"} {
		if d, ok := l[k].(float64); !ok || d < 0 {
			t.Errorf("slow-call line lacks the time of %s: %v", k, l)
		}
	}
	if l["handler"].(float64) <= 0 {
		t.Errorf("handler time %v, want it measured", l["handler"])
	}
}

// TestTraceLines: a call whose Context asks for a trace gets a trace line
// with sampling off; trace_sample 0.5 traces every second call; with both
// off, none.
func TestTraceLines(t *testing.T) {
	for _, tt := range []struct {
		name   string
		sample float64
		ask    bool
		want   int // trace lines of 10 calls
	}{
		{"asked by the Context", 0, true, 10},
		{"sampled one in two", 0.5, false, 5},
		{"neither", 0, false, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, lines := tracedServer(t, func(c *Config) { c.TraceSample, c.SlowCall = tt.sample, 0 })
			c := dial(t, "unix", s.unix, KindCompact)
			ctx := &rpc.Context{Rid: 7, Reason: "job.run", Trace: &tt.ask}
			for range 10 {
				if _, err := c.LcGet(context.Background(), ctx, "k"); err != nil {
					t.Fatal(err)
				}
			}
			got := lines.await(t, "trace", tt.want)
			if len(got) != tt.want {
				t.Fatalf("%d trace lines, want %d", len(got), tt.want)
			}
			if tt.want > 0 && (got[0]["rid"] != 7.0 || got[0]["reason"] != "job.run" || !strings.Contains(got[0]["args"].(string), "k")) {
				t.Errorf("trace line %v: want rid 7, reason job.run and the arguments", got[0])
			}
		})
	}
}

// TestFailedCallLineNamesTheCaller: the error line of a call carries rid
// and reason too.
func TestFailedCallLineNamesTheCaller(t *testing.T) {
	s, lines := tracedServer(t, nil)
	c := dial(t, "tcp", s.tcp, KindBinary)
	if _, err := c.LcGet(context.Background(), &rpc.Context{Rid: 31, Reason: "cron.purge"}, "fail"); err == nil {
		t.Fatal("lc_get fail: want an error")
	}
	got := lines.await(t, "call failed", 1)
	if len(got) != 1 || got[0]["rid"] != 31.0 || got[0]["reason"] != "cron.purge" || got[0]["call"] != "lc_get" {
		t.Fatalf("call-failed lines %v: want one naming lc_get, rid 31, reason cron.purge", got)
	}
}

func TestCallsPerReason(t *testing.T) {
	s := startServer(t, nil)
	c := dial(t, "tcp", s.tcp, KindBinary)
	for i := range 5 {
		if _, err := c.LcGet(context.Background(), &rpc.Context{Reason: fmt.Sprintf("user.%d.show", i*1000+i)}, "k"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.LcGet(context.Background(), &rpc.Context{Reason: "feed"}, "k"); err != nil {
		t.Fatal(err)
	}
	got := s.e.Stats().Snapshot().PerReason
	want := []ReasonCount{{"user.?.show", 5}, {"feed", 1}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("per_reason = %v, want %v", got, want)
	}
}

func TestReasonsAreBounded(t *testing.T) {
	var r reasonCounts
	for i := range maxReasons + 50 {
		r.count(fmt.Sprintf("r%c%c%c-%d", 'a'+i%26, 'a'+i/26%26, 'a'+i/676%26, i)) // letters: distinct once folded
	}
	r.count(strings.Repeat("long", 100))
	got := r.snapshot()
	if len(got) != maxReasons+1 {
		t.Fatalf("%d reasons kept, want %d and %q", len(got), maxReasons, otherReasons)
	}
	other := 0
	for _, c := range got {
		if c.Reason == otherReasons {
			other = int(c.Calls)
		}
		if len(c.Reason) > maxReasonBytes {
			t.Errorf("reason of %d bytes kept, want at most %d", len(c.Reason), maxReasonBytes)
		}
	}
	if other < 50 {
		t.Errorf("(other) counts %d calls, want the 50+ past the bound", other)
	}
}

func TestFoldDigits(t *testing.T) {
	for in, want := range map[string]string{"user.show.123": "user.show.?", "a1b22c333": "a?b?c?", "": "", "v2.api": "v?.api"} {
		var buf [maxReasonBytes]byte
		if got := string(foldDigits(buf[:0], in)); got != want {
			t.Errorf("foldDigits(%q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkCallFollowing is what following calls adds to each one with
// tracing off: the processor's note, the per-reason count and the
// sampler's check (compare with BenchmarkLcGetUnix's whole call).
func BenchmarkCallFollowing(b *testing.B) {
	s := &session{e: &Engine{cfg: DefaultConfig(), stats: newStats(nil)}, live: newSettings(DefaultConfig())}
	c := &callContext{Context: context.Background(), s: s}
	args := &rpc.FunServantLcGetArgs{ReqCtx: &rpc.Context{Rid: 1, Reason: "user.show.12345"}, Key: "k"}
	b.ReportAllocs()
	for b.Loop() {
		c.NoteCall(args.ReqCtx.Rid, args.ReqCtx.Reason, args.ReqCtx.UID, false, args)
		s.e.stats.reasons.countCached(&s.reasons, s.note.reason)
		if slow, traced := s.slowOrTraced(time.Millisecond); slow || traced {
			b.Fatal("a line for a fast call with tracing off")
		}
	}
}

// TestArgsTextIsBounded: a call of megabytes is printed in its first bytes,
// and printing it allocates about what it shows, not the call's size.
func TestArgsTextIsBounded(t *testing.T) {
	rows := make([]string, 100_000)
	for i := range rows {
		rows[i] = strings.Repeat("r", 50)
	}
	args := &rpc.FunServantMyBulkExecArgs{ReqCtx: &rpc.Context{Rid: 1}, Pool: []string{"main"}, Sql: rows}
	var got string
	allocs := testing.AllocsPerRun(10, func() { got = argsText(args, maxLoggedArgs) })
	if len(got) > maxLoggedArgs+len("…") || !strings.HasPrefix(got, "{ReqCtx:{Rid:1 ") || !strings.Contains(got, `Pool:["main"]`) {
		t.Errorf("argsText = %q (%d bytes); want the first %d bytes of the fields", got, len(got), maxLoggedArgs)
	}
	if allocs > 100 {
		t.Errorf("argsText of 100,000 rows: %.0f allocations, want a bounded few", allocs)
	}
	if got := argsText(&rpc.FunServantLcGetArgs{Key: "k"}, maxLoggedArgs); got != `{ReqCtx:<nil> Key:"k"}` {
		t.Errorf("argsText = %q", got)
	}
}
