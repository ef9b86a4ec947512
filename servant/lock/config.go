package lock

import (
	"fmt"
	"time"
)

// Config holds the [servant.lock] section of faed's TOML file.
type Config struct {
	// Expiry is how long a lock is held if nobody unlocks it; after that
	// the next TryLock takes it over. Default 10s; at least 1ms: 0 is
	// refused (a lock whose holder died would be held forever).
	Expiry time.Duration `toml:"expiry"`

	// MaxLocks bounds the locks held at once; past it TryLock of a new key
	// answers ErrFull. A held lock is never evicted. Default 1000000; 0 is
	// refused (no lock could be taken).
	MaxLocks int `toml:"max_locks"`

	// MaxKeyBytes is the longest key accepted, in bytes. Default 250; 0 is
	// refused (no key would fit).
	MaxKeyBytes int `toml:"max_key_bytes"`

	// VBuckets is the cluster's vbucket count, which keys are indexed by
	// (crc32 IEEE of the key modulo VBuckets, as the vbucket map places
	// them); set by the dispatcher, not the file. If zero, DefaultVBuckets.
	VBuckets int `toml:"-"`
}

// DefaultVBuckets is Config.VBuckets when zero.
const DefaultVBuckets = 1024

// DefaultConfig returns the documented defaults (the TOML file is decoded on top of it).
func DefaultConfig() Config {
	return Config{Expiry: 10 * time.Second, MaxLocks: 1_000_000, MaxKeyBytes: 250}
}

// Validate returns an error naming the bad key, e.g.
// `max_locks: must be at least 1, got 0`.
func (c Config) Validate() error {
	if c.Expiry == 0 {
		return fmt.Errorf("expiry: must be at least 1ms, got 0s: a lock whose holder died would be held forever")
	}
	if c.Expiry < time.Millisecond {
		return fmt.Errorf("expiry: must be at least 1ms, got %s", c.Expiry)
	}
	if c.MaxLocks < 1 {
		return fmt.Errorf("max_locks: must be at least 1, got %d: no lock could be taken", c.MaxLocks)
	}
	if c.MaxKeyBytes < 1 {
		return fmt.Errorf("max_key_bytes: must be at least 1, got %d: no key would fit", c.MaxKeyBytes)
	}
	if c.VBuckets < 0 {
		return fmt.Errorf("vbuckets: must not be negative, got %d", c.VBuckets)
	}
	return nil
}
