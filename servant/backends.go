package servant

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/servant/memcache"
	"github.com/faed/faed/servant/mongodb"
	"github.com/faed/faed/servant/mysql"
	"github.com/faed/faed/servant/zk"
)

// This file is the life cycle of the servants: each is opened from its
// section of the configuration, counted in /stats and closed at the end,
// one list for all (servantList). The backend servants, the ones that reach
// a server, are also rebuilt when a reload changes their section
// (backendList); a backend section that configures nothing opens no
// client, and the backend then holds the error its calls answer. The
// servants in the process (idgen, lcache, lock, kvdb) hold state a rebuild
// would lose: only a restart changes their sections (Config.Reloadable).
// Adding a backend servant is its package, its dispatcher file, a field of
// FunServant with its kind (below), and its line in backendList.

// backend holds one backend servant as configured now. A call holds the
// instance it started on until it returns; a reload swaps a new instance
// in and closes the one it replaced once its calls have returned, so no
// call in flight fails because of a reload.
type backend[C any] struct {
	kind *backendKind[C]
	cur  atomic.Pointer[instance[C]]
}

// backendKind is what the dispatcher knows of one sort of backend client.
type backendKind[C any] struct {
	name string // the servant's name, as in [servant.NAME]
	// section is the part of the configuration the client is built from:
	// a reload rebuilds the client when it differs.
	section    func(Config) any
	configured func(Config) bool
	open       func(*FunServant, Config) (C, error)
	run        func(C, context.Context) // the background work; nil if none
	close      func(C)
	stats      func(C) any
	// adopt carries what the replaced client learnt at run time (the
	// shard map in force, degrade switches) over to its successor, before
	// the successor serves a call; nil if nothing.
	adopt func(s *FunServant, next, prev *instance[C])
}

// instance is one client of a backend and the configuration it was built
// from.
type instance[C any] struct {
	client C
	cfg    Config // the whole [servant] configuration it was opened with
	// err is what every call answers when nothing is configured; client
	// is then the zero value.
	err error
	// calls counts the calls holding the instance. Once retiring is set,
	// the last of them closes drained, and the close that waited for it
	// goes on. (A counter, not a sync.RWMutex: a call may hold a backend
	// twice, as my_bulk_exec does evicting, and a read lock taken again
	// while a writer waits would deadlock.)
	calls    atomic.Int64
	retiring atomic.Bool
	drained  chan struct{}
	drain    sync.Once
	release  func() // hold's, made once: a method value per call would allocate
	stop     func()
}

func newInstance[C any](cfg Config) *instance[C] {
	in := &instance[C]{cfg: cfg, drained: make(chan struct{}), stop: func() {}}
	in.release = func() {
		if in.calls.Add(-1) == 0 && in.retiring.Load() {
			in.drain.Do(func() { close(in.drained) })
		}
	}
	return in
}

// hold returns the instance to call and the release the call must run
// when done; the error the backend answers when it is not configured.
func (b *backend[C]) hold() (*instance[C], func(), error) {
	for {
		in := b.cur.Load()
		if in.err != nil {
			return nil, nil, in.err
		}
		in.calls.Add(1)
		if !in.retiring.Load() {
			return in, in.release, nil
		}
		// Retired between the load and the count: its successor is in.
		in.release()
	}
}

// call runs fn on b's client under the call's deadline (see within),
// bounded also by bound of the configuration that client was built from
// (nil: no bound of its own), so a reload's new timeouts come with its new
// client; when b is not configured it answers b's error and runs nothing.
func call[C any](s *FunServant, ctx context.Context, rc *rpc.Context, b *backend[C], bound func(Config) time.Duration, fn func(context.Context, C) error) error {
	in, done, err := b.hold()
	if err != nil {
		return err
	}
	defer done()
	var limit time.Duration
	if bound != nil {
		limit = bound(in.cfg)
	}
	return s.within(ctx, rc, limit, func(ctx context.Context) error { return fn(ctx, in.client) })
}

// ready is the error the backend answers now: nil if it is configured.
func (b *backend[C]) ready() error { return b.cur.Load().err }

// config is the configuration the instance serving now was built from.
func (b *backend[C]) config() Config { return b.cur.Load().cfg }

// openInstance builds the instance cfg configures, with its background
// work not yet started.
func (k *backendKind[C]) openInstance(s *FunServant, cfg Config) (*instance[C], error) {
	in := newInstance[C](cfg)
	if !k.configured(cfg) {
		in.err = errNotConfigured(k.name)
		return in, nil
	}
	c, err := k.open(s, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k.name, err)
	}
	in.client = c
	return in, nil
}

// start runs the instance's background work until it is retired.
func (k *backendKind[C]) start(in *instance[C]) {
	if in.err != nil || k.run == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		k.run(in.client, ctx)
	}()
	in.stop = func() {
		cancel()
		<-done
	}
}

