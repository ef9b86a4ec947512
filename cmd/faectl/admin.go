package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/faed/faed/engine"
	"github.com/faed/faed/peer"
)

// errNotClustered is wrapped by the error of a cluster command run against
// a node without ZooKeeper, which is a one-node cluster and says nothing of
// a cluster in /stats.
var errNotClustered = errors.New("no cluster section in /stats")

// maxBody bounds what faectl reads of one admin answer.
const maxBody = 16 << 20

// admin reads one node's admin HTTP server. Each request, from dialing to
// the end of the body, is bounded by the http.Client's timeout.
type admin struct {
	addr  string // host:port
	token string // sent as a bearer token when not ""
	http  *http.Client
}

func (e *env) adminClient() *admin {
	return &admin{addr: e.admin, token: e.token, http: &http.Client{Timeout: e.timeout}}
}

// nodeStats is the part of GET /stats faectl reads.
type nodeStats struct {
	Engine  engine.Snapshot `json:"engine"`
	Cluster *peer.Stats     `json:"cluster"`
}

// do sends one request and returns the body of a 2xx answer. Other answers
// become an error carrying faed's JSON error message.
func (a *admin) do(method, path string) ([]byte, error) {
	req, err := http.NewRequest(method, "http://"+a.addr+path, nil)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", a.addr, err)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("node %s is unreachable: %w", a.addr, unwrapURL(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("node %s: reading %s %s: %w", a.addr, method, path, unwrapURL(err))
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("node %s: %s %s: %s", a.addr, method, path, errorText(resp.Status, body))
	}
	return body, nil
}

// unwrapURL drops the "Get "http://…":" prefix net/http puts on errors; the
// caller names the node already.
func unwrapURL(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// errorText is the message of faed's JSON error body, or the status and the
// start of any other body.
func errorText(status string, body []byte) string {
	var e struct{ Error string }
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return status + ": " + e.Error
	}
	text := strings.TrimSpace(string(body))
	if len(text) > 200 {
		text = text[:200] + "…"
	}
	return strings.TrimSpace(status + ": " + text)
}

// stats returns the node's GET /stats.
func (a *admin) stats() (*nodeStats, error) {
	body, err := a.do(http.MethodGet, "/stats")
	if err != nil {
		return nil, err
	}
	var st nodeStats
	if err := json.Unmarshal(body, &st); err != nil {
		return nil, fmt.Errorf("node %s: decoding /stats: %w", a.addr, err)
	}
	return &st, nil
}

// cluster returns the cluster section of the node's /stats, or an error
// wrapping errNotClustered if the node is not in a cluster.
func (a *admin) cluster() (*peer.Stats, error) {
	st, err := a.stats()
	if err != nil {
		return nil, err
	}
	if st.Cluster == nil {
		return nil, fmt.Errorf("node %s is not in a cluster: %w", a.addr, errNotClustered)
	}
	return st.Cluster, nil
}
