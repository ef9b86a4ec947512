package peer

import (
	"net"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faed/faed/scripts/testserver"

	"github.com/go-zookeeper/zk"
)

// cutDialer dials ZooKeeper and keeps the last connection so a test can cut it.
type cutDialer struct {
	mu   sync.Mutex
	last net.Conn
}

func (d *cutDialer) dial(network, address string, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout(network, address, timeout)
	if err == nil {
		d.mu.Lock()
		d.last = c
		d.mu.Unlock()
	}
	return c, err
}

func (d *cutDialer) cut() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.last != nil {
		d.last.Close()
	}
}

// TestZooKeeperReconnectRaceFree cuts, 30 times, the connection of a client
// that holds a watch while calls are in flight, so that answers arrive while
// the client re-sends its watches. Under -race it fails at once on go-zookeeper
// as released; make builds with the copy scripts/zkpatch makes race-free.
func TestZooKeeperReconnectRaceFree(t *testing.T) {
	if !zkPatched() {
		t.Skip("go-zookeeper is not the copy scripts/zkpatch writes (run through make, " +
			"or set GOWORK=.build/zk/go.work); as released it races on its last zxid and this test fails under -race")
	}
	z := testserver.StartZooKeeper(t)
	d := &cutDialer{}
	var sessions atomic.Int32
	conn, _, err := zk.Connect([]string{z.Addr, z.Addr, z.Addr, z.Addr}, 10*time.Second, zk.WithDialer(d.dial), zk.WithLogInfo(false), zk.WithEventCallback(func(e zk.Event) {
		if e.State == zk.StateHasSession {
			sessions.Add(1)
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, _, _, err := conn.ExistsW("/zkrace-watched"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				conn.Exists("/zkrace")
			}
		}()
	}
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; i < 30 && time.Now().Before(deadline); i++ {
		before := sessions.Load()
		d.cut()
		for sessions.Load() == before && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
	if n := sessions.Load(); n < 10 {
		t.Fatalf("%d sessions in 20s, want 31: the cuts did not make the client reconnect", n)
	}
}

// zkPatched says whether this binary was built from the copy of go-zookeeper
// that scripts/zkpatch writes, by where the client's source lies.
func zkPatched() bool {
	file, _ := runtime.FuncForPC(reflect.ValueOf(zk.Connect).Pointer()).FileLine(0)
	return strings.Contains(filepath.ToSlash(file), "/.build/zk/mod/")
}
