//go:build !linux

package testserver

import "syscall"

// sysProcAttr has nothing to add outside Linux: orphaned servers are left to the tester.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// lockFile does not lock outside Linux: concurrent builds there each write their own temporary
// file and the last rename wins.
func lockFile(string) (unlock func(), err error) { return func() {}, nil }
