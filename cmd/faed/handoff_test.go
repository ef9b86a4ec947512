package main

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/faed/faed/scripts/testserver"
)

// Tests of the vbucket hand-off (issue 8, SPEC §5.3), through the admin
// contract only: GET /cluster/map says who owns each vbucket and what moves,
// GET /stats counts calls served for a vbucket not owned. The scenarios and
// their load are in handoff_scenario_test.go and handoff_load_test.go.

// mapMove is one move of a rebalance in progress.
type mapMove struct {
	VBucket int    `json:"vbucket"`
	From    string `json:"from"`
	To      string `json:"to"`
	Phase   string `json:"phase"`
}

// clusterMap is GET /cluster/map.
type clusterMap struct {
	Version      uint64         `json:"version"`
	VBuckets     int            `json:"vbuckets"`
	Owners       []string       `json:"owners"` // index = vbucket, "" unknown
	Replicas     [][]string     `json:"replicas"`
	ReplicaSlots int            `json:"replica_slots"`
	Counts       map[string]int `json:"counts"`
	Balance      int            `json:"balance"`
	Coordinator  string         `json:"coordinator"`
	Rebalance    struct {
		MovesTotal  int64     `json:"moves_total"`
		MovesDone   int64     `json:"moves_done"`
		KeysCopied  int64     `json:"keys_copied"`
		BytesCopied int64     `json:"bytes_copied"`
		Current     []mapMove `json:"current"`
	} `json:"rebalance"`
}

// vbucket is the vbucket of key, as SPEC §5.3 places it.
func (m clusterMap) vbucket(key string) int {
	return int(crc32.ChecksumIEEE([]byte(key)) % uint32(m.VBuckets))
}

// owner is the active owner of key's vbucket.
func (m clusterMap) owner(key string) string { return m.Owners[m.vbucket(key)] }

// members are the nodes that own a vbucket, sorted.
func (m clusterMap) members() []string {
	var all []string
	for _, o := range m.Owners {
		if o != "" && !slices.Contains(all, o) {
			all = append(all, o)
		}
	}
	slices.Sort(all)
	return all
}

// ownedBy is the set of vbuckets addr owns or that move from or to it.
func (m clusterMap) ownedBy(addr string) map[int]bool {
	vbs := map[int]bool{}
	for vb, o := range m.Owners {
		if o == addr {
			vbs[vb] = true
		}
	}
	for _, mv := range m.Rebalance.Current {
		if mv.From == addr || mv.To == addr {
			vbs[mv.VBucket] = true
		}
	}
	return vbs
}

// adminJSON decodes GET http://d.HTTP/path into v.
func adminJSON(d *testserver.Faed, path string, v any) error {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + d.HTTP + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s of %s: %s: %.200s", path, d.TCP, resp.Status, raw)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("GET %s of %s: %w", path, d.TCP, err)
	}
	return nil
}

func readMap(d *testserver.Faed) (clusterMap, error) {
	var m clusterMap
	if err := adminJSON(d, "/cluster/map", &m); err != nil {
		return m, err
	}
	if m.VBuckets <= 0 || len(m.Owners) != m.VBuckets {
		return m, fmt.Errorf("GET /cluster/map of %s: %d vbuckets, %d owners", d.TCP, m.VBuckets, len(m.Owners))
	}
	return m, nil
}

