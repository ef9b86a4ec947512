package engine

import (
	"bufio"
	"context"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestMetricsParse reads /metrics with Prometheus's own text parser: the
// exposition must parse, every family must have HELP, no name may carry a
// pool's or server's name, and the call latencies are summaries with a sum
// and a count, over the lifetime and the last minute.
func TestMetricsParse(t *testing.T) {
	s := startServer(t, nil)
	base := startAdmin(t, s, AdminConfig{}, func() {})
	c := dial(t, "tcp", s.tcp, KindBinary)
	for range 5 {
		c.LcGet(context.Background(), rc, "k")
	}
	_, _, body := get(t, "GET", base+"/metrics")
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	for name, f := range families {
		if f.GetHelp() == "" {
			t.Errorf("%s has no HELP", name)
		}
		for _, bad := range []string{"127_0_0_1", "11211", "default", "shard"} {
			if strings.Contains(name, bad) {
				t.Errorf("metric name %s embeds %q: it belongs in a label", name, bad)
			}
		}
	}
	servers := families["faed_servant_memcache_servers_calls"]
	if servers == nil || len(servers.Metric) != 1 || labelOf(servers.Metric[0], "server") != "127.0.0.1:11211" || labelOf(servers.Metric[0], "pool") != "default" {
		t.Errorf("faed_servant_memcache_servers_calls = %v, want one series labelled pool=default, server=127.0.0.1:11211", servers)
	}
	for _, name := range []string{"faed_call_latency_seconds", "faed_call_latency_1m_seconds"} {
		f := families[name]
		if f == nil || f.GetType() != dto.MetricType_SUMMARY {
			t.Fatalf("%s: %v, want a summary", name, f)
		}
		var lc *dto.Summary
		for _, m := range f.Metric {
			if labelOf(m, "call") == "lc_get" {
				lc = m.GetSummary()
			}
		}
		if lc == nil || lc.GetSampleCount() != 5 || lc.GetSampleSum() <= 0 || len(lc.GetQuantile()) != 2 {
			t.Errorf("%s{call=lc_get} = %v, want 5 calls, a positive sum and two quantiles", name, lc)
		}
	}
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestRecentWindow: the last minute's latencies forget calls older than a
// minute of ticks, the lifetime ones keep them.
func TestRecentWindow(t *testing.T) {
	var h histogram
	var w recentWindow
	for range 100 {
		h.record(time.Second)
	}
	for range windowTicks {
		w.tick(&h)
	}
	for range 10 {
		h.record(time.Millisecond)
	}
	recent := w.last(&h)
	if n := recent.total(); n != 10 {
		t.Fatalf("last minute holds %d calls, want 10", n)
	}
	if p99 := recent.quantiles(0.99)[0]; p99 > 2*time.Millisecond {
		t.Errorf("last minute p99 %v, want about 1ms", p99)
	}
	if p50 := h.quantiles(0.5)[0]; p50 < 500*time.Millisecond {
		t.Errorf("lifetime p50 %v, want about 1s", p50)
	}
}

// TestSectionLabels: label values are escaped as the text format wants, a
// label name used twice on one path gets a suffix, and both parse.
func TestSectionLabels(t *testing.T) {
	type inner struct {
		Calls int `json:"calls"`
	}
	type mid struct {
		Pools map[string]inner `json:"pools"`
	}
	type outer struct {
		Pools map[string]mid `json:"pools"`
	}
	var b strings.Builder
	w := bufio.NewWriter(&b)
	writeSectionMetrics(w, "x", outer{Pools: map[string]mid{`a"b\c` + "\n" + "é": {Pools: map[string]inner{"p2": {Calls: 3}}}}})
	w.Flush()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(b.String()))
	if err != nil {
		t.Fatalf("does not parse: %v\n%s", err, b.String())
	}
	f := families["faed_x_pools_pools_calls"]
	if f == nil || len(f.Metric) != 1 {
		t.Fatalf("faed_x_pools_pools_calls = %v\n%s", f, b.String())
	}
	m := f.Metric[0]
	if got := labelOf(m, "pool"); got != `a"b\c`+"\n"+"é" {
		t.Errorf("pool label %q, want the name as it was", got)
	}
	if got := labelOf(m, "pool_inner"); got != "p2" {
		t.Errorf("pool_inner label %q, want p2\n%s", got, b.String())
	}
}
