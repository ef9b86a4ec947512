// Package servant is the FunServant dispatcher: one method per IDL call, each
// a few lines that validate, pick the servant, call it and return. Errors
// become Thrift exceptions here and nowhere else. It owns no state of its
// own; the servant packages below it do.
package servant

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/servant/idgen"
	"github.com/faed/faed/servant/kvdb"
	"github.com/faed/faed/servant/lcache"
	"github.com/faed/faed/servant/lock"
	"github.com/faed/faed/servant/memcache"
	"github.com/faed/faed/servant/mongodb"
	"github.com/faed/faed/servant/mysql"
	"github.com/faed/faed/servant/zk"
)

// Config holds the [servant] section of faed's TOML file and its
// [servant.*] subsections.
type Config struct {
	// LCacheLocal keeps lc_* calls on the node they reach instead of the
	// key's owner, as the original did. Default false.
	LCacheLocal bool `toml:"lcache_local"`
	// ForwardRetryWait is how long an idempotent call whose owner cannot be
	// reached waits for the map to change before retrying once on the new
	// owner, and how long a call of a vbucket fenced for a move waits for
	// the flip or the rollback, within the call's deadline: it must stay
	// below call_timeout (faed -check refuses otherwise), so the retry
	// catches an owner that left or was dropped quickly, not one ZooKeeper
	// has yet to expire. Default 2s; 0: off, no wait (such a call answers
	// its error at once).
	ForwardRetryWait time.Duration `toml:"forward_retry_wait"`

	IDGen    idgen.Config    `toml:"idgen"`
	LCache   lcache.Config   `toml:"lcache"`
	Lock     lock.Config     `toml:"lock"`
	KVDB     kvdb.Config     `toml:"kvdb"`
	ZK       zk.Config       `toml:"zk"`
	MongoDB  mongodb.Config  `toml:"mongodb"`
	MySQL    mysql.Config    `toml:"mysql"`
	Memcache memcache.Config `toml:"memcache"`
}

// DefaultConfig returns every servant's documented defaults.
func DefaultConfig() Config {
	return Config{
		ForwardRetryWait: 2 * time.Second,
		IDGen:            idgen.DefaultConfig(),
		LCache:           lcache.DefaultConfig(),
		Lock:             lock.DefaultConfig(),
		KVDB:             kvdb.DefaultConfig(),
		ZK:               zk.DefaultConfig(),
		MongoDB:          mongodb.DefaultConfig(),
		MySQL:            mysql.DefaultConfig(),
		Memcache:         memcache.DefaultConfig(),
	}
}

// Validate checks every servant section; the error names section and key.
func (c Config) Validate() error {
	sections := []struct {
		name string
		err  error
	}{
		{"idgen", c.IDGen.Validate()},
		{"lcache", c.LCache.Validate()},
		{"lock", c.Lock.Validate()},
		{"kvdb", c.KVDB.Validate()},
		{"zk", c.ZK.Validate()},
		{"mongodb", c.MongoDB.Validate()},
		{"mysql", c.MySQL.Validate()},
		{"memcache", c.Memcache.Validate()},
	}
	var errs []error
	if c.ForwardRetryWait < 0 {
		errs = append(errs, fmt.Errorf("forward_retry_wait: must not be negative, got %v", c.ForwardRetryWait))
	}
	for _, s := range sections {
		if s.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.name, s.err))
		}
	}
	return errors.Join(errs...)
}

// Options wire a FunServant to the rest of the daemon.
type Options struct {
	// Version is reported by ping.
	Version string
	Log     *slog.Logger
	// Router places key-owned calls in a cluster; nil on a one-node daemon.
	// With a Router, the daemon calls ViewChanged after each change of its
	// view (and once before serving), e.g. through peer.Cluster.OnView.
	Router Router
	// MoveBatchKeys is [cluster] move_batch_keys: the kvdb keys of one
	// snapshot page of a move. If zero, kvdb's default page.
	MoveBatchKeys int
	// Worker says whether this node holds its idgen worker id in
	// ZooKeeper; nil on a one-node daemon, where it always does.
	Worker Worker
	// CallTimeout is [engine] call_timeout: the deadline of every call that
	// waits on a backend or a peer, unless the servant's or pool's own
	// bound or the caller's budget is lower (see deadline). If zero,
	// DefaultCallTimeout.
	CallTimeout time.Duration
	// Notices carries the cluster's change notices, which keep the lookup
	// cache coherent (see followCluster); nil on a one-node daemon.
	// *peer.Cluster is both Router and Notices.
	Notices Notices
}

// Worker says whether the idgen worker id is held; *peer.Cluster implements
// it.
type Worker interface {
	WorkerHeld() bool
}

