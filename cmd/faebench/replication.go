package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
)

// The replica measurements of issue 9, in the -handoff run:
//
//   - the cost of replication: two nodes, kvdb_set and lock/unlock calls
//     on keys the called node owns (so no call is forwarded, and the only
//     peer call is the replication), with replicas = 0 and replicas = 1
//     side by side, the same clients and duration; beside them a noop on
//     the same node at the same concurrency, the loaded round trip the
//     replicated write adds one of;
//   - the rebuild of 100,000 keys' replicas: three nodes with replicas = 1
//     hold them; one is killed with SIGKILL, and the time runs from the
//     kill until the map, over the two left, is balanced with every
//     vbucket replicated again (the failover delay included, and said).

// replicationConfig is the failover timing of the rebuild's nodes.
const (
	rebuildSession  = "2s"
	rebuildFailover = "3s"
)

// replCost is one replicas setting's figures: at the benchmark's clients
// (throughput) and at one client (what one call waits, the machine idle
// otherwise).
type replCost struct {
	set, lock, noop    phaseStats
	set1, lock1, noop1 phaseStats
}

type replicationResult struct {
	cost    [2]replCost // by replicas
	rebuild time.Duration
	m       handoffMap
}

func benchReplication(cfg handoffConfig) (replicationResult, error) {
	var r replicationResult
	for replicas := range 2 {
		c, err := benchReplicaCost(cfg, replicas)
		if err != nil {
			return r, fmt.Errorf("replicas = %d: %w", replicas, err)
		}
		r.cost[replicas] = c
	}
	var err error
	r.rebuild, r.m, err = benchRebuild(cfg)
	return r, err
}

// benchReplicaCost measures on a fresh two-node cluster.
func benchReplicaCost(cfg handoffConfig, replicas int) (replCost, error) {
	s, r := cfg.spec, strconv.Itoa(replicas)
	s.root += "/replication-" + r
	s.extra = "vbuckets = 64\nreplicas = " + r
	nodes, addrs, err := s.startAll("repl-a"+r, "repl-b"+r)
	defer func() { stopNodes(nodes) }()
	if err != nil {
		return replCost{}, err
	}
	m, err := settledMap(nodes[0].admin, addrs, 30*time.Second)
	if err != nil {
		return replCost{}, err
	}
	keys := ownKeys(m.vbucketMap, addrs[0], 10000)
	value := make([]byte, cfg.size)
	set := func(cn *conn, rc *rpc.Context, i int) error {
		ok, err := cn.client.KvdbSet(context.Background(), rc, []byte(keys[i%len(keys)]), value)
		if err == nil && !ok {
			err = errors.New("kvdb_set answered false")
		}
		return err
	}
	lock := func(cn *conn, rc *rpc.Context, i int) error {
		key := keys[i%len(keys)]
		ok, err := cn.client.Lock(context.Background(), rc, "bench", key)
		if err == nil && ok {
			err = cn.client.Unlock(context.Background(), rc, "bench", key)
		}
		return err
	}
	noop := func(cn *conn, _ *rpc.Context, _ int) error {
		_, err := cn.client.Noop(context.Background(), 1)
		return err
	}
	var c replCost
	c.set, c.lock, c.noop = measureOn(addrs[0], cfg, cfg.clients, set), measureOn(addrs[0], cfg, cfg.clients, lock), measureOn(addrs[0], cfg, cfg.clients, noop)
	c.set1, c.lock1, c.noop1 = measureOn(addrs[0], cfg, 1, set), measureOn(addrs[0], cfg, 1, lock), measureOn(addrs[0], cfg, 1, noop)
	return c, nil
}

// ownKeys returns n keys the map gives to owner.
func ownKeys(m vbucketMap, owner string, n int) []string {
	out := make([]string, 0, n)
	for i := 0; len(out) < n; i++ {
		if k := "repl-" + strconv.Itoa(i); m.owner(k) == owner {
			out = append(out, k)
		}
	}
	return out
}

// measureOn runs clients clients making call on addr, each on its own keys
// (client w takes i = w, w+clients, ...), for cfg.duration after
// cfg.warmup. A lock/unlock pair counts as one call.
func measureOn(addr string, cfg handoffConfig, clients int, call func(*conn, *rpc.Context, int) error) phaseStats {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex // guards total
		total    phaseStats
		recordAt = time.Now().Add(cfg.warmup)
		stopAt   = recordAt.Add(cfg.duration)
	)
	for w := range clients {
		wg.Go(func() {
			var st phaseStats
			defer func() {
				mu.Lock()
				total.merge(&st)
				mu.Unlock()
			}()
			cn, err := dial(endpoint{network: "tcp", address: addr}, wire{transport: "buffered", protocol: "binary", timeout: 30 * time.Second})
			if err != nil {
				st.errors++
				st.firstErr = err
				return
			}
			defer cn.Close()
			rc := &rpc.Context{Rid: int64(w + 1), Reason: "bench.replication", UID: int64(w)}
			for i := w; time.Now().Before(stopAt); i += clients {
				start := time.Now()
				err := call(cn, rc, i)
				if start.Before(recordAt) {
					continue
				}
				if err != nil {
					st.errors++
					if st.firstErr == nil {
						st.firstErr = err
					}
					continue
				}
				st.hist.record(time.Since(start))
			}
		})
	}
	wg.Wait()
	total.elapsed = cfg.duration
	return total
}

