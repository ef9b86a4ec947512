package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"faed/peer"
)

// For the forwarded-vs-local runs faebench picks a key owned by a chosen
// node with the ring faed itself routes by, and waits until every node sees
// the same members, so a "local" key is never forwarded and a "forwarded"
// one always is.

// maxKeyTries bounds the search for a key a member owns. With m members each
// candidate is owned by a given one with probability about 1/m, so a few
// hundred tries fail only for a member that is not on the ring at all.
const maxKeyTries = 10000

// keyOwnedBy returns the first of prefix, prefix-1, prefix-2, ... that the
// ring over members (peer.DefaultVirtualNodes points each, as faed's
// default) gives to owner.
func keyOwnedBy(prefix, owner string, members []string) (string, error) {
	if !slices.Contains(members, owner) {
		return "", fmt.Errorf("-owned-by %s: not one of -members %s", owner, strings.Join(members, ","))
	}
	ring := peer.NewRing(members, peer.DefaultVirtualNodes, 0)
	for i := range maxKeyTries {
		key := prefix
		if i > 0 {
			key += "-" + strconv.Itoa(i)
		}
		if ring.Owner(key) == owner {
			return key, nil
		}
	}
	return "", fmt.Errorf("no key %s-N owned by %s in %d tries", prefix, owner, maxKeyTries)
}

// parseMembers splits a comma-separated member list; every member must be
// host:port, as faed advertises it.
func parseMembers(s string) ([]string, error) {
	var members []string
	for _, m := range strings.Split(s, ",") {
		m = strings.TrimSpace(m)
		if host, port, err := net.SplitHostPort(m); err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("-members: %q: want host:port, comma-separated", m)
		}
		members = append(members, m)
	}
	return members, nil
}

// clusterStats is the part of faed's GET /stats that says who is a member.
// Its keys are matched case-insensitively, as encoding/json does.
type clusterStats struct {
	Cluster struct {
		Members []string
	}
}

// waitMembers polls GET http://admin/stats until the node reports exactly
// members (in any order), or timeout passes.
func waitMembers(admin string, members []string, timeout time.Duration) error {
	want := slices.Sorted(slices.Values(members))
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		got, err := fetchMembers(client, "http://"+admin+"/stats")
		if err == nil && slices.Equal(got, want) {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("members %v, want %v", got, want)
			}
			return fmt.Errorf("%s after %v: %w", admin, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fetchMembers returns the sorted members a node's stats report.
func fetchMembers(client *http.Client, url string) ([]string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	var s clusterStats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if s.Cluster.Members == nil {
		return nil, errors.New("no cluster members in stats (is [cluster] zookeeper set?)")
	}
	return slices.Sorted(slices.Values(s.Cluster.Members)), nil
}
