package peer

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/faed/faed/peer/vbucket"
	"github.com/faed/faed/pool"
)

// Config configures a node's place in the cluster. Start from DefaultConfig
// (the TOML file is decoded over it): a zero number means "off" where that
// makes sense and is refused by Validate elsewhere, never the default. An
// empty Root and an unset AutoRebalance or Replicas take their defaults.
type Config struct {
	// ZooKeeper lists the ensemble's servers as host:port. If empty, the node
	// is a one-node cluster: it owns every key and never forwards.
	ZooKeeper []string `toml:"zookeeper"`
	// Root is the znode under which the cluster keeps its members and worker
	// ids. If empty, "/fae/cluster".
	Root string `toml:"root"`
	// SessionTimeout is the ZooKeeper session timeout: how long after losing
	// touch with a node the others drop it. The server may clamp it (by default
	// to 2 to 20 ticks). Default 10s; 0 is refused (a ZooKeeper session
	// needs a timeout).
	SessionTimeout time.Duration `toml:"session_timeout"`
	// Advertise is the host:port other nodes dial to reach this one, and its
	// name in the member list. Required with ZooKeeper; otherwise it only names
	// the node in stats (if empty, "self").
	Advertise string `toml:"advertise"`
	// VirtualNodes is ignored: it sized the consistent-hash ring that
	// decided key ownership before the vbucket map did. It is still accepted
	// so that old configuration files load.
	VirtualNodes int `toml:"virtual_nodes"`
	// CallTimeout bounds each forwarded call, from sending the request to
	// reading the answer, or the call's own deadline (in its ctx) if that
	// is sooner. faed -check refuses one above [engine] call_timeout.
	// Default 3s; 0: off, only the call's own deadline bounds it.
	CallTimeout time.Duration `toml:"call_timeout"`
	// Peer sizes and times the connection pool to each peer.
	Peer pool.Config `toml:"peer_pool"`
	// Breaker configures the circuit breaker in front of each peer.
	Breaker pool.BreakerConfig `toml:"peer_breaker"`

	// VBuckets is the number of vbuckets keys map to; every node of a
	// cluster must use the same value (the map in ZooKeeper wins once
	// read). 1 to vbucket.MaxVBuckets. Default 1024; 0 is refused (keys
	// need a vbucket to map to).
	VBuckets int `toml:"vbuckets"`
	// AutoRebalance lets the coordinator rebalance whenever the members
	// change; off, it moves vbuckets only on a rebalance request, a drain,
	// or for a node gone past LeaveGrace. If unset, true.
	AutoRebalance *bool `toml:"auto_rebalance"`
	// LeaveGrace is how long a node that vanished from the members keeps
	// its vbuckets (its files may come back with it) before they get new
	// owners. Default 30s; 0: no grace, they get new owners at once.
	LeaveGrace time.Duration `toml:"leave_grace"`
	// MaxMoves bounds the vbucket moves the coordinator runs at once, as
	// one group sharing its plan writes (copying, fenced, the flip).
	// Default 16; 0 is refused (no vbucket could ever move).
	MaxMoves int `toml:"max_moves"`
	// MoveBatchKeys is how many kvdb keys one page of a move carries.
	// Default 1000; 0 is refused (a page must carry keys).
	MoveBatchKeys int `toml:"move_batch_keys"`

	// Replicas is how many copies of each vbucket other nodes keep beside
	// its active owner (SPEC §5.4), 0 to 2: kvdb writes, locks and unlocks
	// reach them before they are acknowledged, and one is promoted when the
	// owner dies. A cluster's map keeps the count it was created with.
	// Default 1; 0: no replicas.
	Replicas *int `toml:"replicas"`
	// FailoverDelay is how long after an active owner's ZooKeeper session
	// ended the coordinator promotes a replica of its vbuckets. The owner
	// stops serving them by the time the session can have expired (it
	// counts from the last it heard of ZooKeeper), and calls it admitted
	// before end within call_timeout, so it must be at least call_timeout.
	// Default 5s; 0 is refused (it must be at least call_timeout).
	FailoverDelay time.Duration `toml:"failover_delay"`
	// ReplicaTimeout bounds each replication call; a replica that does not
	// answer in time is dropped from the vbucket's replicas in the map
	// before the write is acknowledged, and rebuilt by the coordinator.
	// Default 1s; 0 is refused: a hung replica would hold each write to its
	// deadline and fail it, instead of being dropped.
	ReplicaTimeout time.Duration `toml:"replica_timeout"`
}

// selfName names a node without an advertised address.
const selfName = "self"

// DefaultConfig returns a one-node cluster with every default filled in.
func DefaultConfig() Config {
	return Config{
		Root:           "/fae/cluster",
		SessionTimeout: 10 * time.Second,
		CallTimeout:    3 * time.Second,
		Peer:           pool.DefaultConfig(),
		Breaker:        pool.DefaultBreakerConfig(),
		VBuckets:       vbucket.DefaultVBuckets,
		AutoRebalance:  ptr(true),
		LeaveGrace:     30 * time.Second,
		MaxMoves:       16,
		MoveBatchKeys:  1000,
		Replicas:       ptr(1),
		FailoverDelay:  5 * time.Second,
		ReplicaTimeout: time.Second,
	}
}

