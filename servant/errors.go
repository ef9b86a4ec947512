package servant

import (
	"errors"
	"fmt"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/servant/kvdb"
	"github.com/faed/faed/servant/lcache"
	"github.com/faed/faed/servant/memcache"
)

// errNotConfigured answers calls of a servant this node does not run.
func errNotConfigured(servant string) error {
	return fmt.Errorf("servant %s is not configured", servant)
}

// wrap turns a servant error into what goes on the wire: a declared
// exception for a miss; any other error the generated processor sends as a
// TApplicationException of type INTERNAL_ERROR whose message starts
// "Internal error processing <call>: ", so the call name is not repeated
// here; a declared exception carries only its message, so that names the
// call. The connection stays open either way.
func wrap(call string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, lcache.ErrMiss) || errors.Is(err, kvdb.ErrNotFound) || errors.Is(err, memcache.ErrMiss) {
		msg := call + ": " + err.Error()
		return &rpc.TCacheMissed{Message: &msg}
	}
	return err
}

// orEmpty makes a nil slice empty. A generated processor writes a list or
// binary result only when it is non-nil; nil would reach the client as
// "unknown result" instead of an empty answer.
func orEmpty[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}
