package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// subject is the label whose results the summary compares with the others.
const subject = "faed"

// printSummary reads the JSON lines of path (as -json writes them) and
// prints one table of load results, grouped by workload, with the ratios of
// the subject to every other server in the group, then the idle results.
func printSummary(w io.Writer, path string) error {
	loads, idles, err := readResults(path)
	if err != nil {
		return err
	}
	rows := printLoads(w, loads)
	if slices.ContainsFunc(rows, func(r result) bool { return r.ServerProcs > 1 }) {
		fmt.Fprintln(w, "* CPU of several server processes summed (bench.sh: faed + memcached for mc_get, faed + MariaDB for my_query, both nodes for faed-local and faed-fwd, relay + echo for relay)")
	}
	printRatios(w, rows)
	if len(idles) > 0 {
		fmt.Fprintf(w, "\n%-32s %-14s %8s %10s %8s\n", "idle connections", "server", "conns", "KiB/conn", "errors")
		for _, r := range idles {
			fmt.Fprintf(w, "%-32s %-14s %8d %10.2f %8d\n", network(r.Target), r.Label, r.Conns, r.KiBPerConn, r.Errors)
		}
	}
	printGoals(w, rows, idles)
	return nil
}

// readResults decodes the result lines of path; blank lines are skipped.
func readResults(path string) ([]result, []idleResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var loads []result
	var idles []idleResult
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var mode struct{ Mode string }
		err := json.Unmarshal(sc.Bytes(), &mode)
		if err == nil && mode.Mode == "idle" {
			var r idleResult
			err = json.Unmarshal(sc.Bytes(), &r)
			idles = append(idles, r)
		} else if err == nil {
			var r result
			err = json.Unmarshal(sc.Bytes(), &r)
			loads = append(loads, r)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
	}
	return loads, idles, sc.Err()
}

// workload names what a group of results has in common.
func workload(r result) string {
	s := fmt.Sprintf("%s %s %s c=%d", r.Call, r.Pattern, network(r.Target), r.Clients)
	// memcached's text protocol goes with its call, get; saying so is noise.
	// PHP's rows say their library by their server's label.
	if r.Protocol != "memcache" && r.Transport != "php" && (r.Transport != "buffered" || r.Protocol != "binary") {
		s += " " + r.Transport + "/" + r.Protocol
	}
	return s
}

func network(target string) string {
	n, _, _ := strings.Cut(target, ":")
	return n
}

// printLoads prints the load results grouped by workload, in the order the
// workloads first appear, each group followed by the subject's ratios, and
// returns the rows it printed (repeated runs combined).
func printLoads(w io.Writer, loads []result) []result {
	fmt.Fprintf(w, "%-32s %-18s %10s %9s %9s %12s %8s\n",
		"workload", "server", "calls/s", "p50 us", "p99 us", "srv us/call", "errors")
	var rows []result
	for _, g := range groupBy(loads, workload) {
		var rs []result
		for _, same := range groupBy(g.items, func(r result) string { return r.Label }) {
			rs = append(rs, combine(same.items))
		}
		printGroup(w, g.key, rs)
		rows = append(rows, rs...)
	}
	return rows
}

// group is the results that share a key.
type group struct {
	key   string
	items []result
}

// groupBy groups rs by key, in the order the keys first appear.
func groupBy(rs []result, key func(result) string) []group {
	var gs []group
	at := map[string]int{}
	for _, r := range rs {
		k := key(r)
		i, ok := at[k]
		if !ok {
			i = len(gs)
			at[k] = i
			gs = append(gs, group{key: k})
		}
		gs[i].items = append(gs[i].items, r)
	}
	return gs
}

// combine reduces repeated runs of one server and workload to one row: the
// median of each figure and the sum of the errors. Rounds of a run are
// interleaved with the other servers' so that noise from other work on the
// machine falls on all of them alike; the median drops the outliers.
func combine(rs []result) result {
	c := rs[0]
	c.CallsPerSec = median(rs, func(r result) float64 { return r.CallsPerSec })
	c.P50us = median(rs, func(r result) float64 { return r.P50us })
	c.P99us = median(rs, func(r result) float64 { return r.P99us })
	c.Errors = 0
	for _, r := range rs {
		c.Errors += r.Errors
		if r.ServerUs == nil {
			c.ServerUs = nil
		}
	}
	if c.ServerUs != nil {
		us := median(rs, func(r result) float64 { return *r.ServerUs })
		c.ServerUs = &us
	}
	if len(rs) > 1 {
		c.Label = fmt.Sprintf("%s (%d)", c.Label, len(rs))
	}
	return c
}

// median returns the median of f over rs (the mean of the middle two for
// an even count).
func median(rs []result, f func(result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func printGroup(w io.Writer, name string, rs []result) {
	var subj *result
	for i, r := range rs {
		fmt.Fprintf(w, "%-32s %-18s %10.0f %9.1f %9.1f %12s %8d\n",
			name, r.Label, r.CallsPerSec, r.P50us, r.P99us, fmtServer(r), r.Errors)
		name = ""
		if baseLabel(r.Label) == subject {
			subj = &rs[i]
		}
	}
	if subj == nil {
		return
	}
	for _, r := range rs {
		// faed-local and faed-fwd are the subject in a cluster, not a
		// reference to hold it against.
		if strings.HasPrefix(baseLabel(r.Label), subject) {
			continue
		}
		fmt.Fprintf(w, "%-32s %-18s %10s %9s %9s %12s\n", "", subject+"/"+baseLabel(r.Label),
			ratio(subj.CallsPerSec, r.CallsPerSec), ratio(subj.P50us, r.P50us),
			ratio(subj.P99us, r.P99us), serverRatio(subj.ServerUs, r.ServerUs))
	}
}

// baseLabel strips the run count combine adds.
func baseLabel(label string) string {
	name, _, _ := strings.Cut(label, " (")
	return name
}

// fmtServer formats a row's server CPU per call, marked with * when it sums
// several processes.
func fmtServer(r result) string {
	if r.ServerUs == nil {
		return "-"
	}
	if r.ServerProcs > 1 {
		return fmt.Sprintf("%.2f*", *r.ServerUs)
	}
	return fmt.Sprintf("%.2f", *r.ServerUs)
}

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

func serverRatio(a, b *float64) string {
	if a == nil || b == nil {
		return "-"
	}
	return ratio(*a, *b)
}
