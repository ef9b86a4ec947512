package servant

import (
	"errors"
	"fmt"

	"faed/idl/gen-go/fun/rpc"
	"faed/servant/kvdb"
	"faed/servant/lcache"
)

// errNotConfigured answers calls of a servant this node does not run.
func errNotConfigured(servant string) error {
	return fmt.Errorf("servant %s is not configured", servant)
}

// wrap turns a servant error into what goes on the wire: a declared
// exception for a miss, otherwise an error naming the call, which the
// generated processor sends as a TApplicationException and the connection
// stays open.
func wrap(call string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, lcache.ErrMiss) || errors.Is(err, kvdb.ErrNotFound) {
		msg := call + ": " + err.Error()
		return &rpc.TCacheMissed{Message: &msg}
	}
	return fmt.Errorf("%s: %w", call, err)
}
