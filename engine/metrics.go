package engine

import (
	"bufio"
	"fmt"
	"net/http"
	"sort"
)

// metrics writes the Prometheus text format: the engine's counters and
// per-call latency summaries, the Go runtime, and every number found in
// the stats sections (faed_<section>_<path>).
func (a *Admin) metrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	writeEngineMetrics(bw, a.engine.stats.Snapshot())
	writeRuntimeMetrics(bw, readRuntime())
	names := make([]string, 0, len(a.opts.Sections))
	for name := range a.opts.Sections {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		writeSectionMetrics(bw, name, a.opts.Sections[name]())
	}
}

func writeEngineMetrics(w *bufio.Writer, s Snapshot) {
	gauge(w, "faed_sessions_active", "Open client connections.", float64(s.SessionsActive))
	counter(w, "faed_sessions_total", "Client connections accepted.", float64(s.SessionsTotal))
	counter(w, "faed_session_waits_total", "Accepts that waited for max_outstanding_sessions.", float64(s.SessionWaits))
	counter(w, "faed_unknown_calls_total", "Calls of methods faed does not serve.", float64(s.UnknownCalls))
	counter(w, "faed_protocol_errors_total", "Calls with unreadable arguments.", float64(s.ProtocolErrors))
	counter(w, "faed_panics_total", "Recovered panics.", float64(s.Panics))
	counter(w, "faed_slow_calls_total", "Calls slower than slow_call.", float64(s.SlowCalls))
	counter(w, "faed_replies_lost_total", "Computed replies that could not be written to their client.", float64(s.RepliesLost))
	fmt.Fprintf(w, "# HELP faed_missing_fields_total Required fields left out by callers and served as zero, by call and field.\n# TYPE faed_missing_fields_total counter\n")
	for _, m := range s.MissingFields {
		fmt.Fprintf(w, "faed_missing_fields_total{call=%q,field=%q} %d\n", m.Call, m.Field, m.Count)
	}
	gauge(w, "faed_qps_1m", "Calls per second, 1-minute moving average.", s.QPS1m)

	fmt.Fprintf(w, "# HELP faed_calls_total Calls served, by method.\n# TYPE faed_calls_total counter\n")
	for _, c := range s.PerCall {
		fmt.Fprintf(w, "faed_calls_total{call=%q} %d\n", c.Name, c.Count)
	}
	fmt.Fprintf(w, "# HELP faed_call_errors_total Calls answered with an error, by method.\n# TYPE faed_call_errors_total counter\n")
	for _, c := range s.PerCall {
		fmt.Fprintf(w, "faed_call_errors_total{call=%q} %d\n", c.Name, c.Errors)
	}
	fmt.Fprintf(w, "# HELP faed_call_deadlines_total Calls answered past their deadline, by method.\n# TYPE faed_call_deadlines_total counter\n")
	for _, c := range s.PerCall {
		fmt.Fprintf(w, "faed_call_deadlines_total{call=%q} %d\n", c.Name, c.Deadlines)
	}
	fmt.Fprintf(w, "# HELP faed_call_latency_seconds Call latency since the start, by method.\n# TYPE faed_call_latency_seconds summary\n")
	for _, c := range s.PerCall {
		writeSummary(w, "faed_call_latency_seconds", c.Name, c.P50us, c.P99us, c.TotalUs, c.Count)
	}
	fmt.Fprintf(w, "# HELP faed_call_latency_1m_seconds Call latency over the last minute, by method.\n# TYPE faed_call_latency_1m_seconds summary\n")
	for _, c := range s.PerCall {
		writeSummary(w, "faed_call_latency_1m_seconds", c.Name, c.P50us1m, c.P99us1m, c.TotalUs1m, c.Count1m)
	}
}

// writeSummary writes one call's samples of a latency summary.
func writeSummary(w *bufio.Writer, name, call string, p50us, p99us, totalUs float64, count int64) {
	fmt.Fprintf(w, "%s{call=%q,quantile=\"0.5\"} %g\n", name, call, p50us/1e6)
	fmt.Fprintf(w, "%s{call=%q,quantile=\"0.99\"} %g\n", name, call, p99us/1e6)
	fmt.Fprintf(w, "%s_sum{call=%q} %g\n", name, call, totalUs/1e6)
	fmt.Fprintf(w, "%s_count{call=%q} %d\n", name, call, count)
}

func writeRuntimeMetrics(w *bufio.Writer, r RuntimeStats) {
	gauge(w, "faed_goroutines", "Goroutines.", float64(r.Goroutines))
	gauge(w, "faed_heap_alloc_bytes", "Bytes of allocated heap objects.", float64(r.HeapAlloc))
	gauge(w, "faed_sys_bytes", "Bytes obtained from the OS.", float64(r.Sys))
	counter(w, "faed_gc_total", "Completed GC cycles.", float64(r.NumGC))
}

func gauge(w *bufio.Writer, name, help string, v float64) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %g\n", name, help, name, name, v)
}

func counter(w *bufio.Writer, name, help string, v float64) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %g\n", name, help, name, name, v)
}
