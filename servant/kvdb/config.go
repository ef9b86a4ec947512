package kvdb

import (
	"fmt"

	"go.etcd.io/bbolt"
)

// maxValueLimit caps max_value_bytes: a value is held in memory whole, in
// the request, in the transaction and in the reply.
const maxValueLimit = 1 << 30

// Config holds the [servant.kvdb] section of faed's TOML file.
type Config struct {
	// Path is the database file; its parent directory is created (0o755)
	// at Open. A relative path is taken from faed's working directory.
	// Default "var/faed.kvdb".
	Path string `toml:"path"`

	// MaxKeyBytes is the longest key accepted, in bytes (1–32768).
	// Default 1024.
	MaxKeyBytes int `toml:"max_key_bytes"`

	// MaxValueBytes is the largest value accepted, in bytes (1–1 GiB).
	// Default 1 MiB.
	MaxValueBytes int `toml:"max_value_bytes"`
}

// DefaultConfig returns the documented defaults (the TOML file is decoded on top of it).
func DefaultConfig() Config {
	return Config{Path: "var/faed.kvdb", MaxKeyBytes: 1024, MaxValueBytes: 1 << 20}
}

// Validate returns an error naming the bad key, e.g.
// `max_key_bytes: must be between 1 and 32768, got 0`.
func (c Config) Validate() error {
	if c.Path == "" {
		return fmt.Errorf("path: must not be empty")
	}
	if c.MaxKeyBytes < 1 || c.MaxKeyBytes > bbolt.MaxKeySize {
		return fmt.Errorf("max_key_bytes: must be between 1 and %d, got %d", bbolt.MaxKeySize, c.MaxKeyBytes)
	}
	if c.MaxValueBytes < 1 || c.MaxValueBytes > maxValueLimit {
		return fmt.Errorf("max_value_bytes: must be between 1 and %d, got %d", maxValueLimit, c.MaxValueBytes)
	}
	return nil
}
