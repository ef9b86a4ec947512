package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// result is what one load run measured. Its JSON form is one object per
// line on stdout with -json, and what -summary reads back.
type result struct {
	Mode        string   `json:"mode"` // "load"
	Label       string   `json:"label,omitempty"`
	Target      string   `json:"target"`
	Call        string   `json:"call"`
	Key         string   `json:"key,omitempty"` // of the keyed calls
	Pattern     string   `json:"pattern"`
	Transport   string   `json:"transport"`
	Protocol    string   `json:"protocol"`
	Clients     int      `json:"clients"`
	Seconds     float64  `json:"seconds"`
	Calls       uint64   `json:"calls"`
	CallsPerSec float64  `json:"calls_per_sec"`
	P50us       float64  `json:"p50_us"`
	P99us       float64  `json:"p99_us"`
	Errors      int64    `json:"errors"`
	FirstError  string   `json:"first_error,omitempty"`
	ServerUs    *float64 `json:"server_us_per_call,omitempty"` // server CPU per call
	ServerProcs int      `json:"server_procs,omitempty"`       // processes ServerUs sums
	// The means of the window's calls by faed's clock of its handler and
	// by MariaDB's of its statements (-php with -admin, -mariadb).
	HandlerUs *float64 `json:"handler_us,omitempty"`
	BackendUs *float64 `json:"backend_us,omitempty"`
}

// newResult merges the clients' histograms and counters.
func newResult(cfg loadConfig, clients []*client, w window) result {
	var h histogram
	r := result{
		Mode: "load", Label: cfg.label, Target: cfg.target.String(), Call: cfg.call,
		Pattern: cfg.pattern, Transport: cfg.wire.transport, Protocol: cfg.wire.protocol,
		Clients: cfg.clients,
	}
	if keyed(cfg.call) {
		r.Key = cfg.key
	}
	for _, c := range clients {
		h.merge(&c.hist)
		r.Errors += c.errors
		if c.firstErr != nil && r.FirstError == "" {
			r.FirstError = c.firstErr.Error()
		}
	}
	r.measured(&h, w, len(cfg.pids))
	return r
}

// measured sets what h, the latencies of the calls in window w, and the
// CPU time of w's procs servers tell.
func (r *result) measured(h *histogram, w window, procs int) {
	r.Seconds = w.elapsed.Seconds()
	r.Calls = h.n
	r.CallsPerSec = float64(h.n) / w.elapsed.Seconds()
	r.P50us = micros(h.quantile(0.50))
	r.P99us = micros(h.quantile(0.99))
	if w.haveServer && h.n > 0 {
		us := micros(w.serverCPU) / float64(h.n)
		r.ServerUs = &us
		r.ServerProcs = procs
	}
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// String is the one-line human report.
func (r result) String() string {
	var b strings.Builder
	if r.Label != "" {
		fmt.Fprintf(&b, "%s ", r.Label)
	}
	fmt.Fprintf(&b, "target=%s call=%s pattern=%s clients=%d calls/s=%.0f p50=%.1fus p99=%.1fus errors=%d",
		r.Target, r.Call, r.Pattern, r.Clients, r.CallsPerSec, r.P50us, r.P99us, r.Errors)
	if r.Key != "" {
		fmt.Fprintf(&b, " key=%q", r.Key)
	}
	if r.ServerUs != nil {
		fmt.Fprintf(&b, " server_us/call=%.2f", *r.ServerUs)
	}
	if r.ServerProcs > 1 {
		fmt.Fprintf(&b, " (%d processes)", r.ServerProcs)
	}
	if r.HandlerUs != nil {
		fmt.Fprintf(&b, " handler_us=%.1f", *r.HandlerUs)
	}
	if r.BackendUs != nil {
		fmt.Fprintf(&b, " mariadb_us=%.1f", *r.BackendUs)
	}
	if r.FirstError != "" {
		fmt.Fprintf(&b, " first_error=%q", r.FirstError)
	}
	return b.String()
}

// idleResult is what one idle-connection run measured.
type idleResult struct {
	Mode       string  `json:"mode"` // "idle"
	Label      string  `json:"label,omitempty"`
	Target     string  `json:"target"`
	Conns      int     `json:"conns"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	RSSBefore  int64   `json:"rss_before_kib"`
	RSSAfter   int64   `json:"rss_after_kib"`
	KiBPerConn float64 `json:"kib_per_conn"`
}

func (r idleResult) String() string {
	s := fmt.Sprintf("target=%s idle_conns=%d errors=%d rss_before=%dKiB rss_after=%dKiB kib/conn=%.2f",
		r.Target, r.Conns, r.Errors, r.RSSBefore, r.RSSAfter, r.KiBPerConn)
	if r.Label != "" {
		s = r.Label + " " + s
	}
	if r.FirstError != "" {
		s += fmt.Sprintf(" first_error=%q", r.FirstError)
	}
	return s
}

// emit writes r to out: as JSON if asJSON (the human line then goes to
// progress, so a script can show progress and keep the JSON), else as text.
func emit(out, progress io.Writer, r fmt.Stringer, asJSON bool) error {
	if !asJSON {
		_, err := fmt.Fprintln(out, r)
		return err
	}
	fmt.Fprintln(progress, r)
	return json.NewEncoder(out).Encode(r)
}
