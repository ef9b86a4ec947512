package main

import (
	"cmp"
	"fmt"
	"io"
	"net/http"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/faed/faed/engine"
)

func cmdStats(e *env, args []string) error {
	fs := e.flagSet("stats")
	raw := fs.Bool("json", false, "print the raw JSON of GET /stats")
	top := fs.Int("top", 10, "show the `n` most frequent calls")
	if err := e.parseFlags(fs, args, false); err != nil {
		return err
	}
	a := e.adminClient()
	if *raw {
		body, err := a.do(http.MethodGet, "/stats")
		if err == nil {
			_, err = e.out.Write(body)
		}
		return err
	}
	st, err := a.stats()
	if err != nil {
		return err
	}
	printStats(e.out, a.addr, st, *top)
	return nil
}

// printStats writes a summary of the engine's stats, a line on the cluster
// if there is one, and the top calls by count.
func printStats(w io.Writer, addr string, st *nodeStats, top int) {
	s := st.Engine
	fmt.Fprintf(w, "node      %s\n", addr)
	fmt.Fprintf(w, "uptime    %v\n", time.Duration(s.UptimeSec*float64(time.Second)).Round(time.Second))
	fmt.Fprintf(w, "sessions  %d active, %d total, %d waited for a slot\n", s.SessionsActive, s.SessionsTotal, s.SessionWaits)
	fmt.Fprintf(w, "calls     %d, errors %d (unknown calls %d, protocol errors %d, panics %d), slow %d\n",
		s.Calls, s.Errors, s.UnknownCalls, s.ProtocolErrors, s.Panics, s.SlowCalls)
	fmt.Fprintf(w, "qps       1m %.2f  5m %.2f  15m %.2f\n", s.QPS1m, s.QPS5m, s.QPS15m)
	if cs := st.Cluster; cs != nil {
		fmt.Fprintf(w, "cluster   %d members, members version %d, stale %s\n", len(cs.Members), cs.MembersVersion, staleText(cs))
	}
	printTopCalls(w, s.PerCall, top)
}

// printTopCalls writes the n calls made most often, with their latency.
func printTopCalls(w io.Writer, calls []engine.CallSnapshot, n int) {
	calls = topCalls(calls, n)
	if len(calls) == 0 {
		fmt.Fprintln(w, "\nno calls yet")
		return
	}
	fmt.Fprintln(w, "\ntop calls by count:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  CALL\tCOUNT\tERRORS\tP50\tP99")
	for _, c := range calls {
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%v\t%v\n", c.Name, c.Count, c.Errors, micros(c.P50us), micros(c.P99us))
	}
	tw.Flush()
}

// topCalls returns the n calls with the highest counts, ties by name. It
// does not modify calls.
func topCalls(calls []engine.CallSnapshot, n int) []engine.CallSnapshot {
	calls = slices.Clone(calls)
	slices.SortFunc(calls, func(a, b engine.CallSnapshot) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Name, b.Name))
	})
	return calls[:min(max(n, 0), len(calls))]
}

// micros turns microseconds into a Duration rounded to the microsecond.
func micros(us float64) time.Duration {
	return time.Duration(us * float64(time.Microsecond)).Round(time.Microsecond)
}