// FunServant implements the generated rpc.FunServant interface. Safe for
// concurrent use: every servant below it is.
type FunServant struct {
	cfg     Config
	version string // for ping
	router  Router // nil: every key is ours
	worker  Worker // nil: the worker id is ours
	routing routeStats
	log     *slog.Logger // Options.Log, or slog.Default()
	// moveBatchKeys is Options.MoveBatchKeys.
	moveBatchKeys int
	gates         []gate // by vbucket; nil without a router
	moves         moves  // the hand-offs of vbuckets under way here (handoff.go)
	order         *order // by key: its replicated writes one at a time (replicate.go)
	// callTimeout is Options.CallTimeout, its default filled in, as a
	// time.Duration; a reload may change it.
	callTimeout atomic.Int64
	start       time.Time
	ids         *idgen.Generator
	cache       *lcache.Cache
	locks       *lock.Table
	kv          *kvdb.DB
	// The backend servants (backends.go); cfg keeps the sections they
	// started with, each instance the one it was built from.
	zk       backend[*zk.Client]
	mg       backend[*mongodb.Client]
	my       backend[*mysql.Client]
	mc       backend[*memcache.Client]
	reloadMu sync.Mutex    // one Reload at a time
	notices  Notices       // nil: no cluster
	switched switches      // operator degrade switches (degrade.go)
	shared   sharedNotices // nil: no cluster, the switches are this node's
}

// reqContext is the request context of a call: rc, or an empty Context
// when the caller sent none. A missing required field is served as its zero
// value, as the original faed served it, and for the reqCtx argument that
// zero value is a nil pointer; every read of a call's context goes through
// here so that nil reads as rid 0, reason "", uid 0, nothing optional set.
func reqContext(rc *rpc.Context) *rpc.Context {
	if rc == nil {
		return &rpc.Context{}
	}
	return rc
}

// New builds the servants cfg configures. Close releases them.
func New(cfg Config, opts Options) (*FunServant, error) {
	if opts.Router != nil {
		cfg = withVBuckets(cfg, opts.Router.VBuckets())
	}
	ids, err := idgen.New(cfg.IDGen)
	if err != nil {
		return nil, err
	}
	cache, err := lcache.New(cfg.LCache)
	if err != nil {
		return nil, err
	}
	locks, err := lock.New(cfg.Lock)
	if err != nil {
		return nil, err
	}
	kv, err := kvdb.Open(cfg.KVDB)
	if err != nil {
		return nil, err
	}
	s := &FunServant{cfg: cfg, version: opts.Version, router: opts.Router, worker: opts.Worker, moveBatchKeys: opts.MoveBatchKeys, log: cmp.Or(opts.Log, slog.Default()), start: time.Now(),
		ids: ids, cache: cache, locks: locks, kv: kv}
	s.setCallTimeout(opts.CallTimeout)
	s.zk.kind, s.mg.kind, s.my.kind, s.mc.kind = zkKind, mongodbKind, mysqlKind, memcacheKind
	if s.router != nil {
		s.gates = make([]gate, s.router.VBuckets())
		s.moves.init(s.router.VBuckets())
		s.order = new(order)
	}
	if err := s.openBackends(cfg); err != nil {
		s.Close()
		return nil, err
	}
	s.followCluster(opts.Notices)
	return s, nil
}

// withVBuckets gives every servant that holds routed state the cluster's
// vbucket count n, so that each places a key in the vbucket the map does.
func withVBuckets(cfg Config, n int) Config {
	cfg.KVDB.VBuckets, cfg.Lock.VBuckets, cfg.LCache.VBuckets, cfg.MySQL.QueryCache.VBuckets = n, n, n, n
	return cfg
}

// openBackends opens every backend servant, in backendList's order.
func (s *FunServant) openBackends(cfg Config) error {
	for _, b := range s.backendList() {
		if err := b.open(s, cfg); err != nil {
			return err
		}
	}
	return nil
}

// setCallTimeout sets the deadline of calls that wait on a backend or a
// peer; zero is DefaultCallTimeout.
func (s *FunServant) setCallTimeout(d time.Duration) {
	s.callTimeout.Store(int64(cmp.Or(d, DefaultCallTimeout)))
}

// Close releases the servants in the reverse order of servantList: the
// backends, each once its calls in flight have returned, then the kvdb
// file. Idempotent.
func (s *FunServant) Close() error {
	list := s.servantList()
	var errs []error
	for i := len(list) - 1; i >= 0; i-- {
		errs = append(errs, list[i].close())
	}
	return errors.Join(errs...)
}

// Stats returns every servant's counters, for the admin endpoints.
func (s *FunServant) Stats() any {
	out := map[string]any{}
	for _, sv := range s.servantList() {
		if st, ok := sv.stats(); ok {
			out[sv.name()] = st
		}
	}
	if s.router != nil {
		out["routing"] = s.routing.stats()
	}
	out["switches"] = s.switched.list()
	return out
}
