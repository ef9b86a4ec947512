package main

import (
	"testing"
	"time"

	"faed/scripts/testserver"
)

// TestHandoffZooKeeperRestart restarts ZooKeeper while a rebalance moves
// vbuckets, with a Go and a Python client calling every node: the move in
// flight is finished or rolled back once ZooKeeper is back, no client call
// fails (the nodes route by the map they have while ZooKeeper is away), and
// afterwards every acknowledged write is readable through every node.
func TestHandoffZooKeeperRestart(t *testing.T) {
	requireInstalled(t, scriptClient{
		probe:   []string{"/usr/bin/python3", "-c", "import thrift.transport.TSocket"},
		install: "/usr/bin/python3 with python3-thrift",
	})
	zk := testserver.StartZooKeeper(t)
	o := handoffOpts(zk.Addr, "zkrestart", 1, 1, 5)
	o.sessionTimeout = "15s" // outlives the restart: the sessions survive it
	nodes := startNodes(t, o, 3)
	waitSettled(t, nodes, 20*time.Second)
	ds := seed(t, nodes[0], "z-")
	l := startLoad(t, ds, nodes)
	o.firstWorker = 4
	joiner := startNodes(t, o, 1)[0]
	mv, before := waitMove(t, nodes[0], 20*time.Second, "of the rebalance", func(mapMove) bool { return true })
	t.Logf("restarting ZooKeeper during move %+v (%d/%d done)", mv, before.Rebalance.MovesDone, before.Rebalance.MovesTotal)
	start := time.Now()
	zk.Restart()
	t.Logf("ZooKeeper back after %v", time.Since(start).Round(time.Millisecond))
	all := append(nodes, joiner)
	m := waitSettled(t, all, 60*time.Second)
	res := l.stop(t)
	logRebalance(t, m)
	checkAfter(t, all, m, ds, res, nil)
}
