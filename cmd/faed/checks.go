package main

import (
	"fmt"
	"path"
	"strings"
)

// checkZKRoots refuses a [servant.zk] root that equals, contains or lies
// inside the [cluster] root: clients confined to the zk servant's root
// could then delete the cluster's member and worker znodes, or add a fake
// member. It checks only when both the zk servant and the cluster are
// configured; a cluster root left empty means its default.
func checkZKRoots(c Config) error {
	if !c.Servant.ZK.Configured() || len(c.Cluster.ZooKeeper) == 0 {
		return nil
	}
	zkRoot, clusterRoot := c.Servant.ZK.Root, c.Cluster.Root
	if clusterRoot == "" {
		clusterRoot = defaultConfig().Cluster.Root
	}
	if within(zkRoot, clusterRoot) || within(clusterRoot, zkRoot) {
		return fmt.Errorf("[servant.zk] root %q and [cluster] root %q overlap: clients of zk_* calls could change the cluster's own znodes; keep the two subtrees apart", zkRoot, clusterRoot)
	}
	return nil
}

// within reports whether the znode path p is root or lies under it,
// comparing whole segments: "/fae/cluster" is within "/fae", "/fae-x" is
// not, and every path is within "/".
func within(p, root string) bool {
	p, root = path.Clean(p), path.Clean(root)
	return root == "/" || p == root || strings.HasPrefix(p, root+"/")
}
