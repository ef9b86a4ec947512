package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
)

// The -handoff mode measures what issue 8 asks of the vbucket hand-off, on
// faed nodes it starts itself on the ZooKeeper it is given:
//
//   - the time to move one vbucket holding 10,000 keys: two nodes with a
//     map of 2 vbuckets, both on the first node, each given exactly 10,000
//     keys, and auto_rebalance off; POST /cluster/rebalance then moves
//     exactly one vbucket (1 and 1 is balanced), and the time is from the
//     POST until the map shows it moved and nothing current. A move's cost
//     is its keys plus a fixed number of ZooKeeper writes (plan, fence,
//     flip), not the map's size, so 2 vbuckets measure one move of a map
//     of 1024 too — without dividing a total by a count that hides the
//     fixed part;
//   - a rebalance from 3 to 4 nodes holding 100,000 keys (1024 vbuckets,
//     the defaults): a load of kvdb_get and kvdb_set on random keys and
//     random nodes runs before and during it, and the report holds its
//     failed calls and p99 during against before.

// handoffMap is GET /cluster/map with the rebalance progress.
type handoffMap struct {
	vbucketMap
	ReplicaSlots    int `json:"replica_slots"`
	Underreplicated int `json:"underreplicated"`
	Rebalance       struct {
		MovesTotal  int64 `json:"moves_total"`
		MovesDone   int64 `json:"moves_done"`
		KeysCopied  int64 `json:"keys_copied"`
		BytesCopied int64 `json:"bytes_copied"`
		Current     []struct {
			VBucket int `json:"vbucket"`
		} `json:"current"`
	} `json:"rebalance"`
}

func fetchHandoffMap(admin string) (handoffMap, error) {
	var m handoffMap
	err := getJSON(admin, "/cluster/map", &m)
	return m, err
}

// Sizes of the two measurements (issue 8).
const (
	moveKeys      = 10000
	rebalanceKeys = 100000
	fillWriters   = 16
	setEvery      = 10 // one call in setEvery of the load is a kvdb_set
)

// handoffConfig is the -handoff mode's flags.
type handoffConfig struct {
	spec     clusterSpec
	clients  int
	warmup   time.Duration
	duration time.Duration // of the load before the rebalance
	size     int
	// replicasOnly skips the move and the rebalance.
	replicasOnly bool
}

func runHandoff(cfg handoffConfig) error {
	if err := os.RemoveAll(cfg.spec.dir); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.spec.dir, 0o755); err != nil {
		return err
	}
	// Roots of this run only: a ZooKeeper kept from an earlier run holds
	// maps that name nodes long gone.
	cfg.spec.root = fmt.Sprintf("/fae/bench-%d", time.Now().UnixNano())
	if !cfg.replicasOnly {
		mv, err := benchMove(cfg)
		if err != nil {
			return fmt.Errorf("moving one vbucket: %w", err)
		}
		rb, err := benchRebalance(cfg)
		if err != nil {
			return fmt.Errorf("rebalancing 3 -> 4 nodes: %w", err)
		}
		printHandoff(os.Stdout, cfg, mv, rb)
	}
	rp, err := benchReplication(cfg)
	if err != nil {
		return fmt.Errorf("replicas: %w", err)
	}
	printReplication(os.Stdout, cfg, rp)
	return nil
}

// moveResult is the one-vbucket move.
type moveResult struct {
	elapsed time.Duration
	m       handoffMap
}

func benchMove(cfg handoffConfig) (moveResult, error) {
	s := cfg.spec
	s.root, s.extra = s.root+"/move", "vbuckets = 2\nauto_rebalance = false\nreplicas = 0"
	a, err := s.start("move-a", 1)
	if err != nil {
		return moveResult{}, err
	}
	nodes := []*benchNode{a}
	defer func() { stopNodes(nodes) }()
	if _, err := settledMap(a.admin, []string{a.tcp}, 15*time.Second); err != nil {
		return moveResult{}, err
	}
	b, err := s.start("move-b", 2)
	if err != nil {
		return moveResult{}, err
	}
	nodes = append(nodes, b)
	if err := waitMembers(a.admin, []string{a.tcp, b.tcp}, 15*time.Second); err != nil {
		return moveResult{}, err
	}
	if err := fill([]string{a.tcp}, keysPerVBucket("mv", 2, moveKeys), cfg.size); err != nil {
		return moveResult{}, err
	}
	start := time.Now()
	if err := post(a.admin, "/cluster/rebalance"); err != nil {
		return moveResult{}, err
	}
	m, err := settledMap(a.admin, []string{a.tcp, b.tcp}, 60*time.Second)
	return moveResult{elapsed: time.Since(start), m: m}, err
}

// keysPerVBucket returns perVB keys prefix-N in each of the vbuckets.
func keysPerVBucket(prefix string, vbuckets, perVB int) []string {
	counts := make([]int, vbuckets)
	var keys []string
	for i := 0; len(keys) < vbuckets*perVB; i++ {
		k := prefix + "-" + strconv.Itoa(i)
		if vb := crc32.ChecksumIEEE([]byte(k)) % uint32(vbuckets); counts[vb] < perVB {
			counts[vb]++
			keys = append(keys, k)
		}
	}
	return keys
}

