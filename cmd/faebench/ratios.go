package main

import (
	"fmt"
	"io"
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
	noopEcho,
	{name: "faed noop / stock", a: side{"faed", "noop"}, b: side{"stock", "noop"}},
	lcGetMemcached,
	mcGetMemcached,
	myQuery,
	forwarding,
	relayFloor,
	mapLookup,
	statsCost("noop"),
	statsCost("lc_get"),
	statsCost("ping"),
}

// statsCost is a call on faed against the same on a faed with
// [engine] call_stats off.
func statsCost(call string) comparison {
	return comparison{name: "stats on / off", a: side{"faed", call}, b: side{"faed-nostats", call}}
}

// noopEcho is faed's noop against the echo server's, the floor.
var noopEcho = comparison{name: "faed noop / echo", a: side{"faed", "noop"}, b: side{"echo", "noop"}}

// lcGetMemcached is faed's own cache against memcached's get.
var lcGetMemcached = comparison{name: "faed lc_get / memcached get", a: side{"faed", "lc_get"}, b: side{"memcached", "get"}}

// mcGetMemcached is a client calling faed (which keeps pooled memcached
// connections) against one connecting to memcached itself: the handshake
// saving in the PHP pattern, compared over the unix socket a local faed is
// reached by too.
var mcGetMemcached = comparison{name: "faed mc_get / memcached get", a: side{"faed", "mc_get"}, b: side{"memcached", "get"}, crossNetwork: true}

// myQuery is PHP calling my_query on faed against PHP calling MariaDB
// itself (mysqli).
var myQuery = comparison{name: "PHP my_query / mysqli", a: side{"faed", "my_query"}, b: side{"mariadb", "select"}, crossNetwork: true}

// relayFloor is a forwarded lc_get against the same lc_get through the
// relay in front of the echo server: three processes each way.
var relayFloor = comparison{name: "forwarded / relay floor", a: side{"faed-fwd", "lc_get"}, b: side{"relay", "lc_get"}}

// mapLookup is a cluster node's lc_get of a key it owns (a vbucket map
// lookup on every call) against a one-node faed's over the same transport;
// issue 8's goal is no measurable change.
var mapLookup = comparison{name: "map lookup: local / 1-node", a: side{"faed-local", "lc_get"}, b: side{"faed-1node", "lc_get"}}

// forwarding is a cluster node's lc_get of a key another node owns against
// one of a key it owns itself.
var forwarding = comparison{name: "forwarded / local lc_get", a: side{"faed-fwd", "lc_get"}, b: side{"faed-local", "lc_get"}}

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
				fmt.Fprintf(w, "\n%-32s %-28s %10s %9s %9s %12s\n",
					"ratios", "workload", "calls/s", "p50", "p99", "srv us/call")
				header = true
			}
			fmt.Fprintf(w, "%-32s %-28s %10s %9s %9s %12s\n", c.name, pairWorkload(p),
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
// adds at p50.
func printForwardCost(w io.Writer, rows []result) {
	for _, p := range forwarding.pairs(rows) {
		fmt.Fprintf(w, "forwarding cost, %s: p50 %.1fus - %.1fus = %+.1fus\n", pairWorkload(p), p.a.P50us, p.b.P50us, p.a.P50us-p.b.P50us)
	}
}
