package engine

import (
	"context"
	"sort"
	"sync"
)

// callContext is the context a session passes to every call it reads. It
// hears of fields the IDL marks required but a message left out: the
// generated readers serve them as zero values, as the original faed did,
// and the engine counts them per call and field so operators can find such
// callers. One per session, so a call allocates nothing for it.
type callContext struct {
	context.Context
	s *session
}

// MissingRequiredField implements the generated code's MissingFieldCounter.
func (c *callContext) MissingRequiredField(strct, field string) {
	c.s.e.stats.missing.add(c.s.call, strct+"."+field)
}

// missingFields counts required fields served as zero values, by call and
// field. Rare, so a mutex and a map.
type missingFields struct {
	// mu guards counts.
	mu     sync.Mutex
	counts map[missingKey]int64
}

type missingKey struct{ call, field string }

func (m *missingFields) add(call, field string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.counts == nil {
		m.counts = make(map[missingKey]int64)
	}
	m.counts[missingKey{call, field}]++
}

// MissingFieldSnapshot is the JSON view of one (call, field) count.
type MissingFieldSnapshot struct {
	Call  string `json:"call"`
	Field string `json:"field"`
	Count int64  `json:"count"`
}

func (m *missingFields) snapshot() []MissingFieldSnapshot {
	m.mu.Lock()
	out := make([]MissingFieldSnapshot, 0, len(m.counts))
	for k, n := range m.counts {
		out = append(out, MissingFieldSnapshot{Call: k.call, Field: k.field, Count: n})
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Call != out[j].Call {
			return out[i].Call < out[j].Call
		}
		return out[i].Field < out[j].Field
	})
	return out
}
