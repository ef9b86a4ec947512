package testserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ZooKeeperTick is the servers' tickTime. Sessions may last from 2 ticks (1s, so session-expiry
// tests stay fast) to 60s; a client asking for less or more is clamped by the server.
const ZooKeeperTick = 500 * time.Millisecond

const (
	zkJar     = "/usr/share/java/zookeeper.jar"
	zkConfDir = "/etc/zookeeper/conf" // Debian's log4j.properties lives here
)

// Debian's zookeeper.jar names slf4j-api in its manifest but no binding, so without these two
// (dependencies of libzookeeper-java) the server logs nothing at all.
var zkClassPath = strings.Join([]string{zkConfDir, zkJar,
	"/usr/share/java/slf4j-log4j12.jar", "/usr/share/java/log4j-1.2.jar"}, ":")

// ZooKeeper is one ZooKeeper server on 127.0.0.1, standalone or a member of an ensemble.
type ZooKeeper struct {
	Addr string // client host:port
	ID   int    // myid, from 1; 1 for a standalone server

	p *proc
}

// zkMember holds the ports of one server.
type zkMember struct{ client, peer, election int }

// StartZooKeeper starts a standalone server and returns once `srvr` reports a Mode.
func StartZooKeeper(t testing.TB) *ZooKeeper {
	t.Helper()
	return startZooKeepers(t, 1)[0]
}

// StartZooKeeperEnsemble starts an n-server quorum and returns once every member serves as
// leader or follower. Servers are returned in ID order (zs[i].ID == i+1).
func StartZooKeeperEnsemble(t testing.TB, n int) []*ZooKeeper {
	t.Helper()
	if n < 1 {
		t.Fatalf("testserver: ZooKeeper ensemble of %d servers", n)
	}
	return startZooKeepers(t, n)
}

// Stop shuts the server down. It is idempotent.
func (z *ZooKeeper) Stop() { z.p.stop() }

// Restart stops the server if it runs and starts it again with the same ports and data; an
// ensemble member rejoins its quorum before Restart returns.
func (z *ZooKeeper) Restart() {
	z.p.t.Helper()
	z.p.restart()
}

// Mode returns what `srvr` reports: "standalone", "leader", "follower", or "" when the server
// is down or not serving.
func (z *ZooKeeper) Mode() string {
	ctx, cancel := attempt(context.Background())
	defer cancel()
	mode, _ := zkMode(ctx, z.Addr)
	return mode
}

func startZooKeepers(t testing.TB, n int) []*ZooKeeper {
	t.Helper()
	java := lookBinary(t, "java", "default-jre-headless")
	lookFile(t, zkJar, "zookeeper")
	members := make([]zkMember, n)
	for i := range members {
		members[i] = zkMember{freePort(t), freePort(t), freePort(t)}
	}
	zs := make([]*ZooKeeper, n)
	for i := range zs {
		zs[i] = newZooKeeper(t, java, members, i)
	}
	// Launch all first: no member can be ready before a quorum is up.
	began := time.Now()
	runs := make([]*run, n)
	for i, z := range zs {
		r, err := z.p.launch()
		if err != nil {
			z.p.fail(err)
		}
		runs[i] = r
	}
	for i, z := range zs {
		if err := z.p.waitReady(runs[i]); err != nil {
			z.p.fail(err)
		}
	}
	t.Logf("testserver: %d ZooKeeper server(s) ready in %v", n, time.Since(began).Round(time.Millisecond))
	return zs
}

// newZooKeeper writes the config of member i into a new temp dir and returns it, not started.
func newZooKeeper(t testing.TB, java string, members []zkMember, i int) *ZooKeeper {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "zoo.cfg")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatalf("testserver: %v", err)
	}
	writeFile(t, filepath.Join(data, "myid"), strconv.Itoa(i+1)+"\n")
	writeFile(t, cfg, zkConfig(members, i, data))

	z := &ZooKeeper{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(members[i].client)), ID: i + 1}
	z.p = newProc(t, &proc{
		name: fmt.Sprintf("zookeeper %d %s", z.ID, z.Addr),
		path: java,
		args: []string{"-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
			"-Dzookeeper.log.dir=" + dir, "-Dzookeeper.root.logger=INFO,CONSOLE",
			"-cp", zkClassPath, "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg},
		logPath: filepath.Join(dir, "zookeeper.log"),
		timeout: 60 * time.Second,
		ready:   z.ready,
	})
	return z
}

// zkConfig returns zoo.cfg for member i. One member means standalone: no server lines.
func zkConfig(members []zkMember, i int, data string) string {
	tick := int(ZooKeeperTick / time.Millisecond)
	var b strings.Builder
	fmt.Fprintf(&b, "tickTime=%d\ninitLimit=10\nsyncLimit=5\n", tick)
	fmt.Fprintf(&b, "minSessionTimeout=%d\nmaxSessionTimeout=60000\n", 2*tick)
	fmt.Fprintf(&b, "dataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\n", data, members[i].client)
	// The admin server would take port 8080 on every member.
	b.WriteString("4lw.commands.whitelist=srvr,ruok\nadmin.enableServer=false\n")
	if len(members) > 1 {
		for j, m := range members {
			fmt.Fprintf(&b, "server.%d=127.0.0.1:%d:%d\n", j+1, m.peer, m.election)
		}
	}
	return b.String()
}

// ready reports whether `srvr` shows a Mode line; `ruok` answers before the server serves.
func (z *ZooKeeper) ready(ctx context.Context) error {
	ctx, cancel := attempt(ctx)
	defer cancel()
	_, err := zkMode(ctx, z.Addr)
	return err
}

// zkMode asks addr for `srvr` and returns its Mode.
func zkMode(ctx context.Context, addr string) (string, error) {
	out, err := askAll(ctx, addr, "srvr")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(out, "\n") {
		if mode, ok := strings.CutPrefix(line, "Mode: "); ok {
			return strings.TrimSpace(mode), nil
		}
	}
	return "", fmt.Errorf("%w: srvr answered %q", errNotReady, strings.TrimSpace(out))
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatalf("testserver: %v", err)
	}
}
