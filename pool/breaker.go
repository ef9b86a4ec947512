package pool

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ErrCircuitOpen is wrapped by the error a Breaker returns when it refuses a call.
var ErrCircuitOpen = errors.New("pool: circuit open")

// State is the state of a Breaker.
type State int32

const (
	// StateClosed lets every call through and counts consecutive failures.
	StateClosed State = iota
	// StateOpen refuses every call until RetryInterval has passed since it opened.
	StateOpen
	// StateHalfOpen lets at most HalfOpenTrials calls through at once; the first
	// outcome reported closes the breaker (success) or opens it again (failure).
	StateHalfOpen
)

var stateNames = [...]string{StateClosed: "closed", StateOpen: "open", StateHalfOpen: "half-open"}

func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return fmt.Sprintf("State(%d)", int32(s))
	}
	return stateNames[s]
}

// MarshalText makes a State read as its name in JSON stats.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a State back from its name, so tools can decode the
// stats JSON into the types that produced it.
func (s *State) UnmarshalText(b []byte) error {
	for i, name := range stateNames {
		if string(b) == name {
			*s = State(i)
			return nil
		}
	}
	return fmt.Errorf("pool: unknown breaker state %q", b)
}

// BreakerConfig configures a Breaker. Start from DefaultBreakerConfig: a
// zero field means "off" (or is refused), never the default.
type BreakerConfig struct {
	// FailureThreshold is how many consecutive failures open the breaker.
	// Default 5; 0 turns the breaker off (it never opens).
	FailureThreshold int `toml:"failure_threshold"`
	// RetryInterval is how long the breaker stays open before it lets trial calls
	// through. Default 10s; 0 is refused (an open breaker would not hold back a
	// single call: turn it off with failure_threshold = 0 instead).
	RetryInterval time.Duration `toml:"retry_interval"`
	// HalfOpenTrials is how many trial calls may be in flight at once while the
	// breaker is half-open. Default 1; 0 is refused (no trial could close it).
	HalfOpenTrials int `toml:"half_open_trials"`
}

// DefaultBreakerConfig returns the defaults: 5 failures, 10s, 1 trial.
func DefaultBreakerConfig() BreakerConfig {
	return BreakerConfig{FailureThreshold: 5, RetryInterval: 10 * time.Second, HalfOpenTrials: 1}
}

// Validate reports every negative field and every zero one that cannot mean
// "off", naming its key.
func (c BreakerConfig) Validate() error {
	if c.FailureThreshold == 0 { // off: the other two are unused
		return errors.Join(nonNegative("retry_interval", c.RetryInterval),
			nonNegative("half_open_trials", c.HalfOpenTrials))
	}
	return errors.Join(
		nonNegative("failure_threshold", c.FailureThreshold),
		positive("retry_interval", c.RetryInterval, "an open breaker would hold back no call; "+
			"failure_threshold = 0 turns the breaker off"),
		positive("half_open_trials", c.HalfOpenTrials, "no trial call could close an open breaker"),
	)
}

