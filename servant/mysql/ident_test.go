package mysql

import (
	"strings"
	"testing"
)

func TestCheckTable(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"plain", "users", true},
		{"underscore start", "_t", true},
		{"digits and dollar", "t_1$x", true},
		{"db dot table", "game.users", true},
		{"reserved word is fine once quoted", "order", true},
		{"64 characters", strings.Repeat("a", 64), true},
		{"empty", "", false},
		{"65 characters", strings.Repeat("a", 65), false},
		{"digit start", "1t", false},
		{"space", "user s", false},
		{"injection", "t; DROP TABLE x", false},
		{"backtick", "t`", false},
		{"quote", "t'", false},
		{"comment", "t--", false},
		{"two dots", "a.b.c", false},
		{"empty db", ".t", false},
		{"empty table", "db.", false},
		{"non-ASCII", "tébles", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkTable(tt.in)
			if (err == nil) != tt.ok {
				t.Errorf("checkTable(%q) = %v, want ok=%v", tt.in, err, tt.ok)
			}
		})
	}
}

func TestCheckIdentRejectsDot(t *testing.T) {
	if err := checkIdent("a.b"); err == nil {
		t.Error(`checkIdent("a.b") = nil; a column name must not be dotted`)
	}
}

func TestQuoteTable(t *testing.T) {
	for in, want := range map[string]string{"t": "`t`", "db.t": "`db`.`t`"} {
		if got := quoteTable(in); got != want {
			t.Errorf("quoteTable(%q) = %s, want %s", in, got, want)
		}
	}
}
