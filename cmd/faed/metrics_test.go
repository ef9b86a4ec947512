package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/faed/faed/scripts/testserver"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// checkMetrics reads /metrics of a faed serving every backend with
// Prometheus's own text parser: it parses, every family has HELP, no metric
// name embeds a server's address or a pool's name (they are labels), and
// the memcache and mysql series carry them as labels.
func checkMetrics(t *testing.T, d *testserver.Faed, b *backends) {
	t.Helper()
	body := adminGet(t, d, "/metrics")
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	for name, f := range families {
		if f.GetHelp() == "" {
			t.Errorf("/metrics: %s has no HELP", name)
		}
		if strings.Contains(name, "127_0_0_1") || strings.Contains(name, "_main_") {
			t.Errorf("/metrics: the name %s embeds an address or a pool name", name)
		}
	}
	wantLabelled := func(name string, labels ...string) {
		f := families[name]
		if f == nil || len(f.Metric) == 0 {
			t.Errorf("/metrics has no %s", name)
			return
		}
		for _, m := range f.Metric {
			for _, l := range labels {
				if metricLabel(m, l) == "" {
					t.Errorf("/metrics: a %s series has no %s label: %v", name, l, m)
				}
			}
		}
	}
	wantLabelled("faed_servant_memcache_servers_calls", "pool", "server")
	wantLabelled("faed_servant_mysql_pools_queries", "pool")
	wantLabelled("faed_call_latency_1m_seconds", "call")
	if f := families["faed_call_latency_seconds"]; f == nil || f.GetType() != dto.MetricType_SUMMARY {
		t.Errorf("/metrics: faed_call_latency_seconds is %v, want a summary", f)
	}
}

func metricLabel(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
