package engine

// Load tests of the session limit (SPEC §2, max_outstanding_sessions): a
// burst far past the limit is served whole, and stalled connections do not
// delay fresh clients. Short in `make test`; `make soak` sets FAED_SOAK=1
// for the long version. Client and server share one process (and the 2-core
// machine), so the clients are plain connections writing a pre-encoded noop.
//
// Transport: TCP. A connection past the limit waits in the kernel's listen
// backlog (Go sizes it from /proc/sys/net/core/somaxconn); past the backlog
// the server kernel drops the SYN and the client kernel retries it (1s, 3s,
// 7s, … up to tcp_syn_retries), so over TCP a dial with a long enough
// timeout really waits. Over a unix socket a full backlog fails a
// non-blocking connect at once with EAGAIN: the kernel refuses it, nothing
// waits, so a burst past limit+backlog cannot be served there and is not
// tested as if it could.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/scripts/testserver"

	"github.com/apache/thrift/lib/go/thrift"
)

// loadScale sizes one run of the load tests.
type loadScale struct {
	name string
	// burst: rounds times, conns clients at once against limit sessions,
	// each making calls noops with pause between them, a round done within
	// roundWithin. Rounds, not longer sessions, make the soak long: a
	// client waits in the backlog for about as long as its round runs, and
	// the kernel stops retrying a SYN after about two minutes
	// (tcp_syn_retries = 6), which would be a refusal, not a wait.
	rounds, conns, limit, calls int
	pause, roundWithin          time.Duration
	// stall: stalled connections held open while one fresh client makes
	// fresh noops, each on a new connection.
	stalled, fresh int
}

var (
	shortScale = loadScale{name: "short", rounds: 1, conns: 10000, limit: 1000, calls: 2, pause: 5 * time.Millisecond,
		roundWithin: 45 * time.Second, stalled: 3000, fresh: 300}
	soakScale = loadScale{name: "soak", rounds: 6, conns: 10000, limit: 1000, calls: 20, pause: time.Millisecond,
		roundWithin: 100 * time.Second, stalled: 3000, fresh: 5000}
)

func scaleForRun() loadScale {
	if os.Getenv("FAED_SOAK") == "1" {
		return soakScale
	}
	return shortScale
}

func TestLoadBurstPastSessionLimitIsServedWhole(t *testing.T) {
	sc := scaleForRun()
	// Client sockets, the server's sessions and one accept in hand.
	raiseFileLimit(t, sc.conns+sc.limit+256)
	clearPeakRSS()
	s := startServer(t, func(c *Config) { c.MaxOutstandingSessions = sc.limit })
	call, reply := noopExchange(t)
	active := watchPeak(&s.e.stats.sessionsActive)
	var served peak // clients between their first reply and hanging up
	var res burstResults
	var longest time.Duration
	start := time.Now()
	for range sc.rounds {
		longest = max(longest, runBurst(s.tcp, sc, call, reply, &served, &res))
	}
	elapsed := time.Since(start)
	serverPeak := active.stop()
	snap := s.e.Stats().Snapshot()
	t.Logf("%s: %d x %d connections x %d noops, max_outstanding_sessions %d: served in %v (longest round %v); peak active sessions %d (clients in service at once %d); session_waits %d; dials that waited past 1s for the backlog %d, longest dial %v; dial errors %d, call errors %d; peak RSS %s",
		sc.name, sc.rounds, sc.conns, sc.calls, sc.limit, elapsed.Round(time.Millisecond), longest.Round(time.Millisecond),
		serverPeak, served.max.Load(), snap.SessionWaits, served.slowDials.Load(), served.longestDial(),
		res.dialErrs.Load(), res.callErrs.Load(), peakRSS())
	if err := res.err(); err != nil {
		t.Fatal(err)
	}
	if n, want := callCount(s.e, "noop"), int64(sc.rounds*sc.conns*sc.calls); n != want {
		t.Fatalf("server counted %d noops, want %d", n, want)
	}
	if n, want := snap.SessionsTotal, int64(sc.rounds*sc.conns); n != want {
		t.Fatalf("server opened %d sessions, want %d", n, want)
	}
	if serverPeak > int64(sc.limit) || served.max.Load() != int64(sc.limit) {
		t.Fatalf("limit %d: %d sessions active at most, %d clients in service at once, want the limit exactly", sc.limit, serverPeak, served.max.Load())
	}
	if snap.SessionWaits < 1 {
		t.Fatalf("session_waits = 0 for %d connections against a limit of %d: no back-pressure", sc.conns, sc.limit)
	}
	testserver.Eventually(t, "every session to end", waitLimit, func() bool { return s.e.stats.sessionsActive.Load() == 0 })
}

// runBurst starts sc.conns clients at once and returns when all are done.
func runBurst(addr string, sc loadScale, call, reply []byte, served *peak, res *burstResults) time.Duration {
	start := time.Now()
	deadline := start.Add(sc.roundWithin)
	full := newGate(sc.limit, served)
	var wg sync.WaitGroup
	for range sc.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res.add(loadClient(addr, sc, deadline, call, reply, full))
		}()
	}
	wg.Wait()
	return time.Since(start)
}

