package faeclient

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// When a call is sent again. A connection faed closed while it sat idle
// (its idle_timeout, a restart) is usually seen before it is used: the pool
// looks at an idle connection before handing it out (peek). When faed closes
// it just after that look, the call fails on it, and is sent again once, on
// a new connection, if:
//   - writing the call failed: faed never had the whole of it, so it ran
//     none of it. Any call (over a unix socket, a write to a closed
//     connection fails);
//   - or the connection ended (EOF, reset) before any byte of the answer
//     came: faed may have run the call, so only a call in repeatable. Over
//     TCP a write to a closed connection succeeds and the read then ends.
//
// Only on a connection that sat idle (a new one failing is not stale), never after a timeout, and at most once per call: a second
// failure is the caller's. These are the PHP helper's rules
// (idl/php/Reconnect.php).

// repeatable lists the calls that leave the same state when run twice, as
// Reconnect::REPEATABLE in the PHP helper does. Sent again, a delete that
// had run answers false (nothing to delete). my_query is not in it, even for
// a SELECT: a statement can have effects (GET_LOCK, a stored function), and
// the choice is made by the call's name alone.
var repeatable = map[string]bool{
	"ping": true, "noop": true, "id_decode": true,
	"lc_get": true, "lc_set": true, "lc_del": true,
	"kvdb_get": true, "kvdb_set": true, "kvdb_del": true,
	"mc_get": true, "mc_set": true, "mc_delete": true,
	"my_evict": true, "zk_children": true,
	"mg_find_one": true, "mg_find_all": true, "mg_find_id": true, "mg_count": true,
}

// resendable reports whether a call that failed on w may be sent again
// (see above); the caller checks that the connection had sat idle.
func resendable(w *wire, method string) bool {
	switch {
	case errors.Is(w.writeErr, os.ErrDeadlineExceeded), errors.Is(w.readErr, os.ErrDeadlineExceeded):
		return false
	case w.writeErr != nil:
		return true
	case unanswered(w):
		return repeatable[method]
	}
	return false
}

// unanswered reports whether the connection ended before any byte of the
// answer came, after the whole call was written.
func unanswered(w *wire) bool {
	return w.writeErr == nil && w.read == 0 &&
		(errors.Is(w.readErr, io.EOF) || errors.Is(w.readErr, syscall.ECONNRESET) || errors.Is(w.readErr, syscall.EPIPE))
}
