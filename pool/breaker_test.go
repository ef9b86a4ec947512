package pool

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faed/faed/scripts/testserver"
)

// newTestBreaker returns a breaker on a fake clock.
func newTestBreaker(t testing.TB, cfg BreakerConfig) (*Breaker, *testserver.Clock) {
	t.Helper()
	b, err := NewBreaker("127.0.0.1:11211", withTestDefaults(cfg))
	if err != nil {
		t.Fatal(err)
	}
	clk := testserver.NewClock()
	b.now = clk.Now
	return b, clk
}

// openBreaker reports enough failures to open b.
func openBreaker(t *testing.T, b *Breaker) {
	t.Helper()
	for range b.cfg.FailureThreshold {
		if err := b.Allow(); err != nil {
			t.Fatalf("Allow while closed: %v", err)
		}
		b.Failure(errors.New("connection refused"))
	}
	if b.State() != StateOpen {
		t.Fatalf("state = %v after %d failures, want open", b.State(), b.cfg.FailureThreshold)
	}
}

func TestBreakerConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     BreakerConfig
		wantKey string // "" means valid
	}{
		{name: "defaults", cfg: DefaultBreakerConfig()},
		{name: "zero is off", cfg: BreakerConfig{}},
		{name: "zero retry", cfg: BreakerConfig{FailureThreshold: 1, HalfOpenTrials: 1}, wantKey: "retry_interval"},
		{name: "zero trials", cfg: BreakerConfig{FailureThreshold: 1, RetryInterval: 1}, wantKey: "half_open_trials"},
		{name: "negative threshold", cfg: BreakerConfig{FailureThreshold: -1}, wantKey: "failure_threshold"},
		{name: "negative retry", cfg: BreakerConfig{RetryInterval: -time.Second}, wantKey: "retry_interval"},
		{name: "negative trials", cfg: BreakerConfig{HalfOpenTrials: -2}, wantKey: "half_open_trials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantKey == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantKey) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tt.wantKey)
			}
			if _, nerr := NewBreaker("x", tt.cfg); nerr == nil {
				t.Fatal("NewBreaker accepted an invalid config")
			}
		})
	}
}

func TestBreakerDefaults(t *testing.T) {
	b, _ := newTestBreaker(t, BreakerConfig{})
	if got, want := b.cfg, DefaultBreakerConfig(); got != want {
		t.Fatalf("config = %+v, want %+v", got, want)
	}
}

// breakerStep is one action on a breaker and what must hold after it.
type breakerStep struct {
	op        string // allow, success, fail, cancel, wait
	d         time.Duration
	wantAllow bool // for allow
	want      State
}

func TestBreakerTransitions(t *testing.T) {
	allow := func(ok bool, s State) breakerStep { return breakerStep{op: "allow", wantAllow: ok, want: s} }
	do := func(op string, s State) breakerStep { return breakerStep{op: op, want: s} }
	wait := func(d time.Duration, s State) breakerStep { return breakerStep{op: "wait", d: d, want: s} }
	const C, O, H = StateClosed, StateOpen, StateHalfOpen
	tests := []struct {
		name  string
		steps []breakerStep
	}{
		{"opens after threshold consecutive failures", []breakerStep{
			do("fail", C), do("fail", C), do("fail", O), allow(false, O)}},
		{"success while closed resets the count", []breakerStep{
			do("fail", C), do("fail", C), do("success", C), do("fail", C), do("fail", C), do("fail", O)}},
		{"stays open until the retry interval", []breakerStep{
			do("fail", C), do("fail", C), do("fail", O),
			wait(9*time.Second, O), allow(false, O), wait(time.Second, O), allow(true, H)}},
		{"trial success closes", []breakerStep{
			do("fail", C), do("fail", C), do("fail", O), wait(10*time.Second, O),
			allow(true, H), do("success", C), allow(true, C)}},
		{"trial failure reopens", []breakerStep{
			do("fail", C), do("fail", C), do("fail", O), wait(10*time.Second, O),
			allow(true, H), do("fail", O), allow(false, O), wait(10*time.Second, O), allow(true, H)}},
		{"one trial at a time", []breakerStep{
			do("fail", C), do("fail", C), do("fail", O), wait(10*time.Second, O),
			allow(true, H), allow(false, H), do("cancel", H), allow(true, H)}},
		{"lost trial reclaimed after the retry interval", []breakerStep{
			do("fail", C), do("fail", C), do("fail", O), wait(10*time.Second, O),
			allow(true, H), wait(9*time.Second, H), allow(false, H), wait(time.Second, H), allow(true, H)}},
		{"late reports while open are ignored", []breakerStep{
			do("fail", C), do("fail", C), do("fail", O), do("success", O), do("fail", O),
			wait(10*time.Second, O), allow(true, H)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, clk := newTestBreaker(t, BreakerConfig{FailureThreshold: 3})
			for i, s := range tt.steps {
				runStep(t, b, clk, i, s)
			}
		})
	}
}

func runStep(t *testing.T, b *Breaker, clk *testserver.Clock, i int, s breakerStep) {
	t.Helper()
	switch s.op {
	case "allow":
		if err := b.Allow(); (err == nil) != s.wantAllow {
			t.Fatalf("step %d: Allow() = %v, want allowed=%v", i, err, s.wantAllow)
		}
	case "success":
		b.Success()
	case "fail":
		b.Failure(errors.New("connection refused"))
	case "cancel":
		b.Cancel()
	case "wait":
		clk.Advance(s.d)
	}
	if got := b.State(); got != s.want {
		t.Fatalf("step %d (%s): state = %v, want %v", i, s.op, got, s.want)
	}
}

