package testserver

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// fatalTB records the first Fatalf instead of stopping the test.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f)
}

// failure runs poll on a fatalTB and returns what it failed with, or "".
func failure(poll func(tb *fatalTB)) (msg string) {
	tb := &fatalTB{}
	defer func() {
		if r := recover(); r != nil && r != tb {
			panic(r)
		}
		msg = tb.msg
	}()
	poll(tb)
	return ""
}

func TestEventually(t *testing.T) {
	n := 0
	took := Eventually(t, "the third call", time.Second, func() bool { n++; return n == 3 })
	if n != 3 || took < 2*PollEvery {
		t.Errorf("Eventually returned after %d calls in %v, want 3 calls, at least %v", n, took, 2*PollEvery)
	}
	msg := failure(func(tb *fatalTB) { Eventually(tb, "never", 50*time.Millisecond, func() bool { return false }) })
	if !strings.HasPrefix(msg, "after ") || !strings.Contains(msg, "still waiting for never: not yet") {
		t.Errorf("Eventually failed with %q, want the time waited and what", msg)
	}
	msg = failure(func(tb *fatalTB) {
		EventuallyNil(tb, "nil", 50*time.Millisecond, func() error { return fmt.Errorf("reason %d", 7) })
	})
	if !strings.Contains(msg, "still waiting for nil: reason 7") {
		t.Errorf("EventuallyNil failed with %q, want the last error", msg)
	}
}

func TestConsistently(t *testing.T) {
	n := 0
	Consistently(t, "holding", 50*time.Millisecond, func() error { n++; return nil })
	if n < 2 {
		t.Errorf("Consistently called cond %d times in 50ms", n)
	}
	n = 0
	msg := failure(func(tb *fatalTB) {
		Consistently(tb, "the count", time.Second, func() error {
			if n++; n == 3 {
				return fmt.Errorf("count %d", n)
			}
			return nil
		})
	})
	if msg != "the count stopped holding: count 3" {
		t.Errorf("Consistently failed with %q", msg)
	}
}

func TestLockedBuffer(t *testing.T) {
	var b LockedBuffer
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				fmt.Fprint(&b, "x")
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	if got := len(b.String()); got != 400 {
		t.Fatalf("%d bytes after 400 writes of one", got)
	}
}

func TestClock(t *testing.T) {
	c := NewClock()
	start := c.Now()
	c.Advance(time.Minute)
	if got := c.Now().Sub(start); got != time.Minute {
		t.Fatalf("advanced a minute, moved %v", got)
	}
	c.Set(start)
	if !c.Now().Equal(start) {
		t.Fatalf("Set(%v) reads %v", start, c.Now())
	}
}

func TestFreePort(t *testing.T) {
	addr := FreePort(t)
	l, err := net.Listen("tcp", addr)
	if err != nil || !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("FreePort = %q, not free on loopback: %v", addr, err)
	}
	l.Close()
}

func TestSplitTables(t *testing.T) {
	tests := []struct {
		name, extra string
		own         map[string]string
		rest        string
	}{
		{"none", "[cluster]\nroot = \"/x\"\n", map[string]string{}, "[cluster]\nroot = \"/x\"\n"},
		{"engine and http among others",
			"[servant.idgen]\nworker_id = 1\n[engine]\nidle_timeout = \"1s\"\n[http]\ntoken = \"t\"\n[cluster]\nvbuckets = 8\n",
			map[string]string{"engine": "idle_timeout = \"1s\"\n", "http": "token = \"t\"\n"},
			"[servant.idgen]\nworker_id = 1\n[cluster]\nvbuckets = 8\n"},
		{"array tables are others", "[[servant.mysql.shards]]\nname = \"a\"\n", map[string]string{}, "[[servant.mysql.shards]]\nname = \"a\"\n"},
		{"keys before any table stay", "x = 1\n[servant.kvdb]\nsync = true", map[string]string{"servant.kvdb": "sync = true"}, "x = 1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			own, rest := splitTables(tt.extra)
			if fmt.Sprint(own) != fmt.Sprint(tt.own) || rest != tt.rest {
				t.Fatalf("splitTables = %q, %q; want %q, %q", own, rest, tt.own, tt.rest)
			}
		})
	}
}
