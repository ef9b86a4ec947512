package faeclient

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // in the error; "" = valid
	}{
		{"unix", Config{Addr: "unix:/run/faed/faed.sock"}, ""},
		{"tcp", Config{Addr: "tcp:127.0.0.1:9001", Transport: "framed", MaxOpen: 4, MaxIdle: 2}, ""},
		{"tcp without a port", Config{Addr: "tcp:127.0.0.1"}, `"tcp:host:port" or "unix:/path"`},
		{"no network", Config{Addr: "127.0.0.1:9001"}, `got "127.0.0.1:9001"`},
		{"empty unix path", Config{Addr: "unix:"}, `got "unix:"`},
		{"compact", Config{Addr: "unix:/s", Transport: "compact"}, `Transport must be "buffered" or "framed"`},
		{"negative timeout", Config{Addr: "unix:/s", CallTimeout: -time.Second}, "CallTimeout must not be negative"},
		{"more idle than open", Config{Addr: "unix:/s", MaxOpen: 2, MaxIdle: 3}, "MaxIdle (3) must not exceed MaxOpen (2)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate: %v, want %q", err, tt.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	got := Config{Addr: "unix:/s", MaxOpen: 4}.withDefaults()
	want := Config{Addr: "unix:/s", Transport: "buffered", DialTimeout: time.Second, CallTimeout: 5 * time.Second,
		MaxOpen: 4, MaxIdle: 4, IdleTimeout: 25 * time.Second}
	if got != want {
		t.Fatalf("defaults %+v, want %+v", got, want)
	}
}

func TestNewContext(t *testing.T) {
	rc := NewContext(context.Background(), "user.show", WithUID(7))
	if rc.Rid <= 0 || rc.Reason != "user.show" || rc.UID != 7 || rc.BudgetMs != nil || rc.Trace != nil {
		t.Fatalf("%+v: want a positive rid, the reason and uid, no budget, no trace", rc)
	}
	if other := NewContext(context.Background(), "user.show"); other.Rid == rc.Rid {
		t.Fatalf("two contexts share rid %d", rc.Rid)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rc = NewContext(ctx, "job.run", WithRID(42), WithTrace())
	if rc.Rid != 42 || rc.BudgetMs == nil || *rc.BudgetMs > 2000 || *rc.BudgetMs < 1000 || rc.Trace == nil || !*rc.Trace {
		t.Fatalf("%+v: want rid 42, a budget just under 2000ms, trace", rc)
	}
	if rc.Sticky != nil || rc.MapVersion != nil || rc.PeerToken != nil {
		t.Fatalf("%+v sets a field for faed nodes only", rc)
	}
	past, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if rc := NewContext(past, "late"); rc.BudgetMs == nil || *rc.BudgetMs != 0 {
		t.Fatalf("%+v: want budget 0 once the deadline has passed", rc)
	}
}
