package lcache

import "fmt"

// Config holds the [servant.lcache] section of faed's TOML file.
type Config struct {
	// MaxItems bounds the number of entries. Default 100000; 0 is refused
	// (the cache would hold nothing, and lc_get miss every value lc_set
	// accepted).
	MaxItems int `toml:"max_items"`

	// MaxBytes bounds the bytes held, counted per entry as
	// len(key) + len(value) + EntryOverhead, at least one entry's worth.
	// Default 64 MiB; 0 is refused (nothing would fit).
	MaxBytes int64 `toml:"max_bytes"`

	// MaxKeyBytes is the longest key accepted, in bytes. Default 250
	// (memcached's limit, so keys move freely between the two); 0 is refused
	// (no key would fit).
	MaxKeyBytes int `toml:"max_key_bytes"`

	// VBuckets is the cluster's vbucket count, which keys are indexed and
	// sharded by (crc32 IEEE of the key modulo VBuckets, as the vbucket map
	// places them); set by the dispatcher, not the file. If zero,
	// DefaultVBuckets.
	VBuckets int `toml:"-"`
}

// DefaultVBuckets is Config.VBuckets when zero.
const DefaultVBuckets = 1024

func (c Config) vbuckets() int {
	if c.VBuckets == 0 {
		return DefaultVBuckets
	}
	return c.VBuckets
}

// DefaultConfig returns the documented defaults (the TOML file is decoded on top of it).
func DefaultConfig() Config {
	return Config{MaxItems: 100_000, MaxBytes: 64 << 20, MaxKeyBytes: 250}
}

// Validate returns an error naming the bad key, e.g.
// `max_items: must be at least 1, got 0`.
func (c Config) Validate() error {
	if c.MaxItems < 1 {
		return fmt.Errorf("max_items: must be at least 1, got %d: the cache would hold nothing", c.MaxItems)
	}
	if c.MaxKeyBytes < 1 {
		return fmt.Errorf("max_key_bytes: must be at least 1, got %d: no key would fit", c.MaxKeyBytes)
	}
	if c.VBuckets < 0 {
		return fmt.Errorf("vbuckets: must not be negative, got %d", c.VBuckets)
	}
	// One entry with the longest key and a small value must fit.
	if least := minEntryBytes(c.MaxKeyBytes); c.MaxBytes < least {
		return fmt.Errorf("max_bytes: must be at least %d (max_key_bytes + %d), got %d",
			least, minEntryBytes(0), c.MaxBytes)
	}
	return nil
}

// minEntryBytes is the smallest max_bytes that holds one entry with a key
// of keyLen bytes and a value of up to 1 KiB.
func minEntryBytes(keyLen int) int64 {
	return int64(keyLen) + EntryOverhead + 1024
}
