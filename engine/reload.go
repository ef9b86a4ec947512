package engine

import (
	"fmt"
	"slices"

	"github.com/apache/thrift/lib/go/thrift"
)

// settings are the engine's keys a reload changes, swapped whole: a
// session reads them once per call, so a call runs on one version of them.
type settings struct {
	cfg   Config // with defaults
	tconf *thrift.TConfiguration
	// sampler picks the calls that get a trace line (trace_sample).
	sampler *sampler
}

func newSettings(cfg Config) *settings {
	return &settings{
		cfg:     cfg,
		tconf:   &thrift.TConfiguration{MaxMessageSize: int32(cfg.MaxMessageSize), MaxFrameSize: int32(cfg.MaxMessageSize), TBinaryStrictRead: thrift.BoolPtr(false)},
		sampler: newSampler(cfg.TraceSample),
	}
}

// RestartKeys names the keys of next that differ from c and that a running
// engine cannot take: its listeners, their socket mode and the connection
// buffers' size. A reload keeps c's values for them.
func (c Config) RestartKeys(next Config) []string {
	var keys []string
	if !slices.Equal(c.Listen, next.Listen) {
		keys = append(keys, "listen")
	}
	if c.UnixSocketMode != next.UnixSocketMode {
		keys = append(keys, "unix_socket_mode")
	}
	if c.BufferSize != next.BufferSize {
		keys = append(keys, "buffer_size")
	}
	return keys
}

// Reload applies cfg to the running engine: limits, timeouts, slow_call,
// trace_sample and call_stats. A call in flight finishes on the values it started with; a
// session's next call and every new session take the new ones (a session's
// write_timeout and max_message_size are its transport's: new sessions).
// A lower max_outstanding_sessions closes no session: new ones wait until
// the count is below it. cfg's RestartKeys must match the running
// configuration (the caller keeps the running values); Reload refuses it
// otherwise, and an invalid cfg, changing nothing.
func (e *Engine) Reload(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	if keys := e.cfg.RestartKeys(cfg); len(keys) > 0 {
		return fmt.Errorf("engine: %v: only a restart changes them", keys)
	}
	e.live.Store(newSettings(cfg))
	e.stats.callStatsOff.Store(!cfg.CallStats)
	e.slots.setLimit(cfg.MaxOutstandingSessions)
	return nil
}