// BreakerSnapshot is a Breaker's state at one instant, for stats pages.
type BreakerSnapshot struct {
	Server              string    `json:"server"`
	State               State     `json:"state"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	Opens               uint64    `json:"opens"`      // times the breaker has opened since it was made
	ChangedAt           time.Time `json:"changed_at"` // last state change; zero if it never changed
	Reason              string    `json:"reason"`     // why it last changed, e.g. "5 consecutive failures, last: …"
}

// Breaker is a circuit breaker for one backend server. It is safe for concurrent
// use. While closed, Allow, Success and Cancel take no lock and allocate nothing.
//
// Every nil Allow must be followed by exactly one of Success, Failure or Cancel
// once the call is over. A half-open trial that reports nothing within
// RetryInterval is presumed lost and its slot reused, so a forgotten report
// cannot wedge the breaker half-open forever.
type Breaker struct {
	name      string
	cfg       BreakerConfig
	errOpen   error // refusal while open; built once so refusing allocates nothing
	errTrials error // refusal while half-open with every trial slot taken
	now       func() time.Time

	// mu guards trials, opens, changedAt and reason, and serialises every write
	// to state and failures. Those two are atomics so that the closed-state fast
	// paths can read them without mu.
	mu        sync.Mutex
	state     atomic.Int32
	failures  atomic.Int32
	trials    int
	opens     uint64
	changedAt time.Time
	reason    string
}

// NewBreaker returns a closed breaker for the server called name (an address
// such as "127.0.0.1:11211"; it appears in every refusal).
func NewBreaker(name string, cfg BreakerConfig) (*Breaker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("breaker for %s: %w", name, err)
	}
	return &Breaker{
		name:      name,
		cfg:       cfg,
		errOpen:   fmt.Errorf("%w for %s", ErrCircuitOpen, name),
		errTrials: fmt.Errorf("%w for %s (half-open, %d trial calls in flight)", ErrCircuitOpen, name, cfg.HalfOpenTrials),
		now:       time.Now,
	}, nil
}

// Name returns the server name the breaker was made with.
func (b *Breaker) Name() string { return b.name }

// State returns the current state. An open breaker whose retry interval has
// passed still reads open until the next Allow moves it to half-open.
func (b *Breaker) State() State { return State(b.state.Load()) }

// Allow reports whether a call may go to the server now. It returns nil, or an
// error wrapping ErrCircuitOpen that names the server. It never blocks.
func (b *Breaker) Allow() error {
	if b.State() == StateClosed {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.allowLocked()
}

func (b *Breaker) allowLocked() error {
	now := b.now()
	switch b.State() {
	case StateClosed:
		return nil
	case StateOpen:
		if now.Sub(b.changedAt) < b.cfg.RetryInterval {
			return b.errOpen
		}
		b.setLocked(StateHalfOpen, "retry interval elapsed")
	}
	if b.trials >= b.cfg.HalfOpenTrials && now.Sub(b.changedAt) >= b.cfg.RetryInterval {
		b.setLocked(StateHalfOpen, "trial calls reported nothing within the retry interval")
	}
	if b.trials >= b.cfg.HalfOpenTrials {
		return b.errTrials
	}
	b.trials++
	return nil
}

// Success reports that an allowed call reached the server and got an answer
// (an answer that is a user-level error, like a cache miss, counts too). It
// resets the consecutive failures, and closes a half-open breaker.
func (b *Breaker) Success() {
	if b.State() == StateClosed && b.failures.Load() == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.State() {
	case StateClosed:
		b.failures.Store(0)
	case StateHalfOpen:
		b.failures.Store(0)
		b.setLocked(StateClosed, "trial call succeeded")
	}
	// Open: a late report from a call allowed before the breaker opened. Only
	// the retry interval ends an open period, so it is ignored.
}

// Failure reports that an allowed call failed because of the server or the
// connection to it. FailureThreshold consecutive failures open a closed
// breaker; any failure reopens a half-open one. err is kept as the reason.
func (b *Breaker) Failure(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.State() {
	case StateClosed:
		n := b.failures.Add(1)
		if b.cfg.FailureThreshold > 0 && int(n) >= b.cfg.FailureThreshold {
			b.setLocked(StateOpen, fmt.Sprintf("%d consecutive failures, last: %v", n, err))
		}
	case StateHalfOpen:
		b.failures.Add(1)
		b.setLocked(StateOpen, fmt.Sprintf("trial call failed: %v", err))
	}
}

// Cancel reports that an allowed call never reached the server (the caller gave
// up, or no connection was free). It frees a half-open trial slot and changes
// nothing else.
func (b *Breaker) Cancel() {
	if b.State() == StateClosed {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.State() == StateHalfOpen && b.trials > 0 {
		b.trials--
	}
}

// Snapshot returns the breaker's current state and history.
func (b *Breaker) Snapshot() BreakerSnapshot {
	b.mu.Lock()
	defer b.mu.Unlock()
	return BreakerSnapshot{
		Server:              b.name,
		State:               b.State(),
		ConsecutiveFailures: int(b.failures.Load()),
		Opens:               b.opens,
		ChangedAt:           b.changedAt,
		Reason:              b.reason,
	}
}

// setLocked moves to state s, resetting the trial slots.
func (b *Breaker) setLocked(s State, reason string) {
	if s == StateOpen {
		b.opens++
	}
	b.state.Store(int32(s))
	b.trials = 0
	b.changedAt = b.now()
	b.reason = reason
}

func nonNegative[T int | time.Duration](key string, v T) error {
	if v >= 0 {
		return nil
	}
	return fmt.Errorf("pool: %s = %v: must not be negative", key, v)
}

// positive refuses a zero or negative v; why says what 0 would do.
func positive[T int | time.Duration](key string, v T, why string) error {
	if v > 0 {
		return nil
	}
	return fmt.Errorf("pool: %s = %v: must be positive: %s", key, v, why)
}