// retire closes in once the calls holding it have returned.
func (k *backendKind[C]) retire(in *instance[C]) {
	in.retiring.Store(true)
	if in.calls.Load() == 0 {
		in.drain.Do(func() { close(in.drained) })
	}
	<-in.drained
	in.stop()
	if in.err == nil {
		k.close(in.client)
	}
}

// life is a servant as servantList sees it.
type life interface {
	name() string
	// stats are its counters for /stats; false when it has none (a
	// backend not configured).
	stats() (any, bool)
	close() error
}

// inProcess is a servant that lives in faed's memory or files, opened by
// New.
type inProcess struct {
	n       string
	counted func() any
	closer  func() error // nil: nothing to release
}

func (p inProcess) name() string       { return p.n }
func (p inProcess) stats() (any, bool) { return p.counted(), true }
func (p inProcess) close() error {
	if p.closer == nil {
		return nil
	}
	return p.closer()
}

// servantList is every servant with state or a client to release, in the
// order they open; they close in the reverse order.
func (s *FunServant) servantList() []life {
	list := []life{
		inProcess{"lcache", func() any { return s.cache.Stats() }, nil},
		inProcess{"lock", func() any { return s.locks.Stats() }, nil},
		inProcess{"kvdb", func() any { return s.kv.Stats() }, s.kv.Close},
	}
	for _, b := range s.backendList() {
		list = append(list, b)
	}
	return list
}

// lifecycle is a backend as the reload sees it, whatever its client type.
type lifecycle interface {
	life
	// open builds and starts the instance cfg configures.
	open(s *FunServant, cfg Config) error
	// prepare builds the instance cfg configures if its section changed,
	// returning how to swap it in (which returns the instance replaced,
	// to retire); nil, nil if the section did not change.
	prepare(s *FunServant, cfg Config) (swap func() (retire func()), discard func(), err error)
}

func (b *backend[C]) name() string { return b.kind.name }

func (b *backend[C]) open(s *FunServant, cfg Config) error {
	in, err := b.kind.openInstance(s, cfg)
	if err != nil {
		return err
	}
	b.kind.start(in)
	b.cur.Store(in)
	return nil
}

func (b *backend[C]) prepare(s *FunServant, cfg Config) (swap func() func(), discard func(), err error) {
	prev := b.cur.Load()
	if reflect.DeepEqual(b.kind.section(prev.cfg), b.kind.section(cfg)) {
		return nil, nil, nil
	}
	next, err := b.kind.openInstance(s, cfg)
	if err != nil {
		return nil, nil, err
	}
	swap = func() func() {
		if b.kind.adopt != nil && next.err == nil && prev.err == nil {
			b.kind.adopt(s, next, prev)
		}
		b.kind.start(next)
		b.cur.Store(next)
		return func() { b.kind.retire(prev) }
	}
	return swap, func() { b.kind.retire(next) }, nil
}

func (b *backend[C]) stats() (any, bool) {
	in, done, err := b.hold()
	if err != nil {
		return nil, false
	}
	defer done()
	return b.kind.stats(in.client), true
}

// close retires the instance serving; from then on the backend answers
// that it is closed (a cluster's view callbacks may still call in while
// the daemon shuts down).
func (b *backend[C]) close() error {
	closed := newInstance[C](Config{})
	closed.err = fmt.Errorf("servant %s is closed", b.kind.name)
	if in := b.cur.Swap(closed); in != nil {
		b.kind.retire(in)
	}
	return nil
}

// backendList is every backend servant, in the order they open.
func (s *FunServant) backendList() []lifecycle {
	return []lifecycle{&s.zk, &s.mg, &s.my, &s.mc}
}