// gate opens once limit clients are in service at once. Clients served
// before it opens hold their session until it does, so every slot is taken
// and back-pressure happens whatever the machine's speed: on a loaded
// machine clients arrive slowly enough that short sessions alone may never
// fill the limit.
type gate struct {
	limit  int64
	served *peak
	open   chan struct{}
	once   sync.Once
}

func newGate(limit int, served *peak) *gate {
	return &gate{limit: int64(limit), served: served, open: make(chan struct{})}
}

// enter counts a client in service and waits, until deadline, for the gate
// to open.
func (g *gate) enter(deadline time.Time) error {
	if g.served.enter() >= g.limit {
		g.once.Do(func() { close(g.open) })
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-g.open:
		return nil
	case <-t.C:
		return fmt.Errorf("the limit of %d sessions never filled: %d clients in service at most", g.limit, g.served.max.Load())
	}
}

// Stalled connections hold their session slot until the idle or read timeout
// ends them: under a limit at or below their number they starve fresh
// clients by design, and the limit is the operator's guard against that.
// This test runs under the default limit (10000), where 3000 stalled
// connections leave slots free, and proves that what they hold — parked
// goroutines, buffers, a waiting read — delays neither the accept loop nor
// another session. The timeouts are set far past the run so every stalled
// connection is still held when the last fresh noop is measured.
func TestLoadStalledConnectionsDoNotDelayFreshClients(t *testing.T) {
	sc := scaleForRun()
	const limit = 10000 // the default; see above
	raiseFileLimit(t, 2*sc.stalled+256)
	clearPeakRSS()
	s := startServer(t, func(c *Config) {
		c.MaxOutstandingSessions = limit
		c.IdleTimeout = 10 * time.Minute
		c.ReadTimeout = 10 * time.Minute
	})
	call, reply := noopExchange(t)
	stalled := openStalled(t, s.tcp, sc.stalled, call[:len(call)/2])
	defer closeAll(stalled)
	testserver.Eventually(t, "every stalled connection to hold a session", waitLimit, func() bool {
		return s.e.stats.sessionsActive.Load() == int64(sc.stalled)
	})

	lat := make([]time.Duration, 0, sc.fresh)
	deadline := time.Now().Add(time.Minute)
	for i := range sc.fresh {
		start := time.Now()
		if err := freshNoop(s.tcp, deadline, call, reply); err != nil {
			t.Fatalf("fresh noop %d of %d: %v", i+1, sc.fresh, err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	t.Logf("%s: %d fresh noops (dial, call, reply, close) beside %d stalled connections, limit %d: p50 %v, p99 %v, max %v; peak RSS %s",
		sc.name, sc.fresh, sc.stalled, limit, p50, p99, lat[len(lat)-1], peakRSS())
	if p99 > 50*time.Millisecond {
		t.Fatalf("fresh noop p99 %v beside %d stalled connections, want at most 50ms", p99, sc.stalled)
	}
	if n := s.e.stats.sessionsActive.Load(); n < int64(sc.stalled) {
		t.Fatalf("only %d sessions still active after the run: stalled connections were dropped, not held", n)
	}
}

// noopExchange returns a noop call and the exact bytes of its reply.
func noopExchange(t *testing.T) (call, reply []byte) {
	const x = 7
	call = encodeCall(t, "noop", func(p thrift.TProtocol) {
		(&rpc.FunServantNoopArgs{X: x}).Write(context.Background(), p)
	})
	buf := thrift.NewTMemoryBuffer()
	p := thrift.NewTBinaryProtocolConf(buf, nil)
	ctx := context.Background()
	p.WriteMessageBegin(ctx, "noop", thrift.REPLY, 1)
	(&rpc.FunServantNoopResult{Success: thrift.Int32Ptr(x)}).Write(ctx, p)
	p.WriteMessageEnd(ctx)
	p.Flush(ctx)
	return call, buf.Bytes()
}

// errDial marks a client that never got a connection.
var errDial = errors.New("dial")

// loadClient makes sc.calls noops on one connection, pausing between them,
// and hangs up. It is counted in service from its first reply until it hangs
// up, an interval inside the server's session, so the count can never pass
// the limit; it holds the session until the gate opens.
func loadClient(addr string, sc loadScale, deadline time.Time, call, reply []byte, full *gate) error {
	start := time.Now()
	conn, err := (&net.Dialer{Deadline: deadline}).Dial("tcp", addr)
	if err != nil {
		return fmt.Errorf("%w: %v", errDial, err)
	}
	defer conn.Close()
	full.served.dialed(time.Since(start))
	conn.SetDeadline(deadline)
	got := make([]byte, len(reply))
	for i := range sc.calls {
		if i > 0 {
			time.Sleep(sc.pause)
		}
		if err := exchange(conn, call, reply, got); err != nil {
			return fmt.Errorf("call %d of %d: %w", i+1, sc.calls, err)
		}
		if i == 0 {
			defer full.served.leave() // runs before the deferred Close
			if err := full.enter(deadline); err != nil {
				return err
			}
		}
	}
	return nil
}

// freshNoop makes one noop on a new connection.
func freshNoop(addr string, deadline time.Time, call, reply []byte) error {
	conn, err := (&net.Dialer{Deadline: deadline}).Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(deadline)
	return exchange(conn, call, reply, make([]byte, len(reply)))
}

func exchange(conn net.Conn, call, reply, got []byte) error {
	if _, err := conn.Write(call); err != nil {
		return err
	}
	if _, err := io.ReadFull(conn, got); err != nil {
		return err
	}
	if !bytes.Equal(got, reply) {
		return fmt.Errorf("reply %x, want %x", got, reply)
	}
	return nil
}

// openStalled opens n connections that stall: even ones stay silent, odd
// ones send half and stop.
func openStalled(t *testing.T, addr string, n int, half []byte) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	for i := range n {
		conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			closeAll(conns)
			t.Fatalf("stalled connection %d of %d: %v", i+1, n, err)
		}
		conns = append(conns, conn)
		if i%2 == 1 {
			if _, err := conn.Write(half); err != nil {
				closeAll(conns)
				t.Fatalf("stalled connection %d of %d: %v", i+1, n, err)
			}
		}
	}
	return conns
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// burstResults collects the outcome of every client of a burst.
type burstResults struct {
	dialErrs, callErrs atomic.Int64
	mu                 sync.Mutex
	first              []error // the first few failures, for the report
}

func (r *burstResults) add(err error) {
	if err == nil {
		return
	}
	if errors.Is(err, errDial) {
		r.dialErrs.Add(1)
	} else {
		r.callErrs.Add(1)
	}
	r.mu.Lock()
	if len(r.first) < 5 {
		r.first = append(r.first, err)
	}
	r.mu.Unlock()
}

func (r *burstResults) err() error {
	if r.dialErrs.Load() == 0 && r.callErrs.Load() == 0 {
		return nil
	}
	// A dial that timed out after about two minutes is the kernel giving
	// up its SYN retries while the backlog stayed full.
	return fmt.Errorf("%d dial errors and %d call errors (a client refused, reset or left without a reply); first: %w",
		r.dialErrs.Load(), r.callErrs.Load(), errors.Join(r.first...))
}

// peak counts how many clients are inside at once and the most there ever
// were, and how long their dials took: one past a second had its SYN dropped
// by a full backlog and retried by the kernel.
type peak struct {
	now, max          atomic.Int64
	slowDials         atomic.Int64
	longestDialMicros atomic.Int64
}

func (p *peak) dialed(d time.Duration) {
	if d > 900*time.Millisecond {
		p.slowDials.Add(1)
	}
	us := d.Microseconds()
	for m := p.longestDialMicros.Load(); us > m && !p.longestDialMicros.CompareAndSwap(m, us); m = p.longestDialMicros.Load() {
	}
}

func (p *peak) longestDial() time.Duration {
	return time.Duration(p.longestDialMicros.Load()) * time.Microsecond
}

// enter counts one more inside and returns how many are.
func (p *peak) enter() int64 {
	n := p.now.Add(1)
	for m := p.max.Load(); n > m && !p.max.CompareAndSwap(m, n); m = p.max.Load() {
	}
	return n
}

func (p *peak) leave() { p.now.Add(-1) }

// peakWatch samples a gauge every millisecond and keeps its highest value.
type peakWatch struct {
	stopc chan struct{}
	done  chan int64
}

func watchPeak(g *atomic.Int64) *peakWatch {
	w := &peakWatch{stopc: make(chan struct{}), done: make(chan int64, 1)}
	go func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		var most int64
		for {
			most = max(most, g.Load())
			select {
			case <-tick.C:
			case <-w.stopc:
				w.done <- most
				return
			}
		}
	}()
	return w
}

func (w *peakWatch) stop() int64 {
	close(w.stopc)
	return <-w.done
}

// raiseFileLimit raises RLIMIT_NOFILE to at least need, up to the hard limit,
// and fails the test when even the hard limit is too low: the test is not
// shrunk to fit.
func raiseFileLimit(t *testing.T, need int) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur >= uint64(need) {
		return
	}
	if lim.Max < uint64(need) {
		t.Fatalf("this test needs %d open files; RLIMIT_NOFILE hard limit is %d (ulimit -Hn) and an unprivileged process cannot raise it", need, lim.Max)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("raising RLIMIT_NOFILE to %d for %d open files: %v", lim.Max, need, err)
	}
}

// clearPeakRSS returns freed memory to the system and resets the process's
// peak RSS (VmHWM), so peakRSS measures one test; best effort, Linux only.
func clearPeakRSS() {
	debug.FreeOSMemory()
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSS reads the process's peak resident set (VmHWM), for the log.
func peakRSS() string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				return strings.TrimSpace(v)
			}
			return fmt.Sprintf("%d MiB", kb>>10)
		}
	}
	return "unknown"
}
