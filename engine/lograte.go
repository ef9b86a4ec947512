package engine

import (
	"sync/atomic"
	"time"
)

// logLimiter lets at most perSecond log lines through each second, so a
// flood of failing calls shows in the log without drowning it; what it
// holds back is still counted in the stats. Safe for concurrent use.
type logLimiter struct {
	perSecond int64
	second    atomic.Int64 // the Unix second being counted
	count     atomic.Int64 // lines let through in that second
}

func (l *logLimiter) allow() bool {
	now := time.Now().Unix()
	if sec := l.second.Load(); sec != now && l.second.CompareAndSwap(sec, now) {
		l.count.Store(0)
	}
	return l.count.Add(1) <= l.perSecond
}
