package main

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"
)

// The faed cluster nodes of the hand-off benchmark: child processes on
// free loopback ports, clustering on the ZooKeeper bench.sh started, each on
// a kvdb file of its own in the benchmark's dir.

// benchNode is one faed child process.
type benchNode struct {
	name, tcp, admin string
	cmd              *exec.Cmd
	exited           chan struct{}
}

// clusterSpec is what every node of one benchmark cluster shares.
type clusterSpec struct {
	faed, zookeeper, dir string
	root                 string // znode of this cluster
	extra                string // more [cluster] keys
	session              string // [cluster] session_timeout; 4s if empty
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// nodeConfig is the faed.toml of one node.
func (s clusterSpec) nodeConfig(name, tcp, admin string, worker int) string {
	return fmt.Sprintf(`[engine]
listen = ["tcp:%s"]
max_outstanding_sessions = 20000
[http]
listen = %q
[servant.idgen]
worker_id = %d
[servant.kvdb]
path = %q
[cluster]
zookeeper = [%q]
root = %q
advertise = %q
session_timeout = %q
%s
[cluster.peer_pool]
max_idle = 64
max_open = 64
`, tcp, admin, worker, filepath.Join(s.dir, name+".kvdb"), s.zookeeper, s.root, tcp, cmp.Or(s.session, "4s"), s.extra)
}

// start starts node name with idgen worker id worker and returns once its
// admin port answers.
func (s clusterSpec) start(name string, worker int) (*benchNode, error) {
	tcp, err1 := freeAddr()
	admin, err2 := freeAddr()
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	path := filepath.Join(s.dir, name+".toml")
	if err := os.WriteFile(path, []byte(s.nodeConfig(name, tcp, admin, worker)), 0o644); err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(s.dir, name+".log"))
	if err != nil {
		return nil, err
	}
	defer log.Close() // the child has its own descriptor
	n := &benchNode{name: name, tcp: tcp, admin: admin, cmd: exec.Command(s.faed, "-config", path), exited: make(chan struct{})}
	n.cmd.Stdout, n.cmd.Stderr = log, log
	if err := n.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { n.cmd.Wait(); close(n.exited) }()
	return n, n.waitAdmin(15 * time.Second)
}

// waitAdmin waits until the node's admin port answers GET /ping.
func (n *benchNode) waitAdmin(timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case <-n.exited:
			return fmt.Errorf("%s exited at start; see its log", n.name)
		default:
		}
		if resp, err := client.Get("http://" + n.admin + "/ping"); err == nil {
			resp.Body.Close()
			return nil
		}
	}
	return fmt.Errorf("%s: admin port %s not answering after %v", n.name, n.admin, timeout)
}

// startAll starts a node per name, with worker ids 1, 2, …, one after the
// other, and returns them with their advertised addresses; on an error,
// those started so far, for the caller's stopNodes.
func (s clusterSpec) startAll(names ...string) ([]*benchNode, []string, error) {
	var nodes []*benchNode
	var addrs []string
	for i, name := range names {
		n, err := s.start(name, i+1)
		if err != nil {
			return nodes, addrs, err
		}
		nodes, addrs = append(nodes, n), append(addrs, n.tcp)
	}
	return nodes, addrs, nil
}

// stopNodes stops nodes at once: they need not drain into each other.
func stopNodes(nodes []*benchNode) {
	for _, n := range nodes {
		n.cmd.Process.Kill()
	}
	for _, n := range nodes {
		<-n.exited
	}
}

// settledMap polls the map of the node at admin until every vbucket is
// owned by one of want, balanced within one, and nothing moves; it returns
// that map.
func settledMap(admin string, want []string, timeout time.Duration) (handoffMap, error) {
	var m handoffMap
	var err error
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if m, err = fetchHandoffMap(admin); err == nil {
			if err = m.settled(want); err == nil {
				return m, nil
			}
		}
	}
	return m, fmt.Errorf("map of %s not settled after %v: %w", admin, timeout, err)
}

// settled checks m as settledMap does.
func (m handoffMap) settled(want []string) error {
	counts := map[string]int{}
	for vb, o := range m.Owners {
		if !slices.Contains(want, o) {
			return fmt.Errorf("vbucket %d owned by %q", vb, o)
		}
		counts[o]++
	}
	lo, hi := len(m.Owners), 0
	for _, a := range want {
		lo, hi = min(lo, counts[a]), max(hi, counts[a])
	}
	switch {
	case hi-lo > 1:
		return fmt.Errorf("unbalanced: %v", counts)
	case len(m.Rebalance.Current) > 0:
		return fmt.Errorf("%d moves current", len(m.Rebalance.Current))
	}
	return nil
}
