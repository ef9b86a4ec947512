package testserver

import (
	"errors"
	"testing"
	"time"
)

// PollEvery is how often Eventually, EventuallyNil and Consistently call
// their condition.
const PollEvery = 10 * time.Millisecond

// Eventually calls cond every PollEvery until it returns true, and returns
// how long that took. Once within has passed it fails the test, naming what
// it waited for and for how long. Call it from the test's goroutine.
func Eventually(t testing.TB, what string, within time.Duration, cond func() bool) time.Duration {
	t.Helper()
	return EventuallyNil(t, what, within, func() error {
		if !cond() {
			return errNotYet
		}
		return nil
	})
}

// EventuallyNil is Eventually for a condition that says why it does not
// hold yet: it waits for cond to return nil and fails with its last error.
func EventuallyNil(t testing.TB, what string, within time.Duration, cond func() error) time.Duration {
	t.Helper()
	began := time.Now()
	for {
		err := cond()
		if err == nil {
			return time.Since(began)
		}
		if waited := time.Since(began); waited > within {
			t.Fatalf("after %v still waiting for %s: %v", waited.Round(time.Millisecond), what, err)
		}
		time.Sleep(PollEvery)
	}
}

// Consistently calls cond every PollEvery for d and fails the test, naming
// what should have held, at cond's first error. Call it from the test's
// goroutine.
func Consistently(t testing.TB, what string, d time.Duration, cond func() error) {
	t.Helper()
	for end := time.Now().Add(d); ; time.Sleep(PollEvery) {
		if err := cond(); err != nil {
			t.Fatalf("%s stopped holding: %v", what, err)
		}
		if time.Now().After(end) {
			return
		}
	}
}

// errNotYet is what Eventually reports of a condition that gives no reason.
var errNotYet = errors.New("not yet")
