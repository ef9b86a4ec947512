package mongodb

import (
	"context"
	"errors"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"
)

// Errors the dispatcher maps to declared exceptions or tests for. Every
// error a Client returns wraps at most one of them, with the pool, database
// and table as context.
var (
	// ErrNotFound: no document matched a find_one, find_id or
	// find_and_modify (→ TMongoNotFound).
	ErrNotFound = errors.New("mongodb: not found")
	// ErrReadOnly: a write to a pool in read-only mode (→ TMongoReadOnly).
	ErrReadOnly = errors.New("mongodb: pool is read-only")
	// ErrDegraded: a call to a degraded pool, switched by an operator or with
	// its breaker open (→ TMongoDegrade). In the breaker's case the error
	// also wraps pool.ErrCircuitOpen and names the servers.
	ErrDegraded = errors.New("mongodb: pool is degraded")
	// ErrUnknownPool: the pool is not configured.
	ErrUnknownPool = errors.New("mongodb: unknown pool")
	// ErrInvalid: a bad argument (invalid BSON, empty table, bad orderBy,
	// negative limit); the message names the argument.
	ErrInvalid = errors.New("mongodb: invalid argument")
	// ErrClosed: a call after Close.
	ErrClosed = errors.New("mongodb: client closed")
)

// outcome is what a call's error tells the breaker.
type outcome int

const (
	// answered: the server answered, maybe with a user error (duplicate
	// key, bad query, no document). The server is fine.
	answered outcome = iota
	// fault: the server or the way to it failed (no server selectable,
	// network error, timeout). It counts toward opening the breaker.
	fault
	// unsent: the call never got to the server (the caller gave up, the
	// driver refused its input, the client is closing). Nobody is to blame.
	unsent
)

// classify sorts a driver error into an outcome. A deadline counts as a
// fault: io_timeout is how a server that accepts but never answers shows.
func classify(err error) outcome {
	if err == nil {
		return answered // before the error targets below, which escape
	}
	var sse topology.ServerSelectionError
	var se mongo.ServerError
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return answered
	case errors.Is(err, context.Canceled):
		return unsent
	case errors.As(err, &sse), mongo.IsNetworkError(err), mongo.IsTimeout(err):
		return fault
	case errors.As(err, &se):
		return answered
	}
	return unsent
}
