package memcache

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/faed/faed/pool"
)

// Selection strategies of PoolConfig.Selection.
const (
	// SelectStandard places a key on server ((crc32(key) >> 16) & 0x7fff) % n
	// of the n servers in configured order, a 0 before the modulo counting as
	// 1, exactly as the PHP memcache extension's "standard" strategy does.
	SelectStandard = "standard"
	// SelectConsistent places a key on a consistent-hash ring with virtual
	// nodes, evenly spread: adding a server moves about 1/(n+1) of the keys.
	SelectConsistent = "consistent"
	// SelectPHPConsistent places a key as the PHP memcache extension's
	// "consistent" strategy does (its default), for servers shared with PHP
	// code; its crc32 ring balances load poorly.
	SelectPHPConsistent = "php-consistent"
)

// Defaults of PoolConfig, applied to zero fields.
const (
	DefaultReplicas     = 1
	DefaultVirtualNodes = 160 // the PHP extension's points per server of weight 1
	// DefaultIOTimeout is two orders of magnitude above a memcached round trip
	// on a LAN (a 1 MB item takes under 10ms at 1 Gb/s), and small enough that
	// a hung server costs a PHP request little.
	DefaultIOTimeout = 200 * time.Millisecond
	// MaxKeyBytes is memcached's own limit on a key's length.
	MaxKeyBytes = 250
)

// Config holds the memcache servant's section of faed's TOML file.
type Config struct {
	// Pools maps a pool name, the pool argument of the mc_* calls, to its
	// servers. Empty means the servant is not configured. Default empty.
	Pools map[string]PoolConfig `toml:"pools"`
}

// PoolConfig is one named pool of memcached servers. A zero field takes its
// default.
type PoolConfig struct {
	// Servers lists the pool's memcached servers as "host:port". Their order
	// decides placement: keep it the same as in the PHP code that shares the
	// servers. Required, no duplicates.
	Servers []string `toml:"servers"`
	// Selection is how a key picks its server: "standard", "consistent" or
	// "php-consistent" (see the Select constants). If empty, "standard".
	Selection string `toml:"selection"`
	// Replicas is how many distinct servers hold each key: a write goes to all
	// of them, a read to the first one that is up. At most len(Servers).
	// If zero, 1 (no extra copies).
	Replicas int `toml:"replicas"`
	// VirtualNodes is how many points each server has on a consistent ring.
	// php-consistent places keys as PHP does only with 160. If zero, 160.
	VirtualNodes int `toml:"virtual_nodes"`
	// IOTimeout bounds the network I/O of one call on one server, from the
	// first byte written to the last byte read. If zero, 200ms.
	IOTimeout time.Duration `toml:"io_timeout"`
	// MaxKeyBytes is the longest key accepted, at most 250. If zero, 250.
	MaxKeyBytes int `toml:"max_key_bytes"`
	// Pool sizes and times each server's connection pool, with package pool's
	// defaults (max_open 64 connections to the server, dial_timeout 1s,
	// idle_timeout 5m, heartbeat_interval 30s, wait_timeout 1s) but one:
	// max_idle, the connections kept open for reuse, is max_open if zero (so
	// 64), not pool's 4. Each call in flight holds a connection, so a pool
	// that keeps fewer idle than its concurrent callers dials and closes one
	// for nearly every call (64 callers: 11K calls/s with max_idle 4, 38K with
	// 64). A connection idle past idle_timeout is closed; budget nodes times
	// max_open connections against memcached's -c (default 1024). Idle
	// connections a server restart killed cost no errors and no breaker
	// failures: each is replaced on its next call, which runs again on the new
	// connection.
	Pool pool.Config `toml:"pool"`
	// Breaker configures each server's circuit breaker.
	Breaker pool.BreakerConfig `toml:"breaker"`
}

// DefaultConfig returns the default configuration: no pools, so the servant
// is not configured.
func DefaultConfig() Config { return Config{} }

