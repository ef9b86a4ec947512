package mysql

import (
	"database/sql"
	"errors"
	"strings"
	"testing"
)

func TestMergeJSON(t *testing.T) {
	tests := []struct {
		name    string
		stored  sql.NullString
		patch   string
		want    string
		wantErr error
	}{
		{"add a key", valid(`{"a":1}`), `{"b":2}`, `{"a":1,"b":2}`, nil},
		{"overwrite a key", valid(`{"a":1,"b":2}`), `{"a":"x"}`, `{"a":"x","b":2}`, nil},
		{"nested objects merge", valid(`{"o":{"x":1,"y":2}}`), `{"o":{"y":3,"z":4}}`, `{"o":{"x":1,"y":3,"z":4}}`, nil},
		{"object replaces scalar", valid(`{"o":5}`), `{"o":{"a":1}}`, `{"o":{"a":1}}`, nil},
		{"scalar replaces object", valid(`{"o":{"a":1}}`), `{"o":5}`, `{"o":5}`, nil},
		{"arrays are replaced", valid(`{"l":[1,2]}`), `{"l":[3]}`, `{"l":[3]}`, nil},
		{"null is stored", valid(`{"a":1}`), `{"a":null}`, `{"a":null}`, nil},
		{"SQL NULL is {}", sql.NullString{}, `{"a":1}`, `{"a":1}`, nil},
		{"empty string is {}", valid("  "), `{"a":1}`, `{"a":1}`, nil},
		{"big numbers keep their digits", valid(`{"n":12345678901234567890}`), `{"f":0.10000000000000000001}`,
			`{"f":0.10000000000000000001,"n":12345678901234567890}`, nil},
		{"html characters are not escaped", valid(`{}`), `{"h":"<a&b>"}`, `{"h":"<a&b>"}`, nil},
		{"quotes survive", valid(`{}`), `{"q":"it's \"x\""}`, `{"q":"it's \"x\""}`, nil},
		{"empty patch", valid(`{"a":1}`), `{}`, `{"a":1}`, nil},
		{"stored array", valid(`[1]`), `{"a":1}`, "", ErrMergeStored},
		{"stored garbage", valid(`{"a":`), `{"a":1}`, "", ErrMergeStored},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			patch, err := decodeObject(tt.patch)
			if err != nil {
				t.Fatalf("decodeObject(%s): %v", tt.patch, err)
			}
			got, err := mergeJSON(tt.stored, patch)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("mergeJSON = %s, %v; want %s, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func valid(s string) sql.NullString { return sql.NullString{String: s, Valid: true} }

func TestDecodeObjectRejects(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"array", `[1]`, "array"},
		{"string", `"x"`, "string"},
		{"number", `1`, "number"},
		{"null", `null`, "null"},
		{"two objects", `{}{}`, "trailing"},
		{"trailing garbage", `{} x`, "trailing"},
		{"truncated", `{"a":`, "EOF"},
		{"empty", ``, "EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeObject(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("decodeObject(%q) = %v, want an error containing %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestNewMergeStatements(t *testing.T) {
	m, err := newMerge("game.users", "prefs", "uid = 7", `{"a":1}`)
	if err != nil {
		t.Fatal(err)
	}
	if want := "SELECT `prefs` FROM `game`.`users` WHERE uid = 7 FOR UPDATE"; m.selectSQL != want {
		t.Errorf("select = %q, want %q", m.selectSQL, want)
	}
	if want := "UPDATE `game`.`users` SET `prefs` = ? WHERE uid = 7"; m.updateSQL != want {
		t.Errorf("update = %q, want %q", m.updateSQL, want)
	}
}

func TestNewMergeRejects(t *testing.T) {
	tests := []struct {
		name, table, column, where, value string
		want                              error
	}{
		{"table injection", "t; DROP TABLE t", "c", "id=1", `{}`, ErrBadIdentifier},
		{"column injection", "t", "c=1, d", "id=1", `{}`, ErrBadIdentifier},
		{"dotted column", "t", "t.c", "id=1", `{}`, ErrBadIdentifier},
		{"value not an object", "t", "c", "id=1", `[1]`, ErrMergeValue},
		{"value not JSON", "t", "c", "id=1", `{'a':1}`, ErrMergeValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := newMerge(tt.table, tt.column, tt.where, tt.value); !errors.Is(err, tt.want) {
				t.Errorf("newMerge = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := newMerge("t", "c", " ", `{}`); err == nil {
		t.Error("newMerge with an empty where = nil, want an error")
	}
}
