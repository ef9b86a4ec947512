package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/faed/faed/engine"
)

// cmdTop is a live one-screen view of a node: every -interval it reads
// /stats and shows what happened since the last read — calls/s and
// errors/s overall and per call — beside the node's sessions and cluster.
func cmdTop(e *env, args []string) error {
	fs := e.flagSet("top")
	interval := fs.Duration("interval", time.Second, "time between two screens")
	rounds := fs.Int("n", 0, "screens to show, then exit; 0 until interrupted")
	top := fs.Int("top", 15, "show the `n` busiest calls")
	if err := e.parseFlags(fs, args, false); err != nil {
		return err
	}
	if *interval <= 0 {
		fmt.Fprintln(e.errOut, "top: -interval must be positive")
		return errUsage
	}
	a := e.adminClient()
	prev, err := a.stats()
	if err != nil {
		return err
	}
	clear := isTerminal(e.out)
	for i := 0; *rounds == 0 || i < *rounds; i++ {
		start := time.Now()
		time.Sleep(*interval)
		cur, err := a.stats()
		if err != nil {
			return err
		}
		if clear {
			fmt.Fprint(e.out, "\x1b[H\x1b[2J")
		}
		printTop(e.out, a.addr, prev, cur, time.Since(start), *top)
		prev = cur
	}
	return nil
}

// callRate is one call's share of an interval.
type callRate struct {
	engine.CallSnapshot
	calls, errors int64 // in the interval
}

// printTop writes one screen: the node, then what changed from prev to cur
// over elapsed.
func printTop(w io.Writer, addr string, prev, cur *nodeStats, elapsed time.Duration, n int) {
	s, p := cur.Engine, prev.Engine
	perSec := func(d int64) float64 { return float64(max(d, 0)) / elapsed.Seconds() }
	fmt.Fprintf(w, "faectl top  %s  up %v  every %v\n", addr,
		time.Duration(s.UptimeSec*float64(time.Second)).Round(time.Second), elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "calls/s %.1f  errors/s %.1f  sessions %d active (%d waited for a slot)  slow %d  panics %d\n",
		perSec(s.Calls-p.Calls), perSec(s.Errors-p.Errors), s.SessionsActive, s.SessionWaits, s.SlowCalls, s.Panics)
	if cs := cur.Cluster; cs != nil {
		fmt.Fprintf(w, "cluster %d members, members version %d, stale %s\n", len(cs.Members), cs.MembersVersion, staleText(cs))
	}
	rates := callRates(p.PerCall, s.PerCall)
	if len(rates) == 0 {
		fmt.Fprintln(w, "\nno calls in this interval")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nCALL\tCALLS/S\tERRORS/S\tP50\tP99\tTOTAL")
	for _, r := range rates[:min(max(n, 0), len(rates))] {
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%v\t%v\t%d\n", r.Name, perSec(r.calls), perSec(r.errors), micros(r.P50us), micros(r.P99us), r.Count)
	}
	tw.Flush()
}

// callRates returns the calls made between two snapshots, busiest first.
func callRates(prev, cur []engine.CallSnapshot) []callRate {
	before := make(map[string]engine.CallSnapshot, len(prev))
	for _, c := range prev {
		before[c.Name] = c
	}
	var out []callRate
	for _, c := range cur {
		if d := c.Count - before[c.Name].Count; d > 0 {
			out = append(out, callRate{CallSnapshot: c, calls: d, errors: c.Errors - before[c.Name].Errors})
		}
	}
	slices.SortFunc(out, func(a, b callRate) int { return cmp.Or(cmp.Compare(b.calls, a.calls), cmp.Compare(a.Name, b.Name)) })
	return out
}

// isTerminal reports whether w is a terminal, where top redraws in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
