package engine

import "sync"

// sessionSlots bounds the open sessions at max_outstanding_sessions, a
// bound a reload may raise or lower while sessions are open: lowered, the
// sessions above it run to their end and no new one starts until the count
// is below it again.
type sessionSlots struct {
	mu    sync.Mutex
	open  int
	limit int
	// freed is closed (and replaced) when a slot frees or the limit rises
	// while an acceptor waits; nil while none does.
	freed chan struct{}
}

// take claims a slot if one is free; otherwise it returns the channel
// that is closed when the caller should try again.
func (s *sessionSlots) take() (ok bool, retry <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open < s.limit {
		s.open++
		return true, nil
	}
	if s.freed == nil {
		s.freed = make(chan struct{})
	}
	return false, s.freed
}

func (s *sessionSlots) release() {
	s.mu.Lock()
	s.open--
	s.wakeLocked()
	s.mu.Unlock()
}

func (s *sessionSlots) setLimit(n int) {
	s.mu.Lock()
	s.limit = n
	s.wakeLocked()
	s.mu.Unlock()
}

func (s *sessionSlots) wakeLocked() {
	if s.freed != nil && s.open < s.limit {
		close(s.freed)
		s.freed = nil
	}
}
