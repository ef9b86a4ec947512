package peer

import (
	"slices"
	"testing"
)

// Nodes that list the members in different orders, with duplicates or empty
// names, must hold the same list.
func TestNewMemberList(t *testing.T) {
	tests := []struct {
		name    string
		members []string
		want    []string
	}{
		{name: "no members", members: nil, want: []string{}},
		{name: "only empty names", members: []string{"", ""}, want: []string{}},
		{name: "one member", members: []string{"a:1"}, want: []string{"a:1"}},
		{name: "sorted", members: []string{"c:1", "a:1", "b:1"}, want: []string{"a:1", "b:1", "c:1"}},
		{name: "duplicates and empty names dropped", members: []string{"b:1", "", "a:1", "b:1", ""},
			want: []string{"a:1", "b:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newMemberList(tt.members, 7)
			if !slices.Equal(l.Members, tt.want) || l.Version != 7 {
				t.Fatalf("newMemberList(%q) = %q version %d, want %q version 7", tt.members, l.Members, l.Version, tt.want)
			}
		})
	}
}

func TestMemberListIsImmutable(t *testing.T) {
	list := []string{"10.0.0.10:9001", "10.0.0.11:9001", "10.0.0.12:9001"}
	l := newMemberList(list, 5)
	list[0] = "changed:1"
	if l.Members[0] == "changed:1" || l.Version != 5 {
		t.Fatalf("member list shares the caller's slice: %v (version %d)", l.Members, l.Version)
	}
	if !l.Has("10.0.0.10:9001") || l.Has("changed:1") || l.Has("") {
		t.Fatalf("Has disagrees with Members %v", l.Members)
	}
}
