package main

import (
	"fmt"
	"io"
	"strings"
)

// The goals block of the summary holds the run against the performance
// goals of SPEC §10 and says, goal by goal, met or MISSED, or that the run
// had no rows for it (a server not installed).

// goal is one target: check finds its rows and returns what it measured
// and whether that meets it; found is false when the rows are missing.
type goal struct {
	name  string
	check func(rows []result) (measured string, met, found bool)
}

// Metrics a ratio goal holds: faed's over the reference's.
const (
	callsPerSec = "calls/s"
	serverCPU   = "srv us/call"
	p99         = "p99"
)

// ratioGoal is a comparison's ratio of metric, on its pair of the given
// pattern and network (of faed's row) with the most clients, held against
// want: at least want for calls/s, at most want for the others.
func ratioGoal(name string, c comparison, pattern, net string, metric string, want float64) goal {
	return goal{name: name, check: func(rows []result) (string, bool, bool) {
		var best *pair
		for _, p := range c.pairs(rows) {
			if p.a.Pattern == pattern && network(p.a.Target) == net && (best == nil || p.a.Clients > best.a.Clients) {
				best = &p
			}
		}
		if best == nil {
			return "", false, false
		}
		p := *best
		if metric == serverCPU && (p.a.ServerUs == nil || p.b.ServerUs == nil) {
			return "", false, false
		}
		a, b := metricOf(p.a, metric), metricOf(p.b, metric)
		if b == 0 {
			return "", false, false
		}
		r := a / b
		met, op := r >= want, ">="
		if metric != callsPerSec {
			met, op = r <= want, "<="
		}
		return fmt.Sprintf("%s %.2fx (%.1f / %.1f, c=%d), want %s %.2fx", metric, r, a, b, p.a.Clients, op, want), met, true
	}}
}

func metricOf(r result, metric string) float64 {
	switch metric {
	case callsPerSec:
		return r.CallsPerSec
	case p99:
		return r.P99us
	}
	if r.ServerUs == nil {
		return 0
	}
	return *r.ServerUs
}

// Slack over the floors: of a forwarded call at one client over the relay
// floor's p50, and of faed's handler of my_query over MariaDB's own time of
// the SELECT it runs.
const (
	forwardSlackUs = 20
	handlerSlackUs = 20
)

// idleGoalKiB is the memory an idle connection may cost.
const idleGoalKiB = 8

var goals = []goal{
	ratioGoal("my_query, PHP, loopback", myQuery, "php-fpm", "unix", callsPerSec, 1.0),
	ratioGoal("my_query, PHP, delay proxy", myQuery, "php-fpm+delay", "unix", callsPerSec, 2.0),
	handlerGoal,
	ratioGoal("mc_get, PHP, delay proxy", mcGetMemcached, "php-fpm+delay", "unix", callsPerSec, 1.2),
	ratioGoal("mc_get, PHP, loopback", mcGetMemcached, "php-fpm", "unix", callsPerSec, 0.8),
	ratioGoal("mc_get, persistent", mcGetMemcached, "persistent", "tcp", callsPerSec, 0.6),
	ratioGoal("noop, php pattern, unix: CPU", noopEcho, "php", "unix", serverCPU, 1.3),
	ratioGoal("noop, php pattern, unix: calls/s", noopEcho, "php", "unix", callsPerSec, 0.85),
	ratioGoal("noop, php pattern, tcp: CPU", noopEcho, "php", "tcp", serverCPU, 1.3),
	ratioGoal("noop, php pattern, tcp: calls/s", noopEcho, "php", "tcp", callsPerSec, 0.85),
	ratioGoal("noop, persistent: CPU", noopEcho, "persistent", "unix", serverCPU, 1.15),
	ratioGoal("noop, persistent: calls/s", noopEcho, "persistent", "unix", callsPerSec, 0.9),
	ratioGoal("lc_get / memcached get: calls/s", lcGetMemcached, "persistent", "tcp", callsPerSec, 1.0),
	ratioGoal("lc_get / memcached get: CPU", lcGetMemcached, "persistent", "tcp", serverCPU, 1.0),
	ratioGoal("lc_get / memcached get: p99", lcGetMemcached, "persistent", "tcp", p99, 1.2),
	forwardGoal,
	ratioGoal("forwarded / local, many clients", forwarding, "persistent", "tcp", callsPerSec, 0.6),
}

// handlerGoal: faed's mean time in the my_query handler against MariaDB's
// own mean time for the SELECT, on loopback.
var handlerGoal = goal{name: "my_query handler vs MariaDB's own time", check: func(rows []result) (string, bool, bool) {
	for _, r := range rows {
		if !myQuery.a.matches(r) || r.Pattern != "php-fpm" || r.HandlerUs == nil || r.BackendUs == nil {
			continue
		}
		h, m := *r.HandlerUs, *r.BackendUs
		return fmt.Sprintf("handler %.1fus, MariaDB %.1fus, want <= %.1fus", h, m, m+handlerSlackUs), h <= m+handlerSlackUs, true
	}
	return "", false, false
}}

// forwardGoal: a forwarded call's p50 at one client against the relay
// floor's.
var forwardGoal = goal{name: "forwarded, 1 client: p50", check: func(rows []result) (string, bool, bool) {
	for _, p := range relayFloor.pairs(rows) {
		if p.a.Clients != 1 {
			continue
		}
		want := p.b.P50us + forwardSlackUs
		return fmt.Sprintf("p50 %.1fus, relay floor %.1fus, want <= %.1fus", p.a.P50us, p.b.P50us, want), p.a.P50us <= want, true
	}
	return "", false, false
}}

// idleGoal: memory per idle connection of faed's idle run.
func idleGoal(idles []idleResult) (string, bool, bool) {
	for _, r := range idles {
		if baseLabel(r.Label) == subject {
			return fmt.Sprintf("%.2f KiB at %d connections, want <= %d", r.KiBPerConn, r.Conns, idleGoalKiB), r.KiBPerConn <= idleGoalKiB, true
		}
	}
	return "", false, false
}

// printGoals prints every goal's verdict.
func printGoals(w io.Writer, rows []result, idles []idleResult) {
	fmt.Fprintf(w, "\n%-40s %-7s %s\n", "goals (SPEC §10)", "", "measured")
	line := func(name, measured string, met, found bool) {
		verdict := "met"
		switch {
		case !found:
			verdict, measured = "-", "no rows in this run"
		case !met:
			verdict = "MISSED"
		}
		fmt.Fprintf(w, "%-40s %-7s %s\n", name, verdict, strings.TrimSpace(measured))
	}
	for _, g := range goals {
		measured, met, found := g.check(rows)
		line(g.name, measured, met, found)
	}
	measured, met, found := idleGoal(idles)
	line("idle connections", measured, met, found)
}
