package main

import (
	"fmt"
	"io"
	"slices"
)

// The ratios block of the summary holds faed against each reference of
// SPEC §10 across workloads that differ in call or server (which the
// per-workload groups cannot), and the cost of forwarding a call.

// side picks the rows of one server label and call.
type side struct{ label, call string }

// comparison is one named ratio: every row of a over the row of b with the
// same pattern and client count, and the same network unless crossNetwork
// lets b be on another (then a row of b on a's network is still preferred).
type comparison struct {
	name         string
	a, b         side
	crossNetwork bool
}

// comparisons are printed in this order.
var comparisons = []comparison{
	{name: "faed noop / echo", a: side{"faed", "noop"}, b: side{"echo", "noop"}},
	{name: "faed noop / stock", a: side{"faed", "noop"}, b: side{"stock", "noop"}},
	{name: "faed lc_get / memcached get", a: side{"faed", "lc_get"}, b: side{"memcached", "get"}},
	// PHP calling faed (which keeps pooled memcached connections) against PHP
	// connecting to memcached itself: the handshake saving, compared over
	// the unix socket a local faed is reached by too.
	{name: "faed mc_get / memcached get", a: side{"faed", "mc_get"}, b: side{"memcached", "get"}, crossNetwork: true},
	forwarding,
	mapLookup,
}

// mapLookup is a cluster node's lc_get of a key it owns (a vbucket map
// lookup on every call) against a one-node faed's over the same transport;
// issue 8's goal is no measurable change.
var mapLookup = comparison{name: "map lookup: local / 1-node", a: side{"faed-local", "lc_get"}, b: side{"faed-1node", "lc_get"}}

// forwarding is a cluster node's lc_get of a key another node owns against
// one of a key it owns itself.
var forwarding = comparison{name: "forwarded / local lc_get", a: side{"faed-fwd", "lc_get"}, b: side{"faed-local", "lc_get"}}

// Forwarding's budget at p50 (the goal of the cluster work): one loopback
// round trip, measured as the echo server's 1-client p50 over TCP (the
// network peers talk over), plus forwardSlackUs.
const forwardSlackUs = 30

// pair is a row and the row it is compared with.
type pair struct{ a, b result }

func (s side) matches(r result) bool { return baseLabel(r.Label) == s.label && r.Call == s.call }

// pairs returns the row pairs of c among rows, in the order of c.a's rows.
func (c comparison) pairs(rows []result) []pair {
	var ps []pair
	for _, a := range rows {
		if !c.a.matches(a) {
			continue
		}
		var found *result
		for i, b := range rows {
			if !c.b.matches(b) || b.Pattern != a.Pattern || b.Clients != a.Clients {
				continue
			}
			same := network(b.Target) == network(a.Target)
			if same || (c.crossNetwork && found == nil) {
				found = &rows[i]
			}
			if same {
				break
			}
		}
		if found != nil {
			ps = append(ps, pair{a, *found})
		}
	}
	return ps
}

// printRatios prints every comparison that has rows, then the cost of
// forwarding.
func printRatios(w io.Writer, rows []result) {
	header := false
	for _, c := range comparisons {
		for _, p := range c.pairs(rows) {
			if !header {
				fmt.Fprintf(w, "\n%-28s %-24s %10s %9s %9s %12s\n",
					"ratios", "workload", "calls/s", "p50", "p99", "srv us/call")
				header = true
			}
			fmt.Fprintf(w, "%-28s %-24s %10s %9s %9s %12s\n", c.name, pairWorkload(p),
				ratio(p.a.CallsPerSec, p.b.CallsPerSec), ratio(p.a.P50us, p.b.P50us),
				ratio(p.a.P99us, p.b.P99us), serverRatio(p.a.ServerUs, p.b.ServerUs))
		}
	}
	printForwardCost(w, rows)
}

// pairWorkload names what a pair has in common: "php unix/tcp c=64" when
// the networks differ.
func pairWorkload(p pair) string {
	nw := network(p.a.Target)
	if nb := network(p.b.Target); nb != nw {
		nw += "/" + nb
	}
	return fmt.Sprintf("%s %s c=%d", p.a.Pattern, nw, p.a.Clients)
}

// printForwardCost prints, for every forwarded/local pair, what forwarding
// adds at p50, and at one client (where p50 is latency, not queueing) holds
// it against the budget.
func printForwardCost(w io.Writer, rows []result) {
	rtt, haveRTT := loopbackRTT(rows)
	for _, p := range forwarding.pairs(rows) {
		cost := p.a.P50us - p.b.P50us
		fmt.Fprintf(w, "forwarding cost, %s: p50 %.1fus - %.1fus = %+.1fus", pairWorkload(p), p.a.P50us, p.b.P50us, cost)
		if p.a.Clients == 1 && haveRTT {
			budget := rtt + forwardSlackUs
			verdict := "met"
			if cost > budget {
				verdict = "MISSED"
			}
			fmt.Fprintf(w, "; goal <= loopback round trip %.1fus + %dus = %.1fus: %s", rtt, forwardSlackUs, budget, verdict)
		}
		fmt.Fprintln(w)
	}
}

// loopbackRTT returns the echo server's p50 for a 1-client persistent noop
// over TCP: a loopback round trip with the Go Thrift client's own cost, as
// a forwarding node pays it.
func loopbackRTT(rows []result) (float64, bool) {
	i := slices.IndexFunc(rows, func(r result) bool {
		return baseLabel(r.Label) == "echo" && r.Call == "noop" && r.Pattern == "persistent" &&
			r.Clients == 1 && network(r.Target) == "tcp"
	})
	if i < 0 {
		return 0, false
	}
	return rows[i].P50us, true
}
