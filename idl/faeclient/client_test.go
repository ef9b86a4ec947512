package faeclient

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/scripts/testserver"

	"github.com/apache/thrift/lib/go/thrift"
)

func dial(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestCallsOverUnixAndTCP(t *testing.T) {
	d := startFaed(t, "", "")
	for _, addr := range []string{d.Unix, d.TCP} {
		for _, transport := range []string{"buffered", "framed"} {
			t.Run(strings.SplitN(addr, ":", 2)[0]+"/"+transport, func(t *testing.T) {
				c := dial(t, Config{Addr: addr, Transport: transport})
				ctx := context.Background()
				rc := NewContext(ctx, "faeclient.test")
				err := c.Call(ctx, func(fs rpc.FunServant) error {
					if pong, err := fs.Ping(ctx, rc); err != nil || !strings.HasPrefix(pong, "ver:") {
						t.Errorf("ping: %q, %v; want ver:...", pong, err)
					}
					if _, err := fs.LcSet(ctx, rc, "k:"+addr+transport, []byte("v")); err != nil {
						t.Errorf("lc_set: %v", err)
					}
					if v, err := fs.LcGet(ctx, rc, "k:"+addr+transport); err != nil || string(v) != "v" {
						t.Errorf("lc_get: %q, %v; want v", v, err)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				// A declared exception is an answer: the connection is reused.
				var miss *rpc.TCacheMissed
				err = c.Call(ctx, func(fs rpc.FunServant) error {
					_, err := fs.KvdbGet(ctx, rc, []byte("missing"))
					return err
				})
				if !errors.As(err, &miss) {
					t.Fatalf("kvdb_get of a missing key: %v, want TCacheMissed", err)
				}
				// So is an application exception.
				var app thrift.TApplicationException
				err = c.Call(ctx, func(fs rpc.FunServant) error {
					_, err := fs.IDNextWithTag(ctx, rc, 99)
					return err
				})
				if !errors.As(err, &app) {
					t.Fatalf("id_next_with_tag 99: %v, want a TApplicationException", err)
				}
				if s := c.Stats(); s.Dials != 1 || s.Open != 1 || s.Idle != 1 {
					t.Fatalf("stats %+v, want the one connection reused", s)
				}
			})
		}
	}
}

func TestPoolBoundsOpenConnections(t *testing.T) {
	d := startFaed(t, "", "")
	c := dial(t, Config{Addr: d.Unix, MaxOpen: 3, MaxIdle: 2})
	var most atomic.Int64 // the most connections faed saw open at once
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			if n, err := d.sessions(); err == nil && int64(n) > most.Load() {
				most.Store(int64(n))
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for g := 0; g < 12; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				ctx := context.Background()
				err := c.Call(ctx, func(fs rpc.FunServant) error {
					if s := c.Stats(); s.Open > 3 {
						t.Errorf("client stats %+v: more than MaxOpen open", s)
					}
					time.Sleep(2 * time.Millisecond) // hold the connection
					_, err := fs.Noop(ctx, int32(i))
					return err
				})
				if err != nil {
					failed.Add(1)
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	s := c.Stats()
	if s.Dials < 3 || s.Waits == 0 || s.Open != 2 || s.Idle != 2 {
		t.Fatalf("after 120 calls by 12 goroutines: %+v; want 3 or more dials, waits, and 2 kept idle", s)
	}
	if most.Load() > 3 {
		t.Fatalf("faed saw %d connections open at once, want at most MaxOpen = 3", most.Load())
	}
	testserver.Eventually(t, "faed to see the 2 idle connections only", faedWait, func() bool { n, _ := d.sessions(); return n == 2 })
	t.Logf("stats %+v; faed saw at most %d open", s, most.Load())
}

func TestCallWaitsForAConnectionUntilItsContextEnds(t *testing.T) {
	d := startFaed(t, "", "")
	c := dial(t, Config{Addr: d.TCP, MaxOpen: 1})
	held, release, back := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		back <- c.Call(context.Background(), func(rpc.FunServant) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := c.Call(ctx, func(rpc.FunServant) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Call with the one connection busy: %v, want the ctx deadline", err)
	}
	close(release)
	<-back
	if err := c.Call(context.Background(), ping); err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.Waits != 1 || s.Open != 1 || s.Dials != 1 {
		t.Fatalf("stats %+v, want one wait and the one connection", s)
	}
}

func ping(fs rpc.FunServant) error {
	_, err := fs.Ping(context.Background(), NewContext(context.Background(), "faeclient.test"))
	return err
}

// idleOut waits until faed has closed every connection for its
// idle_timeout of 200ms, counted from now: faed may not count a connection
// dialled just before yet.
func idleOut(t *testing.T, d *daemon) {
	t.Helper()
	start := time.Now()
	testserver.Eventually(t, "faed to close the idle connections", faedWait, func() bool {
		n, err := d.sessions()
		return err == nil && n == 0 && time.Since(start) > 250*time.Millisecond
	})
}

func TestAStaleIdleConnectionIsNotUsed(t *testing.T) {
	d := startFaed(t, `idle_timeout = "200ms"`, "")
	for _, addr := range []string{d.Unix, d.TCP} {
		c := dial(t, Config{Addr: addr})
		idleOut(t, d)
		// id_next is never sent again, but the pool saw that faed had
		// closed the connection before sending it.
		err := c.Call(context.Background(), func(fs rpc.FunServant) error {
			_, err := fs.IDNext(context.Background(), NewContext(context.Background(), "faeclient.test"))
			return err
		})
		if s := c.Stats(); err != nil || s.Stale != 1 || s.Retries != 0 || s.Dials != 2 {
			t.Fatalf("%s: id_next on a connection faed closed: %v, stats %+v; want it served on a new connection", addr, err, s)
		}
	}
}

func TestAStaleConnectionInUse(t *testing.T) {
	d := startFaed(t, `idle_timeout = "200ms"`, "")
	ctx := context.Background()
	rc := NewContext(ctx, "faeclient.test")
	for _, tt := range []struct {
		name, addr string
		// idNextErr is what id_next gets on a connection faed closed, when
		// the pool did not see it: over a unix socket writing the call
		// fails, so it is sent again; over TCP the write succeeds, and the
		// answer never comes.
		idNextErr error
		retries   int64 // calls sent again, lc_get's and id_next's
	}{
		{"unix", d.Unix, nil, 2},
		{"tcp", d.TCP, ErrNoAnswer, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, Config{Addr: tt.addr})
			c.pool.peek = func(net.Conn) error { return nil } // as if faed closed it just after the look
			idleOut(t, d)
			var miss *rpc.TCacheMissed
			err := c.Call(ctx, func(fs rpc.FunServant) error {
				_, err := fs.LcGet(ctx, rc, "absent")
				return err
			})
			if s := c.Stats(); !errors.As(err, &miss) || s.Retries != 1 {
				t.Fatalf("lc_get on a stale connection: %v, stats %+v; want the miss, sent again once", err, s)
			}
			idleOut(t, d)
			err = c.Call(ctx, func(fs rpc.FunServant) error {
				_, err := fs.IDNext(ctx, rc)
				return err
			})
			if tt.idNextErr == nil && err != nil || tt.idNextErr != nil && !errors.Is(err, tt.idNextErr) {
				t.Fatalf("id_next on a stale connection: %v, want %v", err, tt.idNextErr)
			}
			if s := c.Stats(); s.Retries != tt.retries {
				t.Fatalf("id_next: %v, stats %+v; want %d calls sent again", err, s, tt.retries)
			}
			t.Logf("id_next: %v; stats %+v", err, c.Stats())
			// A failed connection is closed, never pooled: the next call
			// is served.
			if err := c.Call(ctx, ping); err != nil {
				t.Fatal(err)
			}
			if s := c.Stats(); s.Open != 1 {
				t.Fatalf("stats %+v, want the one connection open", s)
			}
		})
	}
}

// hungServer accepts connections and never answers, as a memcached that
// hangs.
func hungServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(io.Discard, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// hungMySQL is faed's TOML for a mysql pool "main" on a hung server, whose
// timeouts (2s dial, 10s read) are longer than the budgets the tests give.
func hungMySQL(t *testing.T) string {
	return `
[servant.mysql.pools.main]
addr = "` + hungServer(t) + `"
user = "u"
database = "d"
dial_timeout = "2s"
read_timeout = "10s"
`
}

// query runs SELECT 1 on the hung pool.
func query(ctx context.Context, rc *rpc.Context) func(fs rpc.FunServant) error {
	return func(fs rpc.FunServant) error {
		_, err := fs.MyQuery(ctx, rc, "main", "", 0, "SELECT 1", nil, "")
		return err
	}
}

func TestBudgetReachesFaed(t *testing.T) {
	d := startFaed(t, "", hungMySQL(t))
	c := dial(t, Config{Addr: d.TCP})
	// The Context carries a 300ms budget; the call itself may take 5s. An
	// answer after about 300ms is faed's, cut by the budget.
	budget, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	rc := NewContext(budget, "faeclient.test")
	start := time.Now()
	err := c.Call(context.Background(), query(context.Background(), rc))
	took := time.Since(start)
	var app thrift.TApplicationException
	if !errors.As(err, &app) || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("my_query on a hung MySQL with a 300ms budget: %v; want faed's deadline error", err)
	}
	if took < 250*time.Millisecond || took > 1500*time.Millisecond {
		t.Fatalf("answered after %v, want about the 300ms budget (the pool's timeouts are 2s and more)", took)
	}
	if s := c.Stats(); s.Dials != 1 || s.Open != 1 {
		t.Fatalf("stats %+v: faed's answer should leave the connection pooled", s)
	}
	t.Logf("budget 300ms: answered in %v: %v", took, err)
}

func TestATinyDeadlineFailsFast(t *testing.T) {
	d := startFaed(t, "", hungMySQL(t))
	c := dial(t, Config{Addr: d.Unix})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Call(ctx, query(ctx, NewContext(ctx, "faeclient.test")))
	if took := time.Since(start); err == nil || took > time.Second {
		t.Fatalf("my_query on a hung MySQL within 20ms: %v after %v; want an error at once", err, took)
	}
	// Whether faed's answer or the socket deadline came first, the client
	// still serves.
	if err := c.Call(context.Background(), ping); err != nil {
		t.Fatal(err)
	}
	t.Logf("20ms: %v", err)
}

func TestCancellingCutsACall(t *testing.T) {
	d := startFaed(t, "", hungMySQL(t))
	c := dial(t, Config{Addr: d.TCP})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	err := c.Call(ctx, query(ctx, NewContext(context.Background(), "faeclient.test")))
	if took := time.Since(start); !errors.Is(err, context.Canceled) || took > time.Second {
		t.Fatalf("my_query cancelled after 100ms: %v after %v; want context.Canceled at once", err, took)
	}
	if s := c.Stats(); s.Open != 0 {
		t.Fatalf("stats %+v: the cut connection should be closed", s)
	}
}

func TestFaedKilled(t *testing.T) {
	d := startFaed(t, "", "")
	unix, tcp := dial(t, Config{Addr: d.Unix}), dial(t, Config{Addr: d.TCP})
	d.Kill(t)
	for _, c := range []*Client{unix, tcp} {
		err := c.Call(context.Background(), ping)
		if !errors.Is(err, syscall.ECONNREFUSED) || !strings.Contains(err.Error(), "faeclient: dial "+c.cfg.Addr) {
			t.Fatalf("ping with faed killed: %v; want the refused dial, naming the address", err)
		}
		t.Logf("%v", err)
	}
	if _, err := Dial(context.Background(), Config{Addr: d.TCP}); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Dial with faed killed: %v, want connection refused", err)
	}
}

func TestFaedKilledDuringACall(t *testing.T) {
	d := startFaed(t, "", hungMySQL(t))
	c := dial(t, Config{Addr: d.TCP})
	time.AfterFunc(200*time.Millisecond, func() { d.Signal(syscall.SIGKILL) }) // while my_query hangs on the silent MySQL
	err := c.Call(context.Background(), query(context.Background(), NewContext(context.Background(), "faeclient.test")))
	if !errors.Is(err, ErrNoAnswer) || !strings.Contains(err.Error(), "my_query on "+d.TCP) {
		t.Fatalf("my_query while faed is killed: %v; want ErrNoAnswer, naming the call and the address", err)
	}
	if s := c.Stats(); s.Retries != 0 || s.Open != 0 {
		t.Fatalf("stats %+v: my_query may have run, so it is not sent again, and the connection is closed", s)
	}
	t.Logf("%v", err)
}

func TestClose(t *testing.T) {
	d := startFaed(t, "", "")
	c := dial(t, Config{Addr: d.TCP})
	c.Close()
	c.Close()
	if err := c.Call(context.Background(), ping); !errors.Is(err, ErrClosed) {
		t.Fatalf("Call after Close: %v, want ErrClosed", err)
	}
	if s := c.Stats(); s.Open != 0 {
		t.Fatalf("stats %+v after Close, want nothing open", s)
	}
}

func TestAConnectionOutlivesItsCallsDeadline(t *testing.T) {
	d := startFaed(t, "", "")
	c := dial(t, Config{Addr: d.Unix})
	for i := 0; i < 2; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		err := c.Call(ctx, func(fs rpc.FunServant) error {
			_, err := fs.Ping(ctx, NewContext(ctx, "faeclient.test"))
			return err
		})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		// Deliberate: the connection must outlive its call's passed deadline.
		time.Sleep(100 * time.Millisecond)
	}
	if s := c.Stats(); s.Dials != 1 || s.Stale != 0 {
		t.Fatalf("stats %+v, want the one connection reused after its calls' deadlines passed", s)
	}
}
