package peer

import "slices"

// MemberList is the live members at one version of the member list. It
// decides no ownership (the vbucket map does). A MemberList is immutable
// once built: it is safe for concurrent use, and a new list means a new
// MemberList, swapped in whole.
type MemberList struct {
	// Version identifies the member list. Lists read from ZooKeeper carry
	// the child version of the members znode, the same on every node that
	// read the same list.
	Version uint64
	// Members are the member addresses, sorted and without duplicates. The
	// slice is shared: callers must not modify it.
	Members []string
}

// newMemberList returns the list of members (copied, sorted, deduplicated,
// empty strings dropped) at version.
func newMemberList(members []string, version uint64) *MemberList {
	m := slices.Clone(members)
	slices.Sort(m)
	m = slices.Compact(m)
	m = slices.DeleteFunc(m, func(s string) bool { return s == "" })
	return &MemberList{Version: version, Members: slices.Clip(m)}
}

// Has reports whether addr is a member.
func (l *MemberList) Has(addr string) bool {
	_, ok := slices.BinarySearch(l.Members, addr)
	return ok
}
