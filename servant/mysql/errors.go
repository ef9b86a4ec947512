package mysql

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/faed/faed/pool"

	"github.com/go-sql-driver/mysql"
)

var (
	// ErrUnknownPool is wrapped by the error for a pool name that is neither
	// a configured pool nor a sharded one.
	ErrUnknownPool = errors.New("mysql: unknown pool")
	// ErrNoLookupRow is wrapped when a sharded call's hintId has no row in
	// the lookup table.
	ErrNoLookupRow = errors.New("mysql: no lookup row")
	// ErrNoShardPool is wrapped when the lookup table names a shard whose
	// pool is not configured.
	ErrNoShardPool = errors.New("mysql: shard pool not configured")
	// ErrShardLocked is wrapped, with the entity and pool named, when a write
	// meets a lookup row whose shardLock is set (the entity is being moved).
	ErrShardLocked = errors.New("mysql: shard locked")
	// ErrBadIdentifier is wrapped when Merge's table or column is not a plain
	// identifier.
	ErrBadIdentifier = errors.New("mysql: bad identifier")
	// ErrMergeValue is wrapped when Merge's jsonValue is not a JSON object.
	ErrMergeValue = errors.New("mysql: merge value is not a JSON object")
	// ErrMergeStored is wrapped when the column Merge reads holds something
	// other than a JSON object (NULL and the empty string count as {}).
	ErrMergeStored = errors.New("mysql: stored value is not a JSON object")
	// ErrMergeRows is wrapped when Merge's where matches more than one row.
	ErrMergeRows = errors.New("mysql: merge where matches more than one row")
	// ErrBulkLengths is wrapped when BulkExec's lists differ in length.
	ErrBulkLengths = errors.New("mysql: bulk lists differ in length")
	// ErrEvict is wrapped when BulkExec's statements ran but evicting their
	// cacheKeys failed.
	ErrEvict = errors.New("mysql: cache eviction failed")
	// ErrLookupNotice is wrapped when a write to the lookup table ran but the
	// other nodes could not be told to purge their cached lookup rows.
	ErrLookupNotice = errors.New("mysql: lookup change not announced")
	// ErrClosed is returned by calls made after Close.
	ErrClosed = errors.New("mysql: client closed")
)

// BulkError is BulkExec's error: statement Ran (0-based) of Total failed
// with Err, after statements 0..Ran-1 ran and committed. Statements after it
// did not run. Whether the failed one took effect is unknown when Err is a
// connection error.
type BulkError struct {
	Ran, Total int
	Err        error
}

func (e *BulkError) Error() string {
	return fmt.Sprintf("bulk statement %d of %d failed, %d ran before it: %v", e.Ran+1, e.Total, e.Ran, e.Err)
}

func (e *BulkError) Unwrap() error { return e.Err }

// report tells br how a call that Allow let through ended.
func report(br *pool.Breaker, err error) {
	switch {
	case err == nil:
		br.Success()
	case errors.Is(err, context.Canceled):
		br.Cancel() // the caller gave up: not the server's doing
	case isServerFault(err):
		br.Failure(err)
	default:
		br.Success() // the server answered; the caller is to blame
	}
}

// isServerFault reports whether err says the server or the connection to it
// failed, rather than the caller's statement: any error the server sent
// whose number isServerErrno accepts; the driver's broken-connection errors;
// and whatever pool.IsBroken calls broken (network errors, timeouts, EOF).
func isServerFault(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return isServerErrno(me.Number)
	}
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.Is(err, mysql.ErrMalformPkt) || errors.Is(err, mysql.ErrPktSync) ||
		errors.Is(err, mysql.ErrPktSyncMul) || pool.IsBroken(err)
}

// isServerErrno reports whether the server error number n is no fault of
// the statement. Every other number (1062 duplicate key, 1064 syntax, 1054
// unknown column, 1146 no such table, 1205 lock wait timeout, 1213 deadlock,
// 1290 read-only, …) is the caller's and never counts against the breaker.
func isServerErrno(n uint16) bool {
	switch n {
	case 1021, // ER_DISK_FULL
		1037, 1038, 1041, // out of memory, of sort memory, of resources
		1040, 1203, // too many connections, too many for this user
		1045,       // ER_ACCESS_DENIED_ERROR: no call can succeed
		1053,       // ER_SERVER_SHUTDOWN
		1129, 1130, // host blocked, host not allowed
		1152, 1184, // connection aborted
		1156, 1158, 1159, 1160, 1161, // network read and write errors
		1927, // ER_CONNECTION_KILLED (MariaDB)
		3032: // ER_SERVER_OFFLINE_MODE (MySQL)
		return true
	}
	return false
}
