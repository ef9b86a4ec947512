package servant

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/peer/vbucket"
)

// viewRouter is a Router whose view a test changes: every vbucket is ours
// until set says otherwise. Forward calls the servant of the address named,
// in-process.
type viewRouter struct {
	self  string
	peers map[string]rpc.FunServant

	// mu guards the fields below.
	mu       sync.Mutex
	vbs      map[int]vbucket.Placement
	version  uint64
	changed  chan struct{}
	received int
}

func newViewRouter(self string) *viewRouter {
	return &viewRouter{self: self, peers: map[string]rpc.FunServant{}, vbs: map[int]vbucket.Placement{},
		version: 1, changed: make(chan struct{})}
}

// set changes vbucket vb's placement (Owner "" means ours, noOwner none
// known), bumping the map
// version when bump is set, and notifies.
func (r *viewRouter) set(vb int, p vbucket.Placement, bump bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if bump {
		r.version++
	}
	switch p.Owner {
	case "":
		p.Owner = r.self
	case noOwner:
		p.Owner = ""
	}
	p.Self = p.Owner == r.self
	r.vbs[vb] = p
	close(r.changed)
	r.changed = make(chan struct{})
}

// noOwner is the Owner set gives for a vbucket no map names an owner of.
const noOwner = "(none)"

func (r *viewRouter) Owner(key string) vbucket.Placement { return r.VBucket(testVBucket(key)) }

func (r *viewRouter) VBucket(vb int) vbucket.Placement {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.vbs[vb]
	if !ok {
		p = vbucket.Placement{Owner: r.self, Self: true}
	}
	p.VBucket, p.Version = vb, r.version
	return p
}

func (r *viewRouter) VBuckets() int { return testVBuckets }

func (r *viewRouter) Changed() (uint64, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.version, r.changed
}

func (r *viewRouter) AwaitView(context.Context, uint64, uint64) error { return nil }

func (r *viewRouter) Replicas(int) (uint64, []string) { return 1, nil }
func (r *viewRouter) ReplicaTimeout() time.Duration   { return time.Second }
func (r *viewRouter) PeerToken() ([]byte, error)      { return nil, nil }
func (r *viewRouter) DropReplica(context.Context, int, string) error {
	return errors.New("viewRouter: no replicas to drop")
}

func (r *viewRouter) Forward(_ context.Context, addr string, fn func(rpc.FunServant) error) error {
	p, ok := r.peers[addr]
	if !ok {
		return fmt.Errorf("no peer %s", addr)
	}
	return fn(p)
}

func (r *viewRouter) CountReceived() {
	r.mu.Lock()
	r.received++
	r.mu.Unlock()
}

// node is one FunServant of a test cluster and its view.
type node struct {
	*FunServant
	view *viewRouter
}

// twoNodes returns nodes a and b, each able to forward to the other.
func twoNodes(t *testing.T) (a, b node) {
	a.view, b.view = newViewRouter("a:1"), newViewRouter("b:1")
	a.FunServant, b.FunServant = newServantWith(t, a.view), newServantWith(t, b.view)
	a.view.peers["b:1"], b.view.peers["a:1"] = b.FunServant, a.FunServant
	for _, n := range []node{a, b} {
		n.cfg.ForwardRetryWait = 2 * time.Second
	}
	return a, b
}

// keysIn returns n keys of vbucket vb, named prefix-i.
func keysIn(vb, n int, prefix string) []string {
	var keys []string
	for i := 0; len(keys) < n; i++ {
		if k := fmt.Sprintf("%s-%d", prefix, i); testVBucket(k) == vb {
			keys = append(keys, k)
		}
	}
	return keys
}

// within fails t unless ch delivers within d.
func within[T any](t *testing.T, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("%s: nothing after %v", what, d)
		panic("unreachable")
	}
}

// stillWaiting fails t if ch delivers within d.
func stillWaiting[T any](t *testing.T, ch <-chan T, d time.Duration, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("%s returned %v; want it still waiting", what, v)
	case <-time.After(d):
	}
}
