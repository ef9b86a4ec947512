package zk

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faed/faed/scripts/testserver"

	"github.com/go-zookeeper/zk"
)

// Integration tests against a real ZooKeeper started by testserver.

func TestRoundTrip(t *testing.T) {
	z := testserver.StartZooKeeper(t)
	const root = "/test/roundtrip"
	c := newTestClient(t, z.Addr, root, 5*time.Second)
	raw := rawConn(t, z.Addr)
	ctx := context.Background()

	if names, err := c.Children(ctx, "/"); err != nil || len(names) != 0 {
		t.Fatalf(`Children("/") on a fresh ensemble = %q, %v; want the root made and empty`, names, err)
	}
	mustCreate(t, c, "/a", "x", true)
	mustCreate(t, c, "/a", "y", false)
	if data := rawGet(t, raw, root+"/a"); data != "x" {
		t.Fatalf("data after a second create = %q, want the first %q", data, "x")
	}
	mustCreate(t, c, "/a/b/c", "deep", true) // parent /a/b is made
	if data := rawGet(t, raw, root+"/a/b/c"); data != "deep" {
		t.Fatalf("data = %q, want %q", data, "deep")
	}
	for _, p := range []string{"/a/z", "/a/0", "/a/m"} {
		mustCreate(t, c, p, "", true)
	}
	if names, err := c.Children(ctx, "/a"); err != nil || !slices.Equal(names, []string{"0", "b", "m", "z"}) {
		t.Fatalf(`Children("/a") = %q, %v; want [0 b m z]`, names, err)
	}
	_, err := c.Children(ctx, "/missing")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"/missing"`) {
		t.Fatalf(`Children("/missing") = %v, want ErrNotFound naming the path`, err)
	}
	if _, err := c.Delete(ctx, "/a/b"); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf(`Delete("/a/b") with a child = %v, want ErrNotEmpty`, err)
	}
	mustDelete(t, c, "/a/b/c", true)
	mustDelete(t, c, "/a/b/c", false)
	mustDelete(t, c, "/a/b", true)
	mustCreate(t, c, "/", "", false)

	s := c.Stats()
	if s.State != zk.StateHasSession.String() || s.Calls < 10 || s.Errors != 2 || s.Server != z.Addr {
		t.Fatalf("stats = %+v, want a session on %s, 2 errors", s, z.Addr)
	}
}

func TestCreateRace(t *testing.T) {
	z := testserver.StartZooKeeper(t)
	c := newTestClient(t, z.Addr, "/test/race", 5*time.Second)
	var wg sync.WaitGroup
	var created, failed atomic.Int32
	for range 16 {
		wg.Go(func() {
			ok, err := c.Create(context.Background(), "/p/same", "v")
			if err != nil {
				failed.Add(1)
				t.Error(err)
			}
			if ok {
				created.Add(1)
			}
		})
	}
	wg.Wait()
	if created.Load() != 1 || failed.Load() != 0 {
		t.Fatalf("%d of 16 concurrent creates answered true (%d failed), want exactly 1", created.Load(), failed.Load())
	}
}

func TestConfinement(t *testing.T) {
	z := testserver.StartZooKeeper(t)
	const root = "/fae/zk"
	raw := rawConn(t, z.Addr)
	// The cluster's own nodes, next to the root.
	for _, p := range []string{"/fae", "/fae/members", "/fae/members/n1"} {
		rawCreate(t, raw, p, "cluster")
	}
	c := newTestClient(t, z.Addr, root, 5*time.Second)
	ctx := context.Background()

	mustCreate(t, c, "/x", "1", true)
	if !rawExists(t, raw, root+"/x") || rawExists(t, raw, "/x") {
		t.Fatal(`Create("/x") did not land at ` + root + "/x")
	}
	// A path spelled like the cluster's nodes lands under the root too.
	mustCreate(t, c, "/fae/members/n2", "", true)
	if !rawExists(t, raw, root+"/fae/members/n2") || rawExists(t, raw, "/fae/members/n2") {
		t.Fatal(`Create("/fae/members/n2") escaped the root`)
	}
	mustDelete(t, c, "/fae/members/n1", false) // that is root+"/fae/members/n1", which does not exist

	for _, p := range []string{"/../members/n1", "/../../fae/members/n1", "/..", "/../escape", "/./x", "//fae"} {
		if _, err := c.Create(ctx, p, "evil"); !errors.Is(err, ErrBadPath) {
			t.Errorf("Create(%q) = %v, want ErrBadPath", p, err)
		}
		if _, err := c.Delete(ctx, p); !errors.Is(err, ErrBadPath) {
			t.Errorf("Delete(%q) = %v, want ErrBadPath", p, err)
		}
		if _, err := c.Children(ctx, p); !errors.Is(err, ErrBadPath) {
			t.Errorf("Children(%q) = %v, want ErrBadPath", p, err)
		}
	}
	if data := rawGet(t, raw, "/fae/members/n1"); data != "cluster" {
		t.Fatalf("/fae/members/n1 holds %q, want it untouched", data)
	}
	wantChildren(t, raw, "/", "fae", "zookeeper")
	wantChildren(t, raw, "/fae", "members", "zk")
	wantChildren(t, raw, "/fae/members", "n1")
	if names, err := c.Children(ctx, "/"); err != nil || !slices.Equal(names, []string{"fae", "x"}) {
		t.Fatalf(`Children("/") = %q, %v; want only the root's [fae x]`, names, err)
	}
}

func TestZooKeeperStopAndRestart(t *testing.T) {
	z := testserver.StartZooKeeper(t)
	const timeout = 2 * time.Second
	c := newTestClient(t, z.Addr, "/test/restart", timeout)
	mustCreate(t, c, "/before", "", true)

	z.Stop()
	for _, call := range testCalls(c) {
		began := time.Now()
		err := call.do()
		d := time.Since(began)
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("%s with ZooKeeper stopped: %v, want ErrUnavailable", call.name, err)
		}
		if d > timeout+500*time.Millisecond {
			t.Fatalf("%s with ZooKeeper stopped took %v, past the %v timeout", call.name, d, timeout)
		}
		t.Logf("%s while stopped: %v after %v", call.name, err, d.Round(time.Millisecond))
	}
	testserver.EventuallyNil(t, "the session to be lost", 10*time.Second, func() error {
		if s := c.Stats(); s.State == zk.StateHasSession.String() {
			return errors.New("state " + s.State)
		}
		return nil
	})

	z.Restart()
	testserver.EventuallyNil(t, "calls to work again", 60*time.Second, func() error {
		names, err := c.Children(context.Background(), "/")
		if err == nil && !slices.Equal(names, []string{"before"}) {
			t.Fatalf(`Children("/") after restart = %q, want [before]`, names)
		}
		return err
	})
	mustCreate(t, c, "/after", "", true)
	if s := c.Stats(); s.State != zk.StateHasSession.String() || s.Errors < 3 {
		t.Fatalf("stats after restart = %+v, want a session and the outage's errors", s)
	}
}

func mustCreate(t *testing.T, c *Client, p, data string, want bool) {
	t.Helper()
	if got, err := c.Create(context.Background(), p, data); err != nil || got != want {
		t.Fatalf("Create(%q) = %v, %v; want %v", p, got, err, want)
	}
}

func mustDelete(t *testing.T, c *Client, p string, want bool) {
	t.Helper()
	if got, err := c.Delete(context.Background(), p); err != nil || got != want {
		t.Fatalf("Delete(%q) = %v, %v; want %v", p, got, err, want)
	}
}