func mustMap(t *testing.T, n *node) clusterMap {
	t.Helper()
	m, err := readMap(n.Faed)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// mapSettled checks that every node serves the same map version, that the
// map gives every vbucket to one of exactly these nodes, balanced within
// one, and that nothing moves; it returns that map.
func mapSettled(nodes []*node) (clusterMap, error) {
	want := addrsOf(nodes)
	var first clusterMap
	for i, n := range nodes {
		m, err := readMap(n.Faed)
		if err != nil {
			return m, err
		}
		if err := checkSettled(m, want); err != nil {
			return m, fmt.Errorf("%s: %w", n.TCP, err)
		}
		if i > 0 && m.Version != first.Version {
			return m, fmt.Errorf("%s: map version %d, %s has %d", n.TCP, m.Version, nodes[0].TCP, first.Version)
		}
		if i == 0 {
			first = m
		}
	}
	return first, nil
}

// checkSettled checks one node's map against the members it should have.
func checkSettled(m clusterMap, want []string) error {
	counts := map[string]int{}
	for vb, o := range m.Owners {
		if !slices.Contains(want, o) {
			return fmt.Errorf("map %d: vbucket %d owned by %q, not one of %v", m.Version, vb, o, want)
		}
		counts[o]++
	}
	lo, hi := m.VBuckets, 0
	for _, a := range want {
		lo, hi = min(lo, counts[a]), max(hi, counts[a])
	}
	switch {
	case hi-lo > 1:
		return fmt.Errorf("map %d unbalanced: %v vbuckets per node", m.Version, counts)
	case m.Balance > 1:
		return fmt.Errorf("map %d says balance %d (%v)", m.Version, m.Balance, m.Counts)
	case len(m.Rebalance.Current) > 0:
		return fmt.Errorf("map %d: %d moves current, e.g. %+v", m.Version, len(m.Rebalance.Current), m.Rebalance.Current[0])
	}
	return nil
}

// waitSettled waits until mapSettled holds for nodes and returns the map.
func waitSettled(t *testing.T, nodes []*node, timeout time.Duration) clusterMap {
	t.Helper()
	var m clusterMap
	testserver.EventuallyNil(t, fmt.Sprintf("a balanced map of %d nodes with no move current", len(nodes)), timeout, func() (err error) {
		m, err = mapSettled(nodes)
		return err
	})
	return m
}

// routingStats is the "servant.routing" section of GET /stats.
type routingStats struct {
	ServedNotOwned  uint64 `json:"served_not_owned"`
	RefusedNotOwner uint64 `json:"refused_not_owner"`
	Replicated      uint64 `json:"replicated"`
	ReplicaDropped  uint64 `json:"replica_dropped"`
}

func readRouting(d *testserver.Faed) (routingStats, error) {
	var body struct {
		Servant struct {
			Routing *routingStats `json:"routing"`
		} `json:"servant"`
	}
	if err := adminJSON(d, "/stats", &body); err != nil {
		return routingStats{}, err
	}
	if body.Servant.Routing == nil {
		return routingStats{}, fmt.Errorf("GET /stats of %s has no servant.routing section", d.TCP)
	}
	return *body.Servant.Routing, nil
}

// checkServedOwnedOnly fails t for every node that served a call for a
// vbucket it did not own.
func checkServedOwnedOnly(t *testing.T, nodes []*node) {
	t.Helper()
	for _, n := range nodes {
		s, err := readRouting(n.Faed)
		if err != nil {
			t.Error(err)
			continue
		}
		if s.ServedNotOwned != 0 {
			t.Errorf("%s served %d calls for vbuckets it did not own; want 0", n.TCP, s.ServedNotOwned)
		}
		t.Logf("%s: %d calls refused as not owner, %d served not owned", n.TCP, s.RefusedNotOwner, s.ServedNotOwned)
	}
}

// waitMove polls the map through via until a move matching want (given
// the move and the map it is current in) is current, and returns both. It polls as fast as the admin
// server answers: a move of a small vbucket lasts milliseconds.
func waitMove(t *testing.T, via *node, timeout time.Duration, what string, want func(mapMove, clusterMap) bool) (mapMove, clusterMap) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	seen := 0
	for time.Now().Before(deadline) {
		m, err := readMap(via.Faed)
		if err != nil {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		for _, mv := range m.Rebalance.Current {
			seen++
			if want(mv, m) {
				return mv, m
			}
		}
	}
	t.Fatalf("no current move %s within %v (%d other moves seen)", what, timeout, seen)
	return mapMove{}, clusterMap{}
}
