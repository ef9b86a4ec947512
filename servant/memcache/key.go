package memcache

import (
	"errors"
	"fmt"
)

// ErrBadKey is wrapped by the error for a key memcached would refuse or
// misread: empty, too long, or containing a space or a control character.
var ErrBadKey = errors.New("memcache: bad key")

// checkKey says what is wrong with key, or nil. memcached's text protocol
// splits commands on spaces and ends them at a newline, so a key with either
// (or any byte up to 0x20, or 0x7f) could run a different command.
func checkKey(key string, maxBytes int) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrBadKey)
	}
	if len(key) > maxBytes {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrBadKey, len(key), maxBytes)
	}
	for i := 0; i < len(key); i++ {
		if b := key[i]; b <= ' ' || b == 0x7f {
			return fmt.Errorf("%w: byte %#02x at offset %d (space or control character)", ErrBadKey, b, i)
		}
	}
	return nil
}
