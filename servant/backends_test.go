package servant

import (
	"sync/atomic"
	"testing"
	"time"
)

// testClient is a backend client: a name and whether it was closed.
type testClient struct {
	name   string
	closed atomic.Bool
}

var testKindOf = &backendKind[*testClient]{
	name:       "test",
	section:    func(c Config) any { return c.ForwardRetryWait },
	configured: func(c Config) bool { return c.ForwardRetryWait > 0 },
	open: func(_ *FunServant, c Config) (*testClient, error) {
		return &testClient{name: c.ForwardRetryWait.String()}, nil
	},
	close: func(c *testClient) { c.closed.Store(true) },
	stats: func(c *testClient) any { return c.name },
}

// TestBackendSwapWaitsForCalls: a reload's swap serves new calls on the
// new client at once, and closes the old one only when the last call
// holding it returns; an unchanged section is not rebuilt, and an
// unconfigured backend answers its error.
func TestBackendSwapWaitsForCalls(t *testing.T) {
	var b backend[*testClient]
	b.kind = testKindOf
	if err := b.open(nil, Config{ForwardRetryWait: time.Second}); err != nil {
		t.Fatal(err)
	}
	old, release, err := b.hold()
	if err != nil {
		t.Fatal(err)
	}
	swap, _, err := b.prepare(nil, Config{ForwardRetryWait: 2 * time.Second})
	if err != nil || swap == nil {
		t.Fatalf("prepare = %v, %v; want a swap", swap != nil, err)
	}
	retired := make(chan struct{})
	retire := swap()
	go func() {
		retire()
		close(retired)
	}()
	next, releaseNext, err := b.hold()
	if err != nil || next.client.name != "2s" {
		t.Fatalf("a call after the swap holds %v, %v; want the new client", next, err)
	}
	releaseNext()
	select {
	case <-retired:
		t.Fatal("the old client was closed while a call held it")
	case <-time.After(50 * time.Millisecond):
	}
	if old.client.closed.Load() {
		t.Fatal("the old client closed under its call")
	}
	release()
	select {
	case <-retired:
	case <-time.After(5 * time.Second):
		t.Fatal("the old client was not closed after its last call returned")
	}
	if !old.client.closed.Load() {
		t.Fatal("retired but not closed")
	}
	if swap, _, _ := b.prepare(nil, Config{ForwardRetryWait: 2 * time.Second}); swap != nil {
		t.Fatal("an unchanged section was rebuilt")
	}
	// Not configured: the backend answers its error, and stats say nothing.
	swap, _, _ = b.prepare(nil, Config{})
	swap()()
	if _, _, err := b.hold(); err == nil || err.Error() != "servant test is not configured" {
		t.Fatalf("hold of an unconfigured backend = %v", err)
	}
	if _, ok := b.stats(); ok {
		t.Fatal("stats of an unconfigured backend")
	}
	b.close()
	b.close() // idempotent
	if _, _, err := b.hold(); err == nil || err.Error() != "servant test is closed" {
		t.Fatalf("hold after close = %v, want the closed error", err)
	}
}
