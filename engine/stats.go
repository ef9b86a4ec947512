package engine

import (
	"context"
	"errors"
	"sort"
	"sync/atomic"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	metrics "github.com/rcrowley/go-metrics"
)

// callStats counts one call name. Updating it is a few atomic adds.
type callStats struct {
	calls  metrics.Counter
	errors metrics.Counter
	// deadlines counts the errors that were the call's deadline passing.
	deadlines metrics.Counter
	latency   histogram
	recent    recentWindow // the latencies of the last minute, fed by runRates
}

// Stats are the engine's counters. Counters are go-metrics counters (one
// atomic add each); latencies go to lock-free histograms; the 1/5/15-minute
// rates are go-metrics EWMAs fed every 5s by Run, off the hot path.
type Stats struct {
	start time.Time
	// perCall is built once by New and only read afterwards.
	perCall map[string]*callStats

	sessionsActive atomic.Int64
	sessionsTotal  metrics.Counter
	sessionWaits   metrics.Counter
	unknownCalls   metrics.Counter
	protocolErrors metrics.Counter
	panics         metrics.Counter
	slowCalls      metrics.Counter
	repliesLost    metrics.Counter
	missing        missingFields
	reasons        reasonCounts

	rates     [3]metrics.EWMA // 1, 5 and 15 minutes
	lastCalls atomic.Int64
	// callStatsOff is [engine] call_stats switched off: perCall and
	// reasons stand still.
	callStatsOff atomic.Bool
}

func newStats(names []string) *Stats {
	s := &Stats{
		start:          time.Now(),
		perCall:        make(map[string]*callStats, len(names)),
		sessionsTotal:  metrics.NewCounter(),
		sessionWaits:   metrics.NewCounter(),
		unknownCalls:   metrics.NewCounter(),
		protocolErrors: metrics.NewCounter(),
		panics:         metrics.NewCounter(),
		slowCalls:      metrics.NewCounter(),
		repliesLost:    metrics.NewCounter(),
		rates:          [3]metrics.EWMA{metrics.NewEWMA1(), metrics.NewEWMA5(), metrics.NewEWMA15()},
	}
	for _, n := range names {
		s.perCall[n] = &callStats{calls: metrics.NewCounter(), errors: metrics.NewCounter(), deadlines: metrics.NewCounter()}
	}
	return s
}

// record counts one finished call. A declared exception (a cache miss, say)
// is a normal answer, not an error. An error wrapping
// context.DeadlineExceeded is the call's deadline passing: the servants
// mark theirs so, and the engine knows no servant.
func (c *callStats) record(elapsed time.Duration, err error) {
	c.calls.Inc(1)
	if err != nil && !isDeclared(err) {
		c.errors.Inc(1)
		if errors.Is(err, context.DeadlineExceeded) {
			c.deadlines.Inc(1)
		}
	}
	c.latency.record(elapsed)
}

func isDeclared(err error) bool {
	var te thrift.TException
	return errors.As(err, &te) && te.TExceptionType() == thrift.TExceptionTypeCompiled
}

// tickInterval is the period go-metrics EWMAs expect between Ticks.
const tickInterval = 5 * time.Second

// runRates feeds the call rates until ctx is done.
func (s *Stats) runRates(ctx context.Context) {
	t := time.NewTicker(tickInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			total := s.totalCalls()
			delta := total - s.lastCalls.Swap(total)
			for _, r := range s.rates {
				r.Update(delta)
				r.Tick()
			}
			for _, c := range s.perCall {
				c.recent.tick(&c.latency)
			}
		}
	}
}

func (s *Stats) totalCalls() int64 {
	var n int64
	for _, c := range s.perCall {
		n += c.calls.Count()
	}
	return n
}

// CallSnapshot is the JSON view of one call name.
type CallSnapshot struct {
	Name   string `json:"name"`
	Count  int64  `json:"count"`
	Errors int64  `json:"errors"`
	// Deadlines counts the errors that were the call's deadline passing.
	Deadlines int64   `json:"deadlines"`
	P50us     float64 `json:"p50_us"`
	P99us     float64 `json:"p99_us"`
	MeanUs    float64 `json:"mean_us"`
	TotalUs   float64 `json:"total_us"` // latencies summed
	// The same over the last minute (since the start in the first one):
	// lifetime percentiles hide what happens now.
	Count1m   int64   `json:"count_1m"`
	P50us1m   float64 `json:"p50_1m_us"`
	P99us1m   float64 `json:"p99_1m_us"`
	TotalUs1m float64 `json:"total_1m_us"`
}