// fill writes keys with size-byte values through the nodes, fillWriters at
// once, writer w through nodes[w % len(nodes)].
func fill(nodes []string, keys []string, size int) error {
	value := bytes.Repeat([]byte("v"), size)
	var wg sync.WaitGroup
	errs := make([]error, fillWriters)
	for w := range fillWriters {
		wg.Go(func() {
			c, err := dial(endpoint{network: "tcp", address: nodes[w%len(nodes)]}, wire{transport: "buffered", protocol: "binary", timeout: 30 * time.Second})
			if err != nil {
				errs[w] = err
				return
			}
			defer c.Close()
			rc := &rpc.Context{Rid: int64(w + 1), Reason: "bench.fill", UID: 1}
			for i := w; i < len(keys) && errs[w] == nil; i += fillWriters {
				if ok, err := c.client.KvdbSet(context.Background(), rc, []byte(keys[i]), value); err != nil || !ok {
					errs[w] = fmt.Errorf("kvdb_set %q: %v, %v", keys[i], ok, err)
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// rebalanceResult is the 3 -> 4 rebalance under load.
type rebalanceResult struct {
	elapsed        time.Duration
	m              handoffMap
	before, during phaseStats
	fences         fenceStats // summed over the nodes
}

// fenceStats is what the nodes' GET /stats (servant.routing) say of the
// calls that found their vbucket fenced and waited for its flip.
type fenceStats struct {
	Waits     uint64  `json:"fenced_waits"`
	WaitMs    float64 `json:"fenced_wait_ms"`
	WaitMaxMs float64 `json:"fenced_wait_max_ms"`
}

// readFences sums the fence waits of nodes.
func readFences(nodes []*benchNode) (fenceStats, error) {
	var sum fenceStats
	for _, n := range nodes {
		var body struct {
			Servant struct {
				Routing fenceStats `json:"routing"`
			} `json:"servant"`
		}
		if err := getJSON(n.admin, "/stats", &body); err != nil {
			return sum, err
		}
		f := body.Servant.Routing
		sum.Waits += f.Waits
		sum.WaitMs += f.WaitMs
		sum.WaitMaxMs = max(sum.WaitMaxMs, f.WaitMaxMs)
	}
	return sum, nil
}

func benchRebalance(cfg handoffConfig) (rebalanceResult, error) {
	s := cfg.spec
	s.root, s.extra = s.root+"/rebalance", "replicas = 0"
	nodes, addrs, err := s.startAll("rb-a", "rb-b", "rb-c")
	defer func() { stopNodes(nodes) }()
	if err != nil {
		return rebalanceResult{}, err
	}
	m0, err := settledMap(nodes[0].admin, addrs, 30*time.Second)
	if err != nil {
		return rebalanceResult{}, err
	}
	keys := keysPerVBucket("rb", 1, rebalanceKeys)
	if err := fill(addrs, keys, cfg.size); err != nil {
		return rebalanceResult{}, err
	}
	l := startKVLoad(addrs, keys, cfg.size, cfg.clients)
	time.Sleep(cfg.warmup)
	l.enter(1)
	time.Sleep(cfg.duration)
	l.enter(2)
	start := time.Now()
	d, err := s.start("rb-d", 4)
	if err == nil {
		nodes = append(nodes, d)
		var m handoffMap
		m, err = settledMap(nodes[0].admin, append(addrs, d.tcp), 120*time.Second)
		r := rebalanceResult{elapsed: time.Since(start), m: m}
		r.before, r.during = l.stop()
		r.sub(m0) // the plan's counters add up since the cluster formed
		if err == nil {
			r.fences, err = readFences(nodes)
		}
		return r, err
	}
	l.stop()
	return rebalanceResult{}, err
}

// sub leaves in r's progress counters only what happened since m0.
func (r *rebalanceResult) sub(m0 handoffMap) {
	p, p0 := &r.m.Rebalance, m0.Rebalance
	p.MovesTotal -= p0.MovesTotal
	p.MovesDone -= p0.MovesDone
	p.KeysCopied -= p0.KeysCopied
	p.BytesCopied -= p0.BytesCopied
}

func post(admin, path string) error {
	resp, err := http.Post("http://"+admin+path, "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return fmt.Errorf("POST %s%s: %s %s", admin, path, resp.Status, body)
	}
	return nil
}

// pickCall is one call of the load: a kvdb_get of a random key, or every
// setEvery-th call a kvdb_set of it.
func pickCall(rnd *rand.Rand, keys []string, value []byte) func(*conn, *rpc.Context) error {
	key := []byte(keys[rnd.IntN(len(keys))])
	if rnd.IntN(setEvery) == 0 {
		return func(c *conn, rc *rpc.Context) error {
			ok, err := c.client.KvdbSet(context.Background(), rc, key, value)
			if err == nil && !ok {
				err = errors.New("kvdb_set answered false")
			}
			return err
		}
	}
	return func(c *conn, rc *rpc.Context) error {
		got, err := c.client.KvdbGet(context.Background(), rc, key)
		return checkSize(len(got), len(value), err)
	}
}