// ptr returns a pointer to a copy of v: each DefaultConfig gets its own.
func ptr[T any](v T) *T { return &v }

// autoRebalance reports AutoRebalance, unset meaning true.
func (c Config) autoRebalance() bool { return c.AutoRebalance == nil || *c.AutoRebalance }

// Validate reports every invalid field, naming its key.
func (c Config) Validate() error {
	return errors.Join(
		c.validateZooKeeper(),
		c.validateAdvertise(),
		validateRoot(c.Root),
		positive("session_timeout", c.SessionTimeout, "a ZooKeeper session needs a timeout"),
		nonNegative("call_timeout", c.CallTimeout),
		prefixed("peer_pool", c.Peer.Validate()),
		prefixed("peer_breaker", c.Breaker.Validate()),
		validateVBuckets(c.VBuckets),
		nonNegative("leave_grace", c.LeaveGrace),
		positive("max_moves", c.MaxMoves, "no vbucket could ever move"),
		positive("move_batch_keys", c.MoveBatchKeys, "a page of a move must carry keys"),
		c.validateReplicas(),
	)
}

func (c Config) validateReplicas() error {
	errs := []error{
		positive("failover_delay", c.FailoverDelay, "it must be at least call_timeout"),
		positive("replica_timeout", c.ReplicaTimeout, "a hung replica would hold each write to its deadline "+
			"and fail it, instead of being dropped"),
	}
	if c.Replicas != nil && (*c.Replicas < 0 || *c.Replicas > vbucket.MaxReplicas) {
		errs = append(errs, fmt.Errorf("replicas = %d: want 0 to %d", *c.Replicas, vbucket.MaxReplicas))
	}
	if c.FailoverDelay > 0 && c.FailoverDelay < c.CallTimeout {
		errs = append(errs, fmt.Errorf("failover_delay = %v is below call_timeout = %v: a call the old owner "+
			"admitted before it stopped could still run when its replica is promoted", c.FailoverDelay, c.CallTimeout))
	}
	return errors.Join(errs...)
}

// replicas reports Replicas, unset meaning 1.
func (c Config) replicas() int {
	if c.Replicas == nil {
		return 1
	}
	return *c.Replicas
}

func validateVBuckets(n int) error {
	if n < 1 || n > vbucket.MaxVBuckets {
		return fmt.Errorf("vbuckets = %d: want 1 to %d (keys need a vbucket to map to)", n, vbucket.MaxVBuckets)
	}
	return nil
}

func (c Config) validateZooKeeper() error {
	for _, s := range c.ZooKeeper {
		if _, _, err := net.SplitHostPort(s); err != nil || strings.HasPrefix(s, ":") {
			return fmt.Errorf("zookeeper: %q: want host:port", s)
		}
	}
	return nil
}

func (c Config) validateAdvertise() error {
	if c.Advertise == "" {
		if len(c.ZooKeeper) > 0 {
			return errors.New("advertise: required when zookeeper is set")
		}
		return nil
	}
	host, port, err := net.SplitHostPort(c.Advertise)
	if err != nil || host == "" || port == "" || strings.Contains(c.Advertise, "/") {
		return fmt.Errorf("advertise: %q: want host:port other nodes can dial", c.Advertise)
	}
	return nil
}

// validateRoot accepts "" (the default) or an absolute znode path without a
// trailing slash or empty segments.
func validateRoot(root string) error {
	if root == "" {
		return nil
	}
	if !strings.HasPrefix(root, "/") || strings.HasSuffix(root, "/") || strings.Contains(root, "//") {
		return fmt.Errorf("root: %q: want an absolute znode path like /fae/cluster", root)
	}
	return nil
}

// withDefaults fills an empty Root and an unset Replicas or AutoRebalance;
// a zero number stays as it is (see Config).
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	c.Root = orDefault(c.Root, d.Root)
	if c.Replicas == nil {
		c.Replicas = d.Replicas
	}
	if c.AutoRebalance == nil {
		c.AutoRebalance = d.AutoRebalance
	}
	return c
}

// self is the node's name in the member list.
func (c Config) self() string {
	return orDefault(c.Advertise, selfName)
}

func nonNegative[T int | time.Duration](key string, v T) error {
	if v < 0 {
		return fmt.Errorf("%s = %v: must not be negative", key, v)
	}
	return nil
}

// positive refuses a zero or negative v; why says what is wrong with 0.
func positive[T int | time.Duration](key string, v T, why string) error {
	if v <= 0 {
		return fmt.Errorf("%s = %v: must be positive: %s", key, v, why)
	}
	return nil
}

func prefixed(key string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", key, err)
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
