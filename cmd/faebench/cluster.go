package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// For the forwarded-vs-local runs faebench picks a key owned by a chosen
// node in the vbucket map faed itself routes by (GET /cluster/map), and
// waits until every node sees the same members, so a "local" key is never
// forwarded and a "forwarded" one always is.

// maxKeyTries bounds the search for a key a node owns. A node owning one
// vbucket in v owns a candidate with probability 1/v, so with faed's
// default 1024 vbuckets over two nodes a few tries do.
const maxKeyTries = 100000

// vbucketMap is the part of GET /cluster/map faebench reads.
type vbucketMap struct {
	Version  uint64   `json:"version"`
	VBuckets int      `json:"vbuckets"`
	Owners   []string `json:"owners"` // index = vbucket
}

// owner is the owner of key's vbucket, crc32(key) % vbuckets (SPEC §5.3).
func (m vbucketMap) owner(key string) string {
	return m.Owners[crc32.ChecksumIEEE([]byte(key))%uint32(len(m.Owners))]
}

// keyOwnedBy returns the first of prefix, prefix-1, prefix-2, ... that m
// gives to owner.
func keyOwnedBy(prefix, owner string, m vbucketMap) (string, error) {
	if !slices.Contains(m.Owners, owner) {
		return "", fmt.Errorf("-owned-by %s: owns no vbucket in map %d", owner, m.Version)
	}
	for i := range maxKeyTries {
		key := prefix
		if i > 0 {
			key += "-" + strconv.Itoa(i)
		}
		if m.owner(key) == owner {
			return key, nil
		}
	}
	return "", fmt.Errorf("no key %s-N owned by %s in %d tries", prefix, owner, maxKeyTries)
}

// fetchMap reads GET http://admin/cluster/map.
func fetchMap(admin string) (vbucketMap, error) {
	var m vbucketMap
	if err := getJSON(admin, "/cluster/map", &m); err != nil {
		return m, err
	}
	if len(m.Owners) == 0 || len(m.Owners) != m.VBuckets {
		return m, fmt.Errorf("GET %s/cluster/map: %d owners for %d vbuckets", admin, len(m.Owners), m.VBuckets)
	}
	return m, nil
}

// getJSON decodes GET http://admin/path into v.
func getJSON(admin, path string, v any) error {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + admin + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s%s: %s", admin, path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s%s: %w", admin, path, err)
	}
	return nil
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
