package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
)

// shardMapJSON is GET /mysql/shards.
type shardMapJSON struct {
	Shards []int             `json:"shards"`
	Locked map[string]string `json:"locked"`
}

// cmdShards shows the MySQL shard map of the pools sharded by vbucket, or
// changes one vbucket: lock -reason R V, flip V SHARD, unlock V.
func cmdShards(e *env, args []string) error {
	fs := e.flagSet("shards")
	reason := fs.String("reason", "", "lock: why (shown with every refused write; required)")
	if err := e.parseFlags(fs, args, true); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return listShards(e)
	}
	q := url.Values{"op": {rest[0]}, "reason": {*reason}}
	switch {
	case rest[0] == "lock" && len(rest) == 2 && *reason != "":
	case rest[0] == "unlock" && len(rest) == 2:
	case rest[0] == "flip" && len(rest) == 3:
		q.Set("shard", rest[2])
	default:
		fmt.Fprintln(e.errOut, "shards: lock -reason R VBUCKET | flip VBUCKET SHARD | unlock VBUCKET (no argument: show the map)")
		return errUsage
	}
	q.Set("vbucket", rest[1])
	if _, err := e.adminClient().do(http.MethodPost, "/mysql/shards?"+q.Encode()); err != nil {
		return err
	}
	fmt.Fprintf(e.out, "vbucket %s: %s done\n", rest[1], rest[0])
	return nil
}

// listShards prints how many vbuckets each shard holds and the locks.
func listShards(e *env) error {
	body, err := e.adminClient().do(http.MethodGet, "/mysql/shards")
	if err != nil {
		return err
	}
	var m shardMapJSON
	if err := json.Unmarshal(body, &m); err != nil {
		return fmt.Errorf("node %s: GET /mysql/shards: %w", e.admin, err)
	}
	per := map[int]int{}
	for _, s := range m.Shards {
		per[s]++
	}
	for _, s := range slices.Sorted(maps.Keys(per)) {
		fmt.Fprintf(e.out, "shard %-4d %d vbuckets\n", s, per[s])
	}
	if len(m.Locked) == 0 {
		fmt.Fprintln(e.out, "no vbucket locked")
	}
	for _, vb := range slices.Sorted(maps.Keys(m.Locked)) {
		fmt.Fprintf(e.out, "vbucket %s locked: %s\n", vb, m.Locked[vb])
	}
	return nil
}