// Snapshot is the JSON view of the engine's stats.
type Snapshot struct {
	UptimeSec      float64 `json:"uptime_sec"`
	SessionsActive int64   `json:"sessions_active"`
	SessionsTotal  int64   `json:"sessions_total"`
	SessionWaits   int64   `json:"session_waits"`
	Calls          int64   `json:"calls"`
	Errors         int64   `json:"errors"`
	UnknownCalls   int64   `json:"unknown_calls"`
	ProtocolErrors int64   `json:"protocol_errors"`
	Panics         int64   `json:"panics"`
	SlowCalls      int64   `json:"slow_calls"`
	// Deadlines counts calls answered past their deadline, all calls.
	Deadlines int64 `json:"deadlines"`
	// RepliesLost counts computed replies that could not be written (the
	// client stopped reading past write_timeout, or hung up); each is logged.
	RepliesLost int64 `json:"replies_lost"`
	// MissingFields counts required fields a caller left out, served as
	// their zero value, by call and field.
	MissingFields []MissingFieldSnapshot `json:"missing_fields"`
	QPS1m         float64                `json:"qps_1m"`
	QPS5m         float64                `json:"qps_5m"`
	QPS15m        float64                `json:"qps_15m"`
	PerCall       []CallSnapshot         `json:"per_call"`
	// CallStats is false while [engine] call_stats is off: calls, errors,
	// per_call and per_reason then stand still (the session and error
	// counters go on).
	CallStats bool `json:"call_stats"`
	// PerReason counts calls by their Context's reason, each run of digits
	// folded to '?' ("user.show.123" and "user.show.7" count as
	// "user.show.?"),
	// busiest first; at most maxReasons, the rest under "(other)".
	PerReason []ReasonCount `json:"per_reason"`
}

// Snapshot reads every counter once. Calls never made are left out.
func (s *Stats) Snapshot() Snapshot {
	snap := Snapshot{
		UptimeSec:      time.Since(s.start).Seconds(),
		SessionsActive: s.sessionsActive.Load(),
		SessionsTotal:  s.sessionsTotal.Count(),
		SessionWaits:   s.sessionWaits.Count(),
		UnknownCalls:   s.unknownCalls.Count(),
		ProtocolErrors: s.protocolErrors.Count(),
		Panics:         s.panics.Count(),
		SlowCalls:      s.slowCalls.Count(),
		RepliesLost:    s.repliesLost.Count(),
		MissingFields:  s.missing.snapshot(),
		PerReason:      s.reasons.snapshot(),
		PerCall:        []CallSnapshot{},
		CallStats:      !s.callStatsOff.Load(),
		QPS1m:          s.rates[0].Rate(),
		QPS5m:          s.rates[1].Rate(),
		QPS15m:         s.rates[2].Rate(),
	}
	for name, c := range s.perCall {
		cs := c.snapshot(name)
		if cs.Count == 0 {
			continue
		}
		snap.Calls += cs.Count
		snap.Errors += cs.Errors
		snap.Deadlines += cs.Deadlines
		snap.PerCall = append(snap.PerCall, cs)
	}
	sort.Slice(snap.PerCall, func(i, j int) bool { return snap.PerCall[i].Name < snap.PerCall[j].Name })
	return snap
}

func (c *callStats) snapshot(name string) CallSnapshot {
	cs := CallSnapshot{Name: name, Count: c.calls.Count(), Errors: c.errors.Count(), Deadlines: c.deadlines.Count()}
	all := c.latency.counts()
	q := all.quantiles(0.50, 0.99)
	cs.P50us, cs.P99us, cs.TotalUs = micros(q[0]), micros(q[1]), micros(time.Duration(all.sumNs))
	if n := all.total(); n > 0 {
		cs.MeanUs = micros(time.Duration(all.sumNs / n))
	}
	recent := c.recent.last(&c.latency)
	q = recent.quantiles(0.50, 0.99)
	cs.Count1m, cs.P50us1m, cs.P99us1m, cs.TotalUs1m = int64(recent.total()), micros(q[0]), micros(q[1]), micros(time.Duration(recent.sumNs))
	return cs
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
