package pool

import (
	"context"
	"errors"
	"io"
	"reflect"
	"sync/atomic"
	"testing"
	"time"
)

// fakeConn is an in-process connection.
type fakeConn struct {
	id     int64
	closed atomic.Bool
}

// fakeBackend dials fakeConns and tracks how many are open at once.
type fakeBackend struct {
	nextID  atomic.Int64
	open    atomic.Int64
	maxOpen atomic.Int64
	dialing atomic.Int64 // Dials in progress
	failing atomic.Bool  // Dial fails with errRefused
	pingErr atomic.Bool  // Ping fails
	pings   atomic.Int64
	gate    chan struct{} // if not nil, Dial waits for it (or ctx) first
}

var errRefused = errors.New("connect: connection refused")

func (f *fakeBackend) dial(ctx context.Context) (*fakeConn, error) {
	f.dialing.Add(1)
	defer f.dialing.Add(-1)
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if f.failing.Load() {
		return nil, errRefused
	}
	n := f.open.Add(1)
	for m := f.maxOpen.Load(); n > m && !f.maxOpen.CompareAndSwap(m, n); m = f.maxOpen.Load() {
	}
	return &fakeConn{id: f.nextID.Add(1)}, nil
}

func (f *fakeBackend) close(c *fakeConn) error {
	if !c.closed.Swap(true) {
		f.open.Add(-1)
	}
	return nil
}

func (f *fakeBackend) ping(_ context.Context, _ *fakeConn) error {
	f.pings.Add(1)
	if f.pingErr.Load() {
		return io.EOF
	}
	return nil
}

func (f *fakeBackend) funcs() Funcs[*fakeConn] {
	return Funcs[*fakeConn]{Dial: f.dial, Close: f.close, Ping: f.ping}
}

// newFakePool returns a pool of fakeConns, closed when the test ends.
func newFakePool(t testing.TB, cfg Config, bcfg BreakerConfig) (*Pool[*fakeConn], *fakeBackend) {
	t.Helper()
	f := &fakeBackend{}
	return newPool(t, cfg, bcfg, f.funcs()), f
}

func newPool[C any](t testing.TB, cfg Config, bcfg BreakerConfig, fn Funcs[C]) *Pool[C] {
	t.Helper()
	br, err := NewBreaker("fake:1", withTestDefaults(bcfg))
	if err != nil {
		t.Fatal(err)
	}
	p, err := New("fake:1", withTestDefaults(cfg), br, fn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func mustGet[C any](t testing.TB, p *Pool[C]) C {
	t.Helper()
	c, err := p.Get(context.Background())
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return c
}

// waitLimit bounds the pool tests' waits for a condition.
const waitLimit = 5 * time.Second

// queued returns how many Gets are waiting.
func (p *Pool[C]) queued() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.waiters)
}

// withTestDefaults fills the zero fields of a test's config literal with
// their defaults, so a test names only what it is about. Only tests do
// this: a zero field in a real config means "off" (see Config).
func withTestDefaults[T Config | BreakerConfig](cfg T) T {
	var def T
	switch any(cfg).(type) {
	case Config:
		def = any(DefaultConfig()).(T)
	case BreakerConfig:
		def = any(DefaultBreakerConfig()).(T)
	}
	v, d := reflect.ValueOf(&cfg).Elem(), reflect.ValueOf(def)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			v.Field(i).Set(d.Field(i))
		}
	}
	if c, ok := any(&cfg).(*Config); ok {
		c.MaxIdle = min(c.MaxIdle, c.MaxOpen)
	}
	return cfg
}
