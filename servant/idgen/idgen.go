// Package idgen issues 63-bit snowflake ids (ms since Epoch | tag | worker id
// | sequence) from this node's clock. It knows nothing of peers: keeping
// worker ids unique across the cluster is the caller's job.
package idgen

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Epoch is the origin of the id timestamp in Unix ms
// (2014-01-04 11:29:34.657 UTC), kept so ids compare with the original's.
const Epoch int64 = 1388834974657

// Bit layout of an id, from the top: 41 bits of ms since Epoch, 5 bits of
// tag, 5 bits of worker id, 12 bits of sequence.
const (
	tagShift    = 17
	workerShift = 12
	timeShift   = 22

	// MaxTag is the largest tag Next accepts.
	MaxTag = 1<<5 - 1
	// MaxWorkerID is the largest worker id a Config may name.
	MaxWorkerID = 1<<5 - 1

	maxSeq  = 1<<12 - 1
	maxTime = 1<<41 - 1
)

// pollInterval is how long a waiting Next sleeps between clock readings.
const pollInterval = 100 * time.Microsecond

var (
	// ErrBadTag is returned by Next for a tag outside 0–MaxTag.
	ErrBadTag = errors.New("idgen: tag out of range")
	// ErrClockBackwards is returned when the clock stepped back further
	// than Config.MaxClockBackwards.
	ErrClockBackwards = errors.New("idgen: clock moved backwards")
	// ErrClockRange is returned when the clock reads before Epoch or past
	// the 41-bit timestamp (year 2083).
	ErrClockRange = errors.New("idgen: clock outside the id time range")
)

// Generator issues ids. It is safe for concurrent use. Ids are unique, and
// for any one tag strictly increasing; across tags they are ordered by
// millisecond only, because the tag sits above the sequence.
type Generator struct {
	worker  int64
	maxBack int64               // ms
	now     func() int64        // Unix ms; wall clock outside tests
	sleep   func(time.Duration) // time.Sleep outside tests

	// mu guards lastMs and seq: the last millisecond issued and the
	// sequence used within it.
	mu     sync.Mutex
	lastMs int64
	seq    int64
}

// Parts are the fields of a decoded id.
type Parts struct {
	UnixMs   int64 // ms since the Unix epoch (Epoch already added)
	Tag      int64
	WorkerID int64
	Seq      int64
}

// New returns a Generator for cfg, which must be valid.
func New(cfg Config) (*Generator, error) {
	return newWithClock(cfg, wallMs, time.Sleep)
}

// newWithClock lets tests drive the clock and the waits.
func newWithClock(cfg Config, now func() int64, sleep func(time.Duration)) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("idgen: %w", err)
	}
	return &Generator{
		worker:  int64(cfg.WorkerID),
		maxBack: cfg.MaxClockBackwards.Milliseconds(),
		now:     now,
		sleep:   sleep,
	}, nil
}

func wallMs() int64 { return time.Now().UnixMilli() }

// Next returns a new id carrying tag (0–MaxTag). It blocks while the 4096
// ids of the current millisecond are used up, and while the clock catches
// up after a backwards step of at most MaxClockBackwards.
func (g *Generator) Next(tag int16) (int64, error) {
	if tag < 0 || tag > MaxTag {
		return 0, fmt.Errorf("%w: %d, want 0-%d", ErrBadTag, tag, MaxTag)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	ms, err := g.tickLocked()
	if err != nil {
		return 0, err
	}
	return (ms-Epoch)<<timeShift | int64(tag)<<tagShift | g.worker<<workerShift | g.seq, nil
}

// tickLocked advances lastMs and seq to the next free slot and returns lastMs.
func (g *Generator) tickLocked() (int64, error) {
	now := g.now()
	if now < Epoch || now-Epoch > maxTime {
		return 0, fmt.Errorf("%w: %d ms", ErrClockRange, now)
	}
	if now < g.lastMs {
		var err error
		if now, err = g.waitLocked(g.lastMs); err != nil {
			return 0, err
		}
	}
	if now > g.lastMs {
		g.lastMs, g.seq = now, 0
		return now, nil
	}
	return g.nextSeqLocked()
}

// nextSeqLocked takes the next sequence in lastMs, or waits for the next
// millisecond once all 4096 are used.
func (g *Generator) nextSeqLocked() (int64, error) {
	if g.seq < maxSeq {
		g.seq++
		return g.lastMs, nil
	}
	now, err := g.waitLocked(g.lastMs + 1)
	if err != nil {
		return 0, err
	}
	g.lastMs, g.seq = now, 0
	return now, nil
}

// waitLocked polls the clock until it reads at least target. It fails when
// the clock is (or falls, while waiting) more than maxBack behind lastMs:
// waiting that out would stall every caller.
func (g *Generator) waitLocked(target int64) (int64, error) {
	for {
		now := g.now()
		if now >= target {
			return now, nil
		}
		if back := g.lastMs - now; back > g.maxBack {
			return 0, fmt.Errorf("%w: %d ms, limit %d ms", ErrClockBackwards, back, g.maxBack)
		}
		g.sleep(pollInterval)
	}
}

// Decode splits an id issued by Next into its fields.
func Decode(id int64) Parts {
	return Parts{
		UnixMs:   id>>timeShift + Epoch,
		Tag:      id >> tagShift & MaxTag,
		WorkerID: id >> workerShift & MaxWorkerID,
		Seq:      id & maxSeq,
	}
}

// Time returns p.UnixMs as a time.Time.
func (p Parts) Time() time.Time { return time.UnixMilli(p.UnixMs) }
