//go:build !race

package vbucket

const raceEnabled = false
