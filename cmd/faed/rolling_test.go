package main

import (
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/faed/faed/scripts/testserver"
)

// TestRollingRestart restarts each node of a three-node cluster in turn, as
// README's rolling-restart procedure says (SIGTERM, start again on the same
// files, wait for a settled map), while Go and Python clients call the
// other two: zero failed calls, every acknowledged kvdb value readable and
// every held lock still held through every node after each step.
func TestRollingRestart(t *testing.T) {
	requireInstalled(t, scriptClient{
		probe:   []string{"/usr/bin/python3", "-c", "import thrift.transport.TSocket"},
		install: "/usr/bin/python3 with python3-thrift",
	})
	zk := testserver.StartZooKeeper(t).Addr
	nodes := startNodes(t, handoffOpts(zk, "rolling", 1, 4, 100), 3)
	waitSettled(t, nodes, 20*time.Second)
	ds := seed(t, nodes[0], "r-")
	for i := range nodes {
		others := slices.Delete(slices.Clone(nodes), i, i+1)
		l := startLoad(t, ds, others)
		l.warm(t)
		start := time.Now()
		if err := nodes[i].Stop(t, syscall.SIGTERM); err != nil {
			t.Errorf("%s exit after SIGTERM: %v, want status 0", nodes[i].TCP, err)
		}
		nodes[i] = restartNode(t, nodes[i], others)
		m := waitSettled(t, nodes, 30*time.Second)
		res := l.stop(t)
		t.Logf("node %d (%s) restarted and given its share back in %v; %d client calls meanwhile",
			i+1, nodes[i].TCP, time.Since(start).Round(time.Millisecond), res.Calls)
		checkAfter(t, nodes, m, ds, res, nil)
		if t.Failed() {
			return
		}
	}
}
