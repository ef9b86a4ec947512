package engine

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
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
	fmt.Fprintf(w, "# HELP faed_call_latency_seconds Call latency, by method.\n# TYPE faed_call_latency_seconds summary\n")
	for _, c := range s.PerCall {
		fmt.Fprintf(w, "faed_call_latency_seconds{call=%q,quantile=\"0.5\"} %g\n", c.Name, c.P50us/1e6)
		fmt.Fprintf(w, "faed_call_latency_seconds{call=%q,quantile=\"0.99\"} %g\n", c.Name, c.P99us/1e6)
		fmt.Fprintf(w, "faed_call_latency_seconds_count{call=%q} %d\n", c.Name, c.Count)
	}
}

func writeRuntimeMetrics(w *bufio.Writer, r RuntimeStats) {
	gauge(w, "faed_goroutines", "Goroutines.", float64(r.Goroutines))
	gauge(w, "faed_heap_alloc_bytes", "Bytes of allocated heap objects.", float64(r.HeapAlloc))
	gauge(w, "faed_sys_bytes", "Bytes obtained from the OS.", float64(r.Sys))
	counter(w, "faed_gc_total", "Completed GC cycles.", float64(r.NumGC))
}

// writeSectionMetrics flattens a stats value through its JSON form: every
// number becomes a gauge named after its path.
func writeSectionMetrics(w *bufio.Writer, section string, v any) {
	raw, err := json.Marshal(v)
	if err != nil {
		return
	}
	var tree any
	if json.Unmarshal(raw, &tree) != nil {
		return
	}
	flat := map[string]float64{}
	flatten("faed_"+section, tree, flat)
	keys := make([]string, 0, len(flat))
	for k := range flat {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "# TYPE %s gauge\n%s %g\n", k, k, flat[k])
	}
}

// flatten walks a decoded JSON value: numbers and booleans become gauges,
// objects extend the name with their keys, list items with their own
// name (a "name", "server" or "addr" field) or else their index. Breaker
// states, the one string operators alert on, become 0 closed, 1 half-open,
// 2 open; other strings are left out.
func flatten(prefix string, v any, out map[string]float64) {
	switch x := v.(type) {
	case float64:
		out[prefix] = x
	case bool:
		out[prefix] = map[bool]float64{false: 0, true: 1}[x]
	case string:
		if n, ok := breakerStates[x]; ok {
			out[prefix] = n
		}
	case map[string]any:
		for k, child := range x {
			flatten(prefix+"_"+metricName(k), child, out)
		}
	case []any:
		for i, child := range x {
			flatten(prefix+"_"+metricName(itemName(child, i)), child, out)
		}
	}
}

var breakerStates = map[string]float64{"closed": 0, "half-open": 1, "open": 2}

// itemName names a list item after its identifying field, if it has one.
func itemName(item any, i int) string {
	if m, ok := item.(map[string]any); ok {
		for _, k := range []string{"name", "Name", "server", "Server", "addr", "Addr"} {
			if s, ok := m[k].(string); ok && s != "" {
				return s
			}
		}
	}
	return fmt.Sprint(i)
}

// metricName keeps [a-zA-Z0-9_] and folds everything else to '_'.
func metricName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s)
}

func gauge(w *bufio.Writer, name, help string, v float64) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %g\n", name, help, name, name, v)
}

func counter(w *bufio.Writer, name, help string, v float64) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %g\n", name, help, name, name, v)
}
