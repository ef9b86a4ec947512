package main

import (
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/faed/faed/engine"
)

func TestCommandLine(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		err  string // in stderr
	}{
		{"no command", nil, 2, "usage: faectl"},
		{"unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"drain without a node", []string{"drain"}, 2, "name one node"},
		{"unknown flag", []string{"stats", "-verbose"}, 2, "flag provided but not defined: -verbose"},
		{"extra argument", []string{"members", "now"}, 2, `unexpected argument "now"`},
		{"zero timeout", []string{"-timeout", "0s", "stats"}, 2, "-timeout must be positive"},
		{"missing token file", []string{"-token-file", "/nonexistent/faed.token", "stats"}, 1, "-token-file: open /nonexistent/faed.token"},
		{"help", []string{"-h"}, 0, "commands:"},
		{"command help", []string{"map", "-h"}, 0, "-keys keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := faectl(tt.args...)
			if r.code != tt.code || !strings.Contains(r.err, tt.err) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", r.code, r.err, tt.code, tt.err)
			}
		})
	}
}

func TestSplitListener(t *testing.T) {
	tests := []struct {
		name, in, network, address string
		ok                         bool
	}{
		{"tcp", "tcp:127.0.0.1:9001", "tcp", "127.0.0.1:9001", true},
		{"bare host:port", "127.0.0.1:9001", "tcp", "127.0.0.1:9001", true},
		{"ipv6", "tcp:[::1]:9001", "tcp", "[::1]:9001", true},
		{"unix", "unix:/run/faed.sock", "unix", "/run/faed.sock", true},
		{"empty unix path", "unix:", "", "", false},
		{"no port", "tcp:127.0.0.1", "", "", false},
		{"empty port", "127.0.0.1:", "", "", false},
		{"word", "localhost", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			network, address, err := splitListener(tt.in)
			if (err == nil) != tt.ok || network != tt.network || address != tt.address {
				t.Fatalf("splitListener(%q) = %q, %q, %v; want %q, %q, ok=%v",
					tt.in, network, address, err, tt.network, tt.address, tt.ok)
			}
		})
	}
}

func TestSplitKeys(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"empty", "", nil},
		{"one", "user:1", []string{"user:1"}},
		{"several", "a,b,c", []string{"a", "b", "c"}},
		{"empty keys dropped", ",a,,b,", []string{"a", "b"}},
		{"spaces kept", "a, b", []string{"a", " b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := splitKeys(tt.in); !slices.Equal(got, tt.want) {
				t.Fatalf("splitKeys(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestTopCalls(t *testing.T) {
	calls := []engine.CallSnapshot{{Name: "lc_get", Count: 5}, {Name: "ping", Count: 9}, {Name: "lc_set", Count: 5}, {Name: "noop", Count: 1}}
	tests := []struct {
		name string
		n    int
		want []string
	}{
		{"all", 10, []string{"ping", "lc_get", "lc_set", "noop"}},
		{"top two, ties by name", 2, []string{"ping", "lc_get"}},
		{"none", 0, []string{}},
		{"negative", -1, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, c := range topCalls(calls, tt.n) {
				got = append(got, c.Name)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("topCalls(%d) = %q, want %q", tt.n, got, tt.want)
			}
		})
	}
	if calls[0].Name != "lc_get" {
		t.Fatal("topCalls reordered its argument")
	}
}

// startSilentListener accepts connections on loopback and never answers.
func startSilentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}
