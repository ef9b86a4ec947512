package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/scripts/testserver"
)

// TestReloadUnderLoad: 20 reloads, by SIGHUP and POST /reload in turn,
// each moving the memcache pool between two real memcached servers,
// resizing the MariaDB pool and changing the engine's limits and the log
// level, while clients call every kind of servant over kept and fresh
// connections: no call fails, each reload is answered and counted, the
// configuration in force follows, and the memcached a reload left is no
// longer connected to. Then a file that does not load changes nothing, and
// a changed listener is reported as needing a restart.
func TestReloadUnderLoad(t *testing.T) {
	mcA, mcB := testserver.StartMemcached(t), testserver.StartMemcached(t)
	db := testserver.StartMariaDB(t)
	baseB := memcachedConnections(t, mcB.Addr)
	config := func(i int) string {
		mc, level := mcA, "info"
		if i%2 == 1 {
			mc, level = mcB, "debug"
		}
		return fmt.Sprintf(`[engine]
max_outstanding_sessions = %d
call_timeout = "%ds"
slow_call = "%dms"
[log]
level = %q
[servant.memcache.pools.default]
servers = [%q]
[servant.mysql.pools.main]
addr = %q
user = "root"
database = "mysql"
max_open = %d
`, 1000+i, 2+i%3, 200+i, level, mc.Addr, db.Addr, 4+i%3)
	}
	d := testserver.StartFaed(t, t.TempDir(), config(0))

	load := startReloadLoad(d)
	for i := 1; i <= 20; i++ {
		d.WriteConfig(t, config(i))
		var res reloadResult
		if i%2 == 1 {
			if err := d.Signal(syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			testserver.Eventually(t, fmt.Sprintf("reload %d by SIGHUP", i), faedWait, func() bool {
				st := reloadStats(t, d)
				res = st.Last
				return st.Reloads == i
			})
		} else {
			code, body := adminPost(t, d, "/reload")
			var answer struct {
				OK     bool         `json:"ok"`
				Reload reloadResult `json:"reload"`
			}
			if err := json.Unmarshal([]byte(body), &answer); code != 200 || err != nil || !answer.OK || !strings.Contains(body, `"restart_needed": []`) {
				t.Fatalf("POST /reload %d: %d %s; want 200, ok and an empty restart_needed list", i, code, body)
			}
			res = answer.Reload
		}
		for _, want := range []string{"servant.memcache", "servant.mysql", "engine", "log.level"} {
			if !strings.Contains(strings.Join(res.Applied, " "), want) {
				t.Fatalf("reload %d applied %v, want %s among them", i, res.Applied, want)
			}
		}
		if len(res.Restart) > 0 {
			t.Fatalf("reload %d: restart needed for %v, want none", i, res.Restart)
		}
		cfg := string(adminGet(t, d, "/config"))
		if want := fmt.Sprintf("max_outstanding_sessions = %d", 1000+i); !strings.Contains(cfg, want) {
			t.Fatalf("GET /config after reload %d lacks %q:\n%s", i, want, cfg)
		}
		time.Sleep(100 * time.Millisecond) // calls on each version
	}
	calls, failures := load.stop()
	if failures != nil {
		t.Fatalf("%d calls failed across 20 reloads, the first: %v", len(failures), failures[0])
	}
	if calls < 1000 {
		t.Fatalf("only %d calls made during the reloads", calls)
	}
	t.Logf("%d calls across 20 reloads, none failed", calls)
	// The last reload moved the pool to mcA, the one before to mcB: mcB
	// is left once the calls on it returned.
	testserver.Eventually(t, "the replaced memcache client to close its connections", faedWait, func() bool {
		return memcachedConnections(t, mcB.Addr) <= baseB
	})

	// A file that does not load changes nothing, and says why.
	path := d.Config
	if err := os.WriteFile(path, []byte("[engine]\nmax_outstanding_sessions = -1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, body := adminPost(t, d, "/reload")
	if code != 422 || !strings.Contains(body, "max_outstanding_sessions") {
		t.Fatalf("POST /reload of a bad file: %d %s, want 422 naming the key", code, body)
	}
	if st := reloadStats(t, d); st.Failed != 1 || st.Last.OK {
		t.Fatalf("/stats reload after a refused file: %+v", st)
	}
	c := goClient(t, "unix", d.Unix)
	if _, err := c.McSet(context.Background(), rc, "default", "after", &rpc.TMemcacheData{Data: []byte("v")}, 0); err != nil {
		t.Fatalf("mc_set after a refused reload: %v", err)
	}
	if !strings.Contains(string(adminGet(t, d, "/config")), "max_outstanding_sessions = 1020") {
		t.Fatal("a refused reload changed the configuration in force")
	}

	// A listener is only changed by a restart: the reload says so and
	// keeps the running one.
	d.WriteConfig(t, config(20))
	cfg, _ := os.ReadFile(path)
	moved := strings.Replace(string(cfg), "unix:"+d.Unix, "unix:"+d.Unix+".new", 1)
	if err := os.WriteFile(path, []byte(moved), 0o644); err != nil {
		t.Fatal(err)
	}
	code, body = adminPost(t, d, "/reload")
	if code != 200 || !strings.Contains(body, `"engine.listen"`) {
		t.Fatalf("POST /reload with a new listener: %d %s, want engine.listen in restart_needed", code, body)
	}
	if _, err := goClient(t, "unix", d.Unix).Noop(context.Background(), 1); err != nil {
		t.Fatalf("the running listener after a reload that needs a restart: %v", err)
	}
}

// memcachedConnections is the server's curr_connections (its listeners and
// this query's own connection included).
func memcachedConnections(t *testing.T, addr string) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("stats\r\n")); err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	buf := make([]byte, 4096)
	for !strings.Contains(all.String(), "END\r\n") {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("memcached stats: %v", err)
		}
		all.Write(buf[:n])
	}
	for line := range strings.SplitSeq(all.String(), "\r\n") {
		if v, ok := strings.CutPrefix(line, "STAT curr_connections "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	t.Fatal("memcached stats without curr_connections")
	return 0
}

type reloadSection struct {
	Reloads int          `json:"reloads"`
	Failed  int          `json:"failed"`
	Last    reloadResult `json:"last"`
}

func reloadStats(t *testing.T, d *testserver.Faed) reloadSection {
	t.Helper()
	var st struct {
		Reload reloadSection `json:"reload"`
	}
	if err := json.Unmarshal(adminGet(t, d, "/stats"), &st); err != nil {
		t.Fatal(err)
	}
	return st.Reload
}

// reloadLoad is clients calling memcache, mysql, lcache and kvdb until
// stopped: two on kept connections, one opening a connection per call.
type reloadLoad struct {
	stopping atomic.Bool
	wg       sync.WaitGroup
	calls    atomic.Int64
	mu       sync.Mutex
	failures []error
}

func startReloadLoad(d *testserver.Faed) *reloadLoad {
	l := &reloadLoad{}
	deadline := time.Now().Add(2 * time.Minute) // bounds the loop whatever happens
	for w := range 3 {
		l.wg.Go(func() {
			var c *rpc.FunServantClient
			var conn net.Conn
			for i := 0; !l.stopping.Load() && time.Now().Before(deadline); i++ {
				var err error
				if c == nil {
					c, conn, err = dialClient("unix", d.Unix)
				}
				if err == nil {
					err = reloadCall(c, w, i)
				}
				if err != nil {
					l.mu.Lock()
					l.failures = append(l.failures, err)
					l.mu.Unlock()
				}
				if err != nil || w == 2 { // client 2 connects for each call
					if conn != nil {
						conn.Close()
					}
					c, conn = nil, nil
				}
				l.calls.Add(1)
			}
			if conn != nil {
				conn.Close()
			}
		})
	}
	return l
}

func (l *reloadLoad) stop() (int64, []error) {
	l.stopping.Store(true)
	l.wg.Wait()
	return l.calls.Load(), l.failures
}

// dialClient is goClient for a connection the caller closes.
func dialClient(network, addr string) (*rpc.FunServantClient, net.Conn, error) {
	conn, err := net.Dial(network, addr)
	if err != nil {
		return nil, nil, err
	}
	trans := thrift.NewTBufferedTransport(thrift.NewTSocketFromConnConf(conn, nil), 4096)
	p := thrift.NewTBinaryProtocolConf(trans, nil)
	return rpc.NewFunServantClient(thrift.NewTStandardClient(p, p)), conn, nil
}

// reloadCall makes one call of a rotation over the servants; a memcache
// miss (the pool moved to the other server) is an answer.
func reloadCall(c *rpc.FunServantClient, w, i int) error {
	ctx := context.Background()
	key := fmt.Sprintf("k%d.%d", w, i%50)
	var err error
	switch i % 5 {
	case 0:
		_, err = c.McSet(ctx, rc, "default", key, &rpc.TMemcacheData{Data: []byte("v")}, 0)
	case 1:
		_, err = c.McGet(ctx, rc, "default", key)
		if _, miss := errors.AsType[*rpc.TCacheMissed](err); miss {
			err = nil
		}
	case 2:
		_, err = c.MyQuery(ctx, rc, "main", "", 0, "SELECT 1", nil, "")
	case 3:
		_, err = c.LcSet(ctx, rc, key, []byte("v"))
	case 4:
		_, err = c.KvdbSet(ctx, rc, []byte(key), []byte("v"))
	}
	if err != nil {
		return fmt.Errorf("call %d of client %d: %w", i, w, err)
	}
	return nil
}
