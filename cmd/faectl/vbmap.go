package main

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"slices"
	"text/tabwriter"
)

// mapStats is the part of GET /cluster/map faectl reads.
type mapStats struct {
	Version     uint64         `json:"version"`
	VBuckets    int            `json:"vbuckets"`
	Owners      []string       `json:"owners"` // index: vbucket
	Counts      map[string]int `json:"counts"`
	Balance     int            `json:"balance"`
	Coordinator string         `json:"coordinator"`
	Rebalance   struct {
		MovesTotal  int64 `json:"moves_total"`
		MovesDone   int64 `json:"moves_done"`
		KeysCopied  int64 `json:"keys_copied"`
		BytesCopied int64 `json:"bytes_copied"`
		Current     []struct {
			VBucket int    `json:"vbucket"`
			From    string `json:"from"`
			To      string `json:"to"`
			Phase   string `json:"phase"`
		} `json:"current"`
	} `json:"rebalance"`
}

func (a *admin) vbucketMap() (*mapStats, error) {
	body, err := a.do(http.MethodGet, "/cluster/map")
	if err != nil {
		return nil, err
	}
	var m mapStats
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("node %s: GET /cluster/map: %w", a.addr, err)
	}
	return &m, nil
}

// cmdMap shows the vbucket map: version, vbuckets per node, balance, the
// rebalance in progress and, with -keys, the vbucket and owner of each key.
func cmdMap(e *env, args []string) error {
	fs := e.flagSet("map")
	keys := fs.String("keys", "", "comma-separated `keys` whose vbucket and owner to show")
	if err := e.parseFlags(fs, args, false); err != nil {
		return err
	}
	m, err := e.adminClient().vbucketMap()
	if err != nil {
		return err
	}
	printMap(e.out, m)
	printOwners(e.out, m, splitKeys(*keys))
	return nil
}

func printMap(w io.Writer, m *mapStats) {
	fmt.Fprintf(w, "map version %d: %d vbuckets, balance %d (max - min per node), coordinator %s\n",
		m.Version, m.VBuckets, m.Balance, orNone(m.Coordinator))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  NODE\tVBUCKETS\tSHARE")
	nodes := make([]string, 0, len(m.Counts))
	for n := range m.Counts {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	for _, n := range nodes {
		fmt.Fprintf(tw, "  %s\t%d\t%.1f%%\n", n, m.Counts[n], 100*float64(m.Counts[n])/float64(max(m.VBuckets, 1)))
	}
	tw.Flush()
	r := m.Rebalance
	if r.MovesDone >= r.MovesTotal && len(r.Current) == 0 {
		fmt.Fprintf(w, "no rebalance in progress (the last: %d moves, %d keys and %d bytes copied)\n", r.MovesDone, r.KeysCopied, r.BytesCopied)
		return
	}
	fmt.Fprintf(w, "rebalance: %d of %d moves done, %d keys and %d bytes copied\n", r.MovesDone, r.MovesTotal, r.KeysCopied, r.BytesCopied)
	for _, mv := range r.Current {
		fmt.Fprintf(w, "  vbucket %d: %s -> %s, %s\n", mv.VBucket, mv.From, mv.To, mv.Phase)
	}
}

// printOwners writes the vbucket and owner of each key, by the map's
// crc32(key) % vbuckets.
func printOwners(w io.Writer, m *mapStats, keys []string) {
	if len(keys) == 0 || m.VBuckets == 0 {
		return
	}
	fmt.Fprintln(w, "\nowners:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  KEY\tVBUCKET\tOWNER")
	for _, k := range keys {
		vb := int(crc32.ChecksumIEEE([]byte(k)) % uint32(m.VBuckets))
		owner := ""
		if vb < len(m.Owners) {
			owner = m.Owners[vb]
		}
		fmt.Fprintf(tw, "  %q\t%d\t%s\n", k, vb, orNone(owner))
	}
	tw.Flush()
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// cmdRebalance asks the cluster's coordinator to rebalance now.
func cmdRebalance(e *env, args []string) error {
	fs := e.flagSet("rebalance")
	if err := e.parseFlags(fs, args, false); err != nil {
		return err
	}
	if _, err := e.adminClient().do(http.MethodPost, "/cluster/rebalance"); err != nil {
		return err
	}
	fmt.Fprintln(e.out, "rebalance requested: follow it with faectl map")
	return nil
}

// cmdDrain asks the coordinator to move every vbucket off NODE, which
// stays a member and keeps forwarding.
func cmdDrain(e *env, args []string) error {
	fs := e.flagSet("drain")
	if err := e.parseFlags(fs, args, true); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(e.errOut, "drain: name one node, by its advertised HOST:PORT")
		return errUsage
	}
	node := fs.Arg(0)
	if _, err := e.adminClient().do(http.MethodPost, "/cluster/drain?node="+url.QueryEscape(node)); err != nil {
		return err
	}
	fmt.Fprintf(e.out, "drain of %s requested: follow it with faectl map\n", node)
	return nil
}