// Configured reports whether any pool is listed.
func (c Config) Configured() bool { return len(c.Pools) > 0 }

// Validate reports every bad key, each named by its path, e.g.
// `pools.default.servers: at least one server`.
func (c Config) Validate() error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(c.Pools)) {
		if err := c.Pools[name].validate(); err != nil {
			errs = append(errs, fmt.Errorf("pools.%s.%w", name, err))
		}
		if name == "" {
			errs = append(errs, errors.New("pools: a pool name must not be empty"))
		}
	}
	return errors.Join(errs...)
}

// validate returns errors that start with the bad key, without the pool.
func (pc PoolConfig) validate() error {
	errs := []error{pc.validateServers(), pc.validateSelection()}
	if err := pc.Pool.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("pool: %w", err))
	}
	if err := pc.Breaker.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("breaker: %w", err))
	}
	if pc.IOTimeout < 0 {
		errs = append(errs, fmt.Errorf("io_timeout: must not be negative, got %v", pc.IOTimeout))
	}
	if pc.MaxKeyBytes < 0 || pc.MaxKeyBytes > MaxKeyBytes {
		errs = append(errs, fmt.Errorf("max_key_bytes: must be 0 to %d, got %d", MaxKeyBytes, pc.MaxKeyBytes))
	}
	return errors.Join(errs...)
}

func (pc PoolConfig) validateServers() error {
	if len(pc.Servers) == 0 {
		return errors.New("servers: at least one server")
	}
	seen := make(map[string]bool, len(pc.Servers))
	for i, s := range pc.Servers {
		if err := checkAddr(s); err != nil {
			return fmt.Errorf("servers[%d]: %w", i, err)
		}
		if seen[s] {
			return fmt.Errorf("servers[%d]: %q is listed twice", i, s)
		}
		seen[s] = true
	}
	return nil
}

func (pc PoolConfig) validateSelection() error {
	switch pc.Selection {
	case "", SelectStandard, SelectConsistent, SelectPHPConsistent:
	default:
		return fmt.Errorf("selection: must be %q, %q or %q, got %q",
			SelectStandard, SelectConsistent, SelectPHPConsistent, pc.Selection)
	}
	if pc.Replicas < 0 || pc.Replicas > len(pc.Servers) {
		return fmt.Errorf("replicas: must be 1 to %d (the number of servers), got %d", len(pc.Servers), pc.Replicas)
	}
	if pc.VirtualNodes < 0 {
		return fmt.Errorf("virtual_nodes: must not be negative, got %d", pc.VirtualNodes)
	}
	return nil
}

// checkAddr accepts "host:port" with a non-empty host and a port 1 to 65535
// written in canonical decimal, since the string itself is hashed.
func checkAddr(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("must be host:port, got %q", s)
	}
	n, err := strconv.Atoi(port)
	if host == "" || err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
		return fmt.Errorf("must be host:port with a port 1 to 65535, got %q", s)
	}
	return nil
}

// withDefaults fills the zero fields. The pool and breaker configs take their
// own defaults inside package pool, but for max_idle (see PoolConfig.Pool).
func (pc PoolConfig) withDefaults() PoolConfig {
	if pc.Pool.MaxIdle == 0 {
		pc.Pool.MaxIdle = cmp.Or(pc.Pool.MaxOpen, pool.DefaultConfig().MaxOpen)
	}
	pc.Selection = cmp.Or(pc.Selection, SelectStandard)
	pc.Replicas = cmp.Or(pc.Replicas, DefaultReplicas)
	pc.VirtualNodes = cmp.Or(pc.VirtualNodes, DefaultVirtualNodes)
	pc.IOTimeout = cmp.Or(pc.IOTimeout, DefaultIOTimeout)
	pc.MaxKeyBytes = cmp.Or(pc.MaxKeyBytes, MaxKeyBytes)
	return pc
}
