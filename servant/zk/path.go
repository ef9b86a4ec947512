package zk

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxPathBytes is the longest client path accepted, in bytes. ZooKeeper
// itself only bounds the whole request; a bound here keeps a request far
// below it and keeps error messages and logs readable.
const MaxPathBytes = 1024

// MaxDataBytes is the largest znode data zk_create accepts, in bytes. A
// request past ZooKeeper's jute.maxbuffer (1 MiB less one byte by default)
// makes the server drop the connection, failing every call in flight on
// the shared session; refusing it here fails only the caller.
const MaxDataBytes = 1_000_000

// ErrBadPath is wrapped by the error returned for a client path that is
// not a clean absolute path (see resolve) or that names something a call
// may not do to it, such as deleting the root.
var ErrBadPath = errors.New("zk: bad path")

// resolve maps a client path onto the znode it names under root.
//
// Client paths are always relative to root, whatever they look like: "/"
// is root itself, "/a/b" is root+"/a/b", and a path that happens to start
// with root's own text is nested again below root. So a client can never
// name anything outside root, and never needs to know where root is.
//
// A path must start with "/", must not end with "/" (except "/" itself),
// and every segment must be non-empty, not "." or "..", valid UTF-8, and
// free of NUL, control characters and the other code points ZooKeeper
// refuses. Nothing is cleaned or rewritten: a path that is not already
// clean is refused, so two spellings never name one node.
func resolve(root, p string) (string, error) {
	if err := checkPath(p); err != nil {
		return "", fmt.Errorf("%w %q: %w", ErrBadPath, p, err)
	}
	full := root + p
	if p == "/" {
		full = root
	}
	// Defence in depth: checkPath already guarantees this.
	if full != root && !strings.HasPrefix(full, root+"/") {
		return "", fmt.Errorf("%w %q: escapes the root", ErrBadPath, p)
	}
	return full, nil
}

// checkPath says what is wrong with the client path p, or nil.
func checkPath(p string) error {
	switch {
	case p == "":
		return errors.New("empty")
	case len(p) > MaxPathBytes:
		return fmt.Errorf("longer than %d bytes", MaxPathBytes)
	case p[0] != '/':
		return errors.New("must start with /")
	case p == "/":
		return nil
	}
	for _, seg := range strings.Split(p[1:], "/") {
		if err := checkSegment(seg); err != nil {
			return err
		}
	}
	return nil
}

// checkSegment says what is wrong with one path segment (a node name), or
// nil.
func checkSegment(seg string) error {
	switch {
	case seg == "":
		return errors.New("empty segment (// or trailing /)")
	case seg == "." || seg == "..":
		return fmt.Errorf("%q segment", seg)
	case !utf8.ValidString(seg):
		return errors.New("not valid UTF-8")
	}
	for _, r := range seg {
		if forbidden(r) {
			return fmt.Errorf("forbidden character %U", r)
		}
	}
	return nil
}

// forbidden reports whether ZooKeeper refuses r in a node name (NUL,
// C0 and C1 controls, DEL, surrogates and the private use area, and
// U+FFF0–U+FFFF), so the server never gets to see it.
func forbidden(r rune) bool {
	return r < 0x20 ||
		(r >= 0x7f && r <= 0x9f) ||
		(r >= 0xd800 && r <= 0xf8ff) ||
		(r >= 0xfff0 && r <= 0xffff)
}

// parents returns the ancestors of the absolute path full, outermost
// first, "/" excluded: "/a/b/c" gives "/a", "/a/b".
func parents(full string) []string {
	var out []string
	for i := 1; i < len(full); i++ {
		if full[i] == '/' {
			out = append(out, full[:i])
		}
	}
	return out
}
