package testserver

import (
	"bytes"
	"sync"
)

// LockedBuffer is a buffer safe for concurrent use: a child's stderr or a
// logger's output that a test reads while it is still being written. The
// zero value is an empty buffer ready to use.
type LockedBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

// Write appends p; it never fails.
func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
