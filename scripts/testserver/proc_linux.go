package testserver

import (
	"os"
	"syscall"
)

// sysProcAttr makes the kernel kill a server when the test binary dies without running its
// cleanups (a panic, a -timeout, a SIGKILL), so no orphan holds a port. The signal follows the
// OS thread that forked, which the Go runtime keeps alive unless a goroutine exits while locked
// to it; good enough for a test helper.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// lockFile takes an exclusive flock on path, blocking until it is free, and returns its release.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil // closing releases the lock
}
