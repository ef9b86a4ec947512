package zk

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"
)

const testRoot = "/fae/zk"

func TestResolve(t *testing.T) {
	long := "/" + strings.Repeat("a", MaxPathBytes-1)
	tests := []struct {
		name string
		in   string
		want string // "" means refused with ErrBadPath
	}{
		{"one segment", "/a", testRoot + "/a"},
		{"two segments", "/a/b", testRoot + "/a/b"},
		{"root itself", "/", testRoot},
		{"empty", "", ""},
		{"relative", "a", ""},
		{"relative two segments", "a/b", ""},
		{"dotdot inside", "/a/../b", ""},
		{"dotdot first", "/..", ""},
		{"dotdot to escape", "/../../x", ""},
		{"dotdot last", "/a/..", ""},
		{"double slash", "/a//b", ""},
		{"leading double slash", "//a", ""},
		{"trailing slash", "/a/", ""},
		{"dot segment", "/a/./b", ""},
		{"dot last", "/a/.", ""},
		{"NUL", "/a\x00", ""},
		{"NUL inside", "/a\x00b/c", ""},
		{"newline", "/a\nb", ""},
		{"tab", "/a\tb", ""},
		{"DEL", "/a\x7f", ""},
		{"C1 control", "/a\u0085", ""},
		{"private use", "/a\ue000", ""},
		{"U+FFF0", "/a\ufff0", ""},
		{"invalid UTF-8", "/a\xff", ""},
		{"three dots is a name", "/...", testRoot + "/..."},
		{"dots inside a name", "/a..b/.c", testRoot + "/a..b/.c"},
		{"unicode", "/日本/ü", testRoot + "/日本/ü"},
		{"spaces", "/a b", testRoot + "/a b"},
		{"zookeeper is just a name here", "/zookeeper", testRoot + "/zookeeper"},
		{"root text nests again", testRoot + "/x", testRoot + testRoot + "/x"},
		{"longest", long, testRoot + long},
		{"one byte too long", long + "a", ""},
		{"very long", "/" + strings.Repeat("a/", 5000) + "a", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolve(testRoot, tt.in)
			if tt.want == "" {
				if !errors.Is(err, ErrBadPath) {
					t.Fatalf("resolve(%q) = %q, %v; want ErrBadPath", tt.in, got, err)
				}
				if len(tt.in) < 100 && !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.in)) {
					t.Errorf("error %q does not name the path %q", err, tt.in)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("resolve(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

// FuzzResolve checks the confinement promise for any input: whatever
// resolve accepts is clean and at or below the root.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{"/", "/a", "/a/b", "/..", "/a/../..", "//", "/a\x00", testRoot} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got, err := resolve(testRoot, p)
		if err != nil {
			if !errors.Is(err, ErrBadPath) {
				t.Fatalf("resolve(%q): error %v does not wrap ErrBadPath", p, err)
			}
			return
		}
		if got != testRoot && !strings.HasPrefix(got, testRoot+"/") {
			t.Fatalf("resolve(%q) = %q, outside %q", p, got, testRoot)
		}
		if path.Clean(got) != got {
			t.Fatalf("resolve(%q) = %q, not clean", p, got)
		}
	})
}

func TestParents(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"top level", "/a", nil},
		{"nested", "/a/b/c", []string{"/a", "/a/b"}},
		{"root", "/", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parents(tt.in); !slices.Equal(got, tt.want) {
				t.Fatalf("parents(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
