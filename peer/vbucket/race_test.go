//go:build race

package vbucket

// raceEnabled lets timing assertions allow for the race detector's cost.
const raceEnabled = true