// The kinds of backend.
var (
	zkKind = &backendKind[*zk.Client]{
		name:       "zk",
		section:    func(c Config) any { return c.ZK },
		configured: func(c Config) bool { return c.ZK.Configured() },
		open:       func(s *FunServant, c Config) (*zk.Client, error) { return zk.New(c.ZK, s.log) },
		close:      (*zk.Client).Close,
		stats:      func(c *zk.Client) any { return c.Stats() },
	}
	mongodbKind = &backendKind[*mongodb.Client]{
		name:       "mongodb",
		section:    func(c Config) any { return c.MongoDB },
		configured: func(c Config) bool { return c.MongoDB.Configured() },
		open:       func(_ *FunServant, c Config) (*mongodb.Client, error) { return mongodb.New(c.MongoDB) },
		close:      func(c *mongodb.Client) { c.Close(context.Background()) },
		stats:      func(c *mongodb.Client) any { return c.Stats() },
		adopt: func(s *FunServant, next, _ *instance[*mongodb.Client]) {
			if err := s.applyMongo(next.client, poolNames(next.cfg.MongoDB.Pools)); err != nil {
				s.log.Warn("reload: the degrade switches in force do not apply to the new mongodb pools", "err", err)
			}
		},
	}
	mysqlKind = &backendKind[*mysql.Client]{
		name:       "mysql",
		section:    func(c Config) any { return c.MySQL },
		configured: func(c Config) bool { return c.MySQL.Configured() },
		open: func(s *FunServant, c Config) (*mysql.Client, error) {
			return mysql.NewInCluster(c.MySQL, mysqlCluster{s})
		},
		run:   (*mysql.Client).Run,
		close: func(c *mysql.Client) { c.Close() },
		stats: func(c *mysql.Client) any { return c.Stats() },
		adopt: adoptShardMap,
	}
	memcacheKind = &backendKind[*memcache.Client]{
		name:       "memcache",
		section:    func(c Config) any { return c.Memcache },
		configured: func(c Config) bool { return c.Memcache.Configured() },
		open:       func(_ *FunServant, c Config) (*memcache.Client, error) { return memcache.New(c.Memcache) },
		run:        (*memcache.Client).Run,
		close:      (*memcache.Client).Close,
		stats:      func(c *memcache.Client) any { return c.Stats() },
	}
)

// adoptShardMap gives a rebuilt mysql client the vbucket shard map in
// force, when it still fits the new configuration: an operator's locks and
// flips outlive a reload. In a cluster the notice's map is read instead.
func adoptShardMap(s *FunServant, next, prev *instance[*mysql.Client]) {
	if next.client.Shards() == 0 || prev.client.Shards() == 0 {
		return
	}
	data := prev.client.ShardMap().Encode()
	if s.shared != nil {
		if d, err := s.shared.NoticeData(shardsTopic); err == nil && len(d) > 0 {
			data = d
		}
	}
	m, err := mysql.DecodeShardMap(data, len(next.client.DefaultShardMap().Shards), next.client.Shards())
	if err != nil {
		s.log.Warn("reload: the shard map in force does not fit the new [servant.mysql.vbucket]; the new client starts on its default map", "err", err)
		return
	}
	next.client.SetShardMap(m)
}

// Reload applies cfg's backend sections that differ from the running ones:
// every changed backend is built first, and if one fails nothing changes
// and the error says which; then all are swapped in at once, and each
// replaced client is closed once its calls in flight have returned. It
// returns the names of the servants it rebuilt. Sections other than the
// backends' (idgen, lcache, lock, kvdb and the top-level keys) hold state
// a rebuild would lose: the caller keeps them as they run (Reloadable).
// callTimeout is [engine] call_timeout, which the calls' deadlines follow.
func (s *FunServant) Reload(cfg Config, callTimeout time.Duration) ([]string, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if s.router != nil {
		cfg = withVBuckets(cfg, s.router.VBuckets())
	}
	if _, keys := s.cfg.Reloadable(cfg); len(keys) > 0 {
		return nil, fmt.Errorf("servant: %v: only a restart changes them (see Reloadable)", keys)
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	type prepared struct {
		name    string
		swap    func() func()
		discard func()
	}
	var ready []prepared
	for _, b := range s.backendList() {
		swap, discard, err := b.prepare(s, cfg)
		if err != nil {
			for _, p := range ready {
				p.discard()
			}
			return nil, err
		}
		if swap != nil {
			ready = append(ready, prepared{b.name(), swap, discard})
		}
	}
	var changed []string
	var retire []func()
	for _, p := range ready {
		retire = append(retire, p.swap())
		changed = append(changed, p.name)
	}
	s.setCallTimeout(callTimeout)
	go func() {
		for _, r := range retire {
			r()
		}
	}()
	return changed, nil
}

// Reloadable returns next with the keys only a restart changes taken from
// c, the running configuration, and the names of those that differed:
// every section but the backends' holds state a rebuild would lose.
func (c Config) Reloadable(next Config) (Config, []string) {
	var keys []string
	keep := func(key string, running, wanted any, restore func()) {
		if !reflect.DeepEqual(running, wanted) {
			keys = append(keys, key)
			restore()
		}
	}
	keep("lcache_local", c.LCacheLocal, next.LCacheLocal, func() { next.LCacheLocal = c.LCacheLocal })
	keep("forward_retry_wait", c.ForwardRetryWait, next.ForwardRetryWait, func() { next.ForwardRetryWait = c.ForwardRetryWait })
	keep("idgen", c.IDGen, next.IDGen, func() { next.IDGen = c.IDGen })
	keep("lcache", c.LCache, next.LCache, func() { next.LCache = c.LCache })
	keep("lock", c.Lock, next.Lock, func() { next.Lock = c.Lock })
	keep("kvdb", c.KVDB, next.KVDB, func() { next.KVDB = c.KVDB })
	return next, keys
}
