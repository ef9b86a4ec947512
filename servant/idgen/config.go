package idgen

import (
	"fmt"
	"time"
)

// maxClockBackwardsLimit caps max_clock_backwards: the wait holds the
// generator's lock, so every caller stalls for as long as it lasts.
const maxClockBackwardsLimit = time.Second

// Config holds the [servant.idgen] section of faed's TOML file.
type Config struct {
	// WorkerID goes into bits 12–16 of every id. It must be unique per node
	// (0–31); two nodes sharing one can issue duplicate ids. Default 0,
	// which is a worker id like the others, not "off".
	WorkerID int `toml:"worker_id"`

	// MaxClockBackwards is how far the wall clock may step back before Next
	// answers ErrClockBackwards instead of waiting until it catches up.
	// Millisecond resolution; at most 1s. Default 5ms; 0: off, never waits
	// (any step back answers ErrClockBackwards).
	MaxClockBackwards time.Duration `toml:"max_clock_backwards"`
}

// DefaultConfig returns the documented defaults (the TOML file is decoded on top of it).
func DefaultConfig() Config {
	return Config{WorkerID: 0, MaxClockBackwards: 5 * time.Millisecond}
}

// Validate returns an error naming the bad key, e.g.
// `worker_id: must be between 0 and 31, got 40`.
func (c Config) Validate() error {
	if c.WorkerID < 0 || c.WorkerID > MaxWorkerID {
		return fmt.Errorf("worker_id: must be between 0 and %d, got %d", MaxWorkerID, c.WorkerID)
	}
	if c.MaxClockBackwards < 0 || c.MaxClockBackwards > maxClockBackwardsLimit {
		return fmt.Errorf("max_clock_backwards: must be between 0 and %s, got %s",
			maxClockBackwardsLimit, c.MaxClockBackwards)
	}
	return nil
}
