package mongodb

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// newUnreachable returns a client whose one pool, "p", points at an address
// nothing answers on (a blackholed TEST-NET-1 address: dials hang).
func newUnreachable(t *testing.T) *Client {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Pools = map[string]PoolConfig{"p": with(DefaultPoolConfig(), func(p *PoolConfig) {
		p.Servers, p.IOTimeout = []string{"192.0.2.1:27017"}, 50*time.Millisecond
	})}
	began := time.Now()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(began); d > time.Second {
		t.Errorf("New blocked for %v on an unreachable server", d)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func TestSwitches(t *testing.T) {
	c := newUnreachable(t)
	ctx := context.Background()
	doc := marshal(t, map[string]int{"a": 1})

	if err := c.SetDegraded("p", true); err != nil {
		t.Fatal(err)
	}
	if _, err := c.FindOne(ctx, "p", "t", 0, nil, nil); !errors.Is(err, ErrDegraded) {
		t.Errorf("FindOne on a degraded pool: %v, want ErrDegraded", err)
	}
	if _, err := c.Insert(ctx, "p", "t", 0, doc); !errors.Is(err, ErrDegraded) {
		t.Errorf("Insert on a degraded pool: %v, want ErrDegraded", err)
	}
	c.SetDegraded("p", false)
	c.SetReadOnly("p", true)
	writes := map[string]func() error{
		"Update":        func() error { _, err := c.Update(ctx, "p", "t", 0, nil, doc); return err },
		"UpdateID":      func() error { _, err := c.UpdateID(ctx, "p", "t", 0, 1, doc); return err },
		"Upsert":        func() error { _, err := c.Upsert(ctx, "p", "t", 0, nil, doc); return err },
		"UpsertID":      func() error { _, err := c.UpsertID(ctx, "p", "t", 0, 1, doc); return err },
		"Insert":        func() error { _, err := c.Insert(ctx, "p", "t", 0, doc); return err },
		"Inserts":       func() error { _, err := c.Inserts(ctx, "p", "t", 0, [][]byte{doc}); return err },
		"Delete":        func() error { _, err := c.Delete(ctx, "p", "t", 0, nil); return err },
		"FindAndModify": func() error { _, err := c.FindAndModify(ctx, "p", "t", 0, nil, doc, false, false, true); return err },
	}
	for name, write := range writes {
		if err := write(); !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s on a read-only pool: %v, want ErrReadOnly", name, err)
		}
	}
	st := c.Stats()["p"]
	if !st.ReadOnly || st.Degraded || st.Refused != 10 || st.PerCall["mg_insert"].Refused != 2 {
		t.Errorf("stats %+v, want read-only, not degraded, 10 refused (2 inserts)", st)
	}
}

func TestUnknownPoolAndClose(t *testing.T) {
	c := newUnreachable(t)
	ctx := context.Background()
	if _, err := c.Count(ctx, "nope", "t", 0, nil); !errors.Is(err, ErrUnknownPool) {
		t.Errorf("Count on an unknown pool: %v", err)
	}
	if err := c.SetDegraded("nope", true); !errors.Is(err, ErrUnknownPool) {
		t.Errorf("SetDegraded on an unknown pool: %v", err)
	}
	if err := c.SetReadOnly("nope", true); !errors.Is(err, ErrUnknownPool) {
		t.Errorf("SetReadOnly on an unknown pool: %v", err)
	}
	if err := c.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := c.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := c.Count(ctx, "p", "t", 0, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Count after Close: %v, want ErrClosed", err)
	}
}

func TestInvalidArgumentsNeverReachTheServer(t *testing.T) {
	c := newUnreachable(t)
	ctx := context.Background()
	if _, err := c.FindOne(ctx, "p", "t", 0, []byte("garbage"), nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("FindOne with garbage query: %v", err)
	}
	if _, err := c.FindAll(ctx, "p", "t", 0, nil, nil, -1, 0, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("FindAll with negative limit: %v", err)
	}
	if _, err := c.FindID(ctx, "p", "", 0, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("FindID without table: %v", err)
	}
	if st := c.Stats()["p"]; st.Calls != 0 || st.Breaker.ConsecutiveFailures != 0 {
		t.Errorf("stats %+v: invalid arguments were counted", st)
	}
}

func TestCollectionCacheIsBounded(t *testing.T) {
	c := newUnreachable(t)
	colls := c.pools["p"].colls
	a := colls.get("db", "a")
	if colls.get("db", "a") != a {
		t.Error("a second get built a new handle")
	}
	for i := range maxCachedCollections + 10 {
		colls.get("db", fmt.Sprint("t", i))
	}
	if n := len(colls.m); n != maxCachedCollections {
		t.Errorf("%d cached handles, want the bound %d", n, maxCachedCollections)
	}
	if got := colls.get("other", "x"); got.Name() != "x" || got.Database().Name() != "other" {
		t.Errorf("an uncached handle names %s.%s", got.Database().Name(), got.Name())
	}
}
