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

// Defaults of PoolConfig (see DefaultPoolConfig).
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

// PoolConfig is one named pool of memcached servers. Its section is decoded
// over DefaultPoolConfig (see UnmarshalTOML), so an absent key takes its
// default; an explicit 0 is refused where its comment says so, and is off
// in the pool's pool and breaker keys as package pool documents.
type PoolConfig struct {
	// Servers lists the pool's memcached servers as "host:port". Their order
	// decides placement: keep it the same as in the PHP code that shares the
	// servers. Required, no duplicates.
	Servers []string `toml:"servers"`
	// Selection is how a key picks its server: "standard", "consistent" or
	// "php-consistent" (see the Select constants). If empty, "standard".
	Selection string `toml:"selection"`
	// Replicas is how many distinct servers hold each key: a write goes to all
	// of them, a read to the first one that is up. 1 to len(Servers).
	// Default 1 (no extra copies); 0 is refused (a key needs a server).
	Replicas int `toml:"replicas"`
	// VirtualNodes is how many points each server has on a consistent ring.
	// php-consistent places keys as PHP does only with 160. Default 160; 0
	// is refused (a ring needs points).
	VirtualNodes int `toml:"virtual_nodes"`
	// IOTimeout bounds the network I/O of one call on one server, from the
	// first byte written to the last byte read. Default 200ms; 0 is
	// refused: a hung server must fail its calls well before their
	// deadline, so that the breaker and the replicas take over.
	IOTimeout time.Duration `toml:"io_timeout"`
	// MaxKeyBytes is the longest key accepted, 1 to 250. Default 250; 0 is
	// refused (no key would fit).
	MaxKeyBytes int `toml:"max_key_bytes"`
	// BatchGets makes the gets for one server that come at the same time share
	// round trips: while a few gets are under way, the ones that come meanwhile
	// go out together as one multi-get (see batcher in batch.go). A lone get
	// goes out at once as before; each caller keeps its own deadline, miss and
	// error. With 64 callers on 2 cores (BenchmarkGetBatched) it more than
	// doubles the gets per second. Default true; false sends every get alone.
	// A Go caller building a PoolConfig without DefaultPoolConfig gets false.
	BatchGets bool `toml:"batch_gets"`
	// Pool sizes and times each server's connection pool, with package pool's
	// defaults (max_open 64 connections to the server, dial_timeout 1s,
	// idle_timeout 5m, heartbeat_interval 30s, wait_timeout 1s) but one:
	// max_idle, the connections kept open for reuse, is max_open if absent
	// (so 64), not pool's 4, and 0 is refused. Each call in flight holds a connection, so a pool
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

// DefaultPoolConfig returns a pool's documented defaults, which its
// section is decoded over; the servers have none.
func DefaultPoolConfig() PoolConfig {
	pc := PoolConfig{Selection: SelectStandard, Replicas: DefaultReplicas, VirtualNodes: DefaultVirtualNodes,
		IOTimeout: DefaultIOTimeout, MaxKeyBytes: MaxKeyBytes, BatchGets: true,
		Pool: pool.DefaultConfig(), Breaker: pool.DefaultBreakerConfig()}
	pc.Pool.MaxIdle = pc.Pool.MaxOpen
	return pc
}

// UnmarshalTOML decodes a pool's section over DefaultPoolConfig. Without
// pool.max_idle, max_idle is pool.max_open.
func (pc *PoolConfig) UnmarshalTOML(data any) error {
	type plain PoolConfig // without this method
	d := plain(DefaultPoolConfig())
	if err := pool.DecodeTable(data, &d); err != nil {
		return err
	}
	if p, _ := data.(map[string]any)["pool"].(map[string]any); p["max_idle"] == nil {
		d.Pool.MaxIdle = d.Pool.MaxOpen
	}
	*pc = PoolConfig(d)
	return nil
}

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
	if pc.IOTimeout <= 0 {
		errs = append(errs, fmt.Errorf("io_timeout: must be positive, got %v: a hung server must fail its "+
			"calls well before their deadline, so that the breaker and the replicas take over", pc.IOTimeout))
	}
	if pc.MaxKeyBytes < 1 || pc.MaxKeyBytes > MaxKeyBytes {
		errs = append(errs, fmt.Errorf("max_key_bytes: must be 1 to %d, got %d", MaxKeyBytes, pc.MaxKeyBytes))
	}
	if pc.Pool.MaxIdle == 0 {
		errs = append(errs, errors.New("pool: max_idle = 0 is not allowed: every call would dial and close "+
			"a connection (leave it out for max_open)"))
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
	if pc.Replicas < 1 || pc.Replicas > len(pc.Servers) {
		return fmt.Errorf("replicas: must be 1 to %d (the number of servers), got %d", len(pc.Servers), pc.Replicas)
	}
	if pc.VirtualNodes < 1 {
		return fmt.Errorf("virtual_nodes: must be at least 1, got %d: a ring needs points", pc.VirtualNodes)
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

// withDefaults fills the zero fields, for Go callers that build a PoolConfig
// without DefaultPoolConfig; Validate refuses those zeros, so a validated
// config passes through unchanged.
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
