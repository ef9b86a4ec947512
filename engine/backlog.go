package engine

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// somaxconnPath is where Linux keeps the listen backlog limit; Go's
// listeners ask for the backlog it allows.
const somaxconnPath = "/proc/sys/net/core/somaxconn"

// ListenBacklog returns the listen backlog faed's listeners get here
// (net.core.somaxconn), and a warning when it is too short for maxSessions.
//
// Past max_outstanding_sessions faed stops accepting, and the dials that
// arrive meanwhile wait in the backlog: a backlog shorter than the session
// bound makes a burst of that size overflow it (TCP clients then retry
// their SYN after a second or more, unix-socket clients fail with EAGAIN at
// once). Zero and no warning where the limit cannot be read (not Linux).
func ListenBacklog(maxSessions int) (backlog int, warning string) {
	data, err := os.ReadFile(somaxconnPath)
	if err != nil {
		return 0, ""
	}
	return backlogWarning(strings.TrimSpace(string(data)), maxSessions)
}

// backlogWarning is ListenBacklog's decision on the text of somaxconnPath.
func backlogWarning(text string, maxSessions int) (int, string) {
	n, err := strconv.Atoi(text)
	if err != nil || n <= 0 {
		return 0, fmt.Sprintf("%s reads %q, not a backlog", somaxconnPath, text)
	}
	if n < maxSessions {
		return n, fmt.Sprintf("listen backlog %d (net.core.somaxconn) is below [engine] max_outstanding_sessions %d: "+
			"a burst of dials past the session bound overflows it; raise it with sysctl -w net.core.somaxconn=%d", n, maxSessions, maxSessions)
	}
	return n, ""
}