// benchRebuild kills one of three nodes holding rebalanceKeys and times
// the rebuild of the replicas it held.
func benchRebuild(cfg handoffConfig) (time.Duration, handoffMap, error) {
	s := cfg.spec
	s.root += "/rebuild"
	s.extra = fmt.Sprintf("replicas = 1\nfailover_delay = %q", rebuildFailover)
	s.session = rebuildSession
	nodes, addrs, err := s.startAll("rebuild-a", "rebuild-b", "rebuild-c")
	defer func() { stopNodes(nodes) }()
	if err != nil {
		return 0, handoffMap{}, err
	}
	if _, err := replicatedMap(nodes[0].admin, addrs, 60*time.Second); err != nil {
		return 0, handoffMap{}, err
	}
	if err := fill(addrs, keysPerVBucket("rebuild", 1, rebalanceKeys), cfg.size); err != nil {
		return 0, handoffMap{}, err
	}
	m0, err := fetchHandoffMap(nodes[0].admin)
	if err != nil {
		return 0, handoffMap{}, err
	}
	victim := nodes[2]
	start := time.Now()
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return 0, handoffMap{}, err
	}
	m, err := replicatedMap(nodes[0].admin, addrs[:2], 120*time.Second)
	elapsed := time.Since(start)
	m.Rebalance.KeysCopied -= m0.Rebalance.KeysCopied
	return elapsed, m, err
}

// replicatedMap is settledMap, every vbucket replicated too.
func replicatedMap(admin string, want []string, timeout time.Duration) (handoffMap, error) {
	deadline := time.Now().Add(timeout)
	for {
		m, err := settledMap(admin, want, time.Until(deadline))
		if err != nil {
			return m, err
		}
		if m.Underreplicated == 0 && m.ReplicaSlots == min(1, len(want)-1) {
			return m, nil
		}
		if time.Now().After(deadline) {
			return m, fmt.Errorf("map of %s: %d vbuckets under-replicated after %v", admin, m.Underreplicated, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// printReplication prints the replica measurements against the goals of
// issue 9.
func printReplication(w io.Writer, cfg handoffConfig, r replicationResult) {
	fmt.Fprintf(w, "\n%-44s %-52s %s\n", fmt.Sprintf("replicas (issue 9), %d B values", cfg.size), "replicas 1 vs 0", "goal")
	r1, r0 := &r.cost[1], &r.cost[0]
	for _, x := range []struct {
		name           string
		c64, c64r0     *phaseStats
		c1, c1r0, noop *phaseStats
	}{
		{"kvdb_set", &r1.set, &r0.set, &r1.set1, &r0.set1, &r1.noop1},
		{"lock+unlock", &r1.lock, &r0.lock, &r1.lock1, &r0.lock1, &r1.noop1},
	} {
		fmt.Fprintf(w, "%-44s %-52s %s\n", fmt.Sprintf("  %s calls/s, c=%d", x.name, cfg.clients),
			fmt.Sprintf("%.0f / %.0f = %s (errors %d / %d)", x.c64.callsPerSec(), x.c64r0.callsPerSec(),
				ratio(x.c64.callsPerSec(), x.c64r0.callsPerSec()), x.c64.errors, x.c64r0.errors),
			verdict(x.c64.callsPerSec() >= 0.6*x.c64r0.callsPerSec(), ">= 0.6x"))
		fmt.Fprintf(w, "%-44s %-52s\n", fmt.Sprintf("  %s p50 / p99, c=%d", x.name, cfg.clients),
			fmt.Sprintf("%.0f / %.0fus vs %.0f / %.0fus", micros(x.c64.hist.quantile(0.5)), micros(x.c64.hist.quantile(0.99)),
				micros(x.c64r0.hist.quantile(0.5)), micros(x.c64r0.hist.quantile(0.99))))
		// One round trip: a noop's p50 on the same node, one client.
		rtt := x.noop.hist.quantile(0.5)
		trips := 1.0
		if x.name == "lock+unlock" {
			trips = 2 // two replicated calls
		}
		p50a, p50b := x.c1.hist.quantile(0.5), x.c1r0.hist.quantile(0.5)
		fmt.Fprintf(w, "%-44s %-52s %s\n", fmt.Sprintf("  %s p50, c=1", x.name),
			fmt.Sprintf("%.0fus / %.0fus: +%.0fus (round trip %.0fus)", micros(p50a), micros(p50b), micros(p50a-p50b), micros(rtt)),
			verdict(float64(p50a-p50b) <= trips*float64(rtt), fmt.Sprintf("<= +%.0f round trip", trips)))
	}
	fmt.Fprintf(w, "%-44s %-52s\n", fmt.Sprintf("rebuild after a kill -9, %d keys, 3 -> 2", rebalanceKeys),
		fmt.Sprintf("%.1fs from the kill (session %s + failover_delay %s in it; %d keys copied)",
			r.rebuild.Seconds(), rebuildSession, rebuildFailover, r.m.Rebalance.KeysCopied))
}
