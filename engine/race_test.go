//go:build race

package engine

// raceEnabled: the race detector allocates on its own, so allocation
// counts say nothing under it.
const raceEnabled = true
