package memcache

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckKey(t *testing.T) {
	tests := []struct {
		name string
		key  string
		max  int
		want string // substring of the error; empty for valid
	}{
		{name: "plain", key: "user:42", max: 250},
		{name: "utf-8", key: "ключ", max: 250},
		{name: "longest", key: strings.Repeat("k", 250), max: 250},
		{name: "empty", key: "", max: 250, want: "memcache: bad key: empty"},
		{name: "too long", key: strings.Repeat("k", 251), max: 250, want: "251 bytes, at most 250"},
		{name: "over a lower limit", key: "abcd", max: 3, want: "4 bytes, at most 3"},
		{name: "space", key: "a b", max: 250, want: "byte 0x20 at offset 1"},
		{name: "newline", key: "a\r\nflush_all", max: 250, want: "byte 0x0d at offset 1"},
		{name: "nul", key: "\x00", max: 250, want: "byte 0x00 at offset 0"},
		{name: "del", key: "a\x7f", max: 250, want: "byte 0x7f at offset 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkKey(tt.key, tt.max)
			checkErr(t, err, tt.want)
			if err != nil && !errors.Is(err, ErrBadKey) {
				t.Errorf("error %v does not wrap ErrBadKey", err)
			}
		})
	}
}
