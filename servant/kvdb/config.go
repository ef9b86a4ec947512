package kvdb

import (
	"fmt"
	"log/slog"

	"go.etcd.io/bbolt"
)

// DefaultVBuckets is the vbucket count when Config.VBuckets is zero.
const DefaultVBuckets = 1024

// maxVBuckets is the most vbuckets the 2-byte key prefix can name.
const maxVBuckets = 1 << 16

// maxKeyLimit caps max_key_bytes: bbolt's key limit less the vbucket prefix.
const maxKeyLimit = bbolt.MaxKeySize - prefixLen

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
	// Default 1024; 0 is refused (no key would fit).
	MaxKeyBytes int `toml:"max_key_bytes"`

	// MaxValueBytes is the largest value accepted, in bytes (1–1 GiB).
	// Default 1 MiB; 0 is refused (no value would fit; a value is held in
	// memory whole, so "no limit" is not offered).
	MaxValueBytes int `toml:"max_value_bytes"`

	// VBuckets is the cluster's vbucket count (1–65536), which keys are
	// grouped by on disk; faed sets it from the cluster configuration, not
	// from this section. A file keeps the count it was written with: Open
	// refuses a file written with another one. If zero, DefaultVBuckets.
	VBuckets int `toml:"-"`

	// Log receives the one-time layout migration's report. If nil,
	// slog.Default().
	Log *slog.Logger `toml:"-"`
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
	if c.MaxKeyBytes < 1 || c.MaxKeyBytes > maxKeyLimit {
		return fmt.Errorf("max_key_bytes: must be between 1 and %d, got %d", maxKeyLimit, c.MaxKeyBytes)
	}
	if c.MaxValueBytes < 1 || c.MaxValueBytes > maxValueLimit {
		return fmt.Errorf("max_value_bytes: must be between 1 and %d, got %d", maxValueLimit, c.MaxValueBytes)
	}
	if c.VBuckets < 0 || c.VBuckets > maxVBuckets {
		return fmt.Errorf("vbuckets: must be between 1 and %d (0: %d), got %d", maxVBuckets, DefaultVBuckets, c.VBuckets)
	}
	return nil
}

// vbuckets returns VBuckets or its default.
func (c Config) vbuckets() int {
	if c.VBuckets == 0 {
		return DefaultVBuckets
	}
	return c.VBuckets
}

// log returns Log or its default.
func (c Config) log() *slog.Logger {
	if c.Log == nil {
		return slog.Default()
	}
	return c.Log
}