func TestBreakerRefusalNamesServer(t *testing.T) {
	b, _ := newTestBreaker(t, BreakerConfig{FailureThreshold: 1})
	openBreaker(t, b)
	err := b.Allow()
	if !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("Allow() = %v, want ErrCircuitOpen", err)
	}
	if got, want := err.Error(), "pool: circuit open for 127.0.0.1:11211"; got != want {
		t.Fatalf("error = %q, want %q", got, want)
	}
}

func TestBreakerSnapshot(t *testing.T) {
	b, clk := newTestBreaker(t, BreakerConfig{FailureThreshold: 2})
	b.Failure(errors.New("first"))
	clk.Advance(time.Minute)
	b.Failure(errors.New("dial tcp 127.0.0.1:11211: connect: connection refused"))
	s := b.Snapshot()
	want := BreakerSnapshot{
		Server:              "127.0.0.1:11211",
		State:               StateOpen,
		ConsecutiveFailures: 2,
		Opens:               1,
		ChangedAt:           clk.Now(),
		Reason:              "2 consecutive failures, last: dial tcp 127.0.0.1:11211: connect: connection refused",
	}
	if s != want {
		t.Fatalf("Snapshot() =\n%+v\nwant\n%+v", s, want)
	}
}

// TestBreakerHalfOpenTrials races many callers at a half-open breaker: exactly
// HalfOpenTrials must get through.
func TestBreakerHalfOpenTrials(t *testing.T) {
	for _, tt := range []struct {
		name   string
		trials int
	}{{"one trial", 1}, {"two trials", 2}, {"five trials", 5}} {
		t.Run(tt.name, func(t *testing.T) {
			b, clk := newTestBreaker(t, BreakerConfig{FailureThreshold: 1, HalfOpenTrials: tt.trials})
			openBreaker(t, b)
			clk.Advance(b.cfg.RetryInterval)
			if got := raceAllow(b, 50); got != tt.trials {
				t.Fatalf("%d callers allowed, want %d", got, tt.trials)
			}
			b.Success()
			if b.State() != StateClosed {
				t.Fatalf("state = %v after a trial success, want closed", b.State())
			}
		})
	}
}

// raceAllow calls b.Allow from n goroutines at once and counts the allowed.
func raceAllow(b *Breaker, n int) int {
	var allowed atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			if b.Allow() == nil {
				allowed.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	return int(allowed.Load())
}

func TestBreakerConcurrentUse(t *testing.T) {
	b, err := NewBreaker("x", withTestDefaults(BreakerConfig{FailureThreshold: 3, RetryInterval: time.Microsecond}))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				if b.Allow() != nil {
					continue
				}
				if (i+g)%4 != 0 {
					b.Failure(errors.New("boom"))
				} else {
					b.Success()
				}
				_ = b.Snapshot()
			}
		})
	}
	wg.Wait()
	s := b.Snapshot()
	b.mu.Lock()
	trials := b.trials
	b.mu.Unlock()
	if s.State > StateHalfOpen || s.ConsecutiveFailures < 0 || trials > b.cfg.HalfOpenTrials {
		t.Fatalf("after concurrent use: snapshot %+v, %d trials in flight", s, trials)
	}
}

func TestBreakerClosedPathAllocatesNothing(t *testing.T) {
	b, _ := newTestBreaker(t, BreakerConfig{})
	allocs := testing.AllocsPerRun(1000, func() {
		if b.Allow() == nil {
			b.Success()
		}
	})
	if allocs != 0 {
		t.Fatalf("Allow+Success allocates %v times per call, want 0", allocs)
	}
}

func TestStateString(t *testing.T) {
	for _, tt := range []struct {
		name  string
		state State
		want  string
	}{
		{"closed", StateClosed, "closed"},
		{"open", StateOpen, "open"},
		{"half-open", StateHalfOpen, "half-open"},
		{"unknown", State(7), "State(7)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.state.String(); got != tt.want {
				t.Fatalf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func BenchmarkBreakerAllowSuccess(b *testing.B) {
	br, _ := newTestBreaker(b, BreakerConfig{})
	b.ReportAllocs()
	for b.Loop() {
		if br.Allow() == nil {
			br.Success()
		}
	}
}

func BenchmarkBreakerAllowSuccessParallel(b *testing.B) {
	br, _ := newTestBreaker(b, BreakerConfig{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if br.Allow() == nil {
				br.Success()
			}
		}
	})
}

func TestStateTextRoundTrip(t *testing.T) {
	for _, st := range []State{StateClosed, StateOpen, StateHalfOpen} {
		text, _ := st.MarshalText()
		var back State
		if err := back.UnmarshalText(text); err != nil || back != st {
			t.Fatalf("%v -> %q -> %v, %v", st, text, back, err)
		}
	}
	var s State
	if err := s.UnmarshalText([]byte("ajar")); err == nil {
		t.Fatal("an unknown state name decoded without error")
	}
}

func TestBreakerZeroThresholdIsOff(t *testing.T) {
	b, err := NewBreaker("x", BreakerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		b.Failure(errors.New("connection refused"))
	}
	if err := b.Allow(); err != nil || b.State() != StateClosed {
		t.Fatalf("failure_threshold = 0: after 100 failures Allow() = %v, state %v; want the breaker off", err, b.State())
	}
}
