package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/scripts/testserver"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// The backend half of the fault matrix (SPEC §13, issue 12): one faed on
// real memcached, MariaDB and FerretDB, plus a delay proxy and silent
// listeners. Each fault is a subtest: the expected error while it lasts,
// then recovery without restarting faed. The breakers open after
// faultThreshold failures and retry after faultRetry, so recovery is
// bounded by faultRetry plus the time to notice.
const (
	faultThreshold = 3
	faultRetry     = time.Second
	faultCallLimit = 2 * time.Second // [engine] call_timeout of the test's faed
	// A call refused by an open breaker: the median and the slowest of ten,
	// well under the 200ms to 1s timeouts of the pools.
	openMedian = 20 * time.Millisecond
	openLimit  = 150 * time.Millisecond
)

// faultBackends are the servers and the faed of TestFaultBackends.
type faultBackends struct {
	mc      *testserver.Memcached // pool "mc"
	slowMC  *testserver.Memcached // pool "slowmc", through delay
	delay   *testserver.Proxy
	mysql   *testserver.MariaDB // pool "main"
	mongo   *testserver.Mongo   // pool "game"
	silent  string              // a listener that accepts and never answers: pools "silentmc", "silentmy"
	d       *testserver.Faed
	c       *rpc.FunServantClient
	breaker string // the breaker section every pool shares
}

func TestFaultBackends(t *testing.T) {
	b := &faultBackends{
		mc:     testserver.StartMemcached(t),
		slowMC: testserver.StartMemcached(t),
		mysql:  testserver.StartMariaDB(t),
		mongo:  testserver.StartMongo(t),
		silent: testserver.Silent(t),
	}
	b.delay = testserver.StartProxy(t, b.slowMC.Addr)
	b.breaker = fmt.Sprintf("failure_threshold = %d\nretry_interval = %q\n", faultThreshold, faultRetry)
	b.d = testserver.StartFaed(t, t.TempDir(), b.toml())
	b.c = goClient(t, "unix", b.d.Unix)
	b.checkAllServe(t)

	t.Run("memcached killed and restarted", b.checkMemcachedKilled)
	t.Run("mariadb killed and restarted", b.checkMariaDBKilled)
	t.Run("ferretdb killed and restarted", b.checkMongoKilled)
	t.Run("silent memcached and mysql", b.checkSilent)
	t.Run("slow memcached", b.checkSlow)
	if !t.Failed() { // a fault left on would only repeat its subtest's failure
		b.checkAllServe(t) // every fault over, the same faed serves them all
	}
}

func (b *faultBackends) toml() string {
	var s strings.Builder
	fmt.Fprintf(&s, "[engine]\ncall_timeout = %q\n", faultCallLimit)
	// No heartbeat on slowmc: a heartbeat timing out on a delayed reply
	// would count towards its breaker, which the test opens by its calls.
	for _, p := range []struct{ name, server, io, heartbeat string }{
		{"mc", b.mc.Addr, "200ms", "500ms"}, {"slowmc", b.delay.Addr, "500ms", "0s"}, {"silentmc", b.silent, "300ms", "500ms"},
	} {
		fmt.Fprintf(&s, "[servant.memcache.pools.%s]\nservers = [%q]\nio_timeout = %q\n", p.name, p.server, p.io)
		fmt.Fprintf(&s, "[servant.memcache.pools.%s.pool]\ndial_timeout = \"300ms\"\nheartbeat_interval = %q\n", p.name, p.heartbeat)
		fmt.Fprintf(&s, "[servant.memcache.pools.%s.breaker]\n%s", p.name, b.breaker)
	}
	// No idle pings on the silent pool: they go through the breaker and
	// would open it before the test's calls meet the silence.
	for _, p := range []struct{ name, addr, ping string }{{"main", b.mysql.Addr, "500ms"}, {"silentmy", b.silent, "0s"}} {
		fmt.Fprintf(&s, "[servant.mysql.pools.%s]\naddr = %q\nuser = \"root\"\ndatabase = \"mysql\"\n"+
			"dial_timeout = \"300ms\"\nread_timeout = \"1s\"\nwrite_timeout = \"1s\"\nping_interval = %q\n", p.name, p.addr, p.ping)
	}
	fmt.Fprintf(&s, "[servant.mysql.breaker]\n%s", b.breaker)
	fmt.Fprintf(&s, "[servant.mongodb.pools.game]\nuri = %q\ndatabase = \"faults\"\nconnect_timeout = \"300ms\"\nio_timeout = \"1s\"\n", b.mongo.URI)
	fmt.Fprintf(&s, "[servant.mongodb.breaker]\n%s", b.breaker)
	return s.String()
}

// checkAllServe makes one call on every real backend's pool.
func (b *faultBackends) checkAllServe(t *testing.T) {
	t.Helper()
	for name, call := range map[string]func() error{
		"mc_set mc": b.mcSet("mc", "all"), "mc_set slowmc": b.mcSet("slowmc", "all"),
		"my_query main": b.myQuery("main"), "mg_insert game": b.mgInsert(),
	} {
		if err := call(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

func (b *faultBackends) mcSet(pool, key string) func() error {
	return func() error {
		ok, err := b.c.McSet(context.Background(), rc, pool, key, &rpc.TMemcacheData{Data: []byte("v-" + key)}, 0)
		if err == nil && !ok {
			err = fmt.Errorf("mc_set %s %q answered false", pool, key)
		}
		return err
	}
}

func (b *faultBackends) mcGet(pool, key string) func() error {
	return func() error {
		v, err := b.c.McGet(context.Background(), rc, pool, key)
		if err == nil && string(v.Data) != "v-"+key {
			err = fmt.Errorf("mc_get %s %q = %q, want %q", pool, key, v.Data, "v-"+key)
		}
		return err
	}
}

func (b *faultBackends) myQuery(pool string) func() error {
	return func() error {
		r, err := b.c.MyQuery(context.Background(), rc, pool, "", 0, "SELECT 1", nil, "")
		if err == nil && (len(r.Rows) != 1 || r.Rows[0][0] != "1") {
			err = fmt.Errorf("my_query %s SELECT 1 = %+v", pool, r)
		}
		return err
	}
}

func (b *faultBackends) mgInsert() func() error {
	var n atomic.Int64
	return func() error {
		doc, _ := bson.Marshal(bson.D{{Key: "n", Value: n.Add(1)}})
		ok, err := b.c.MgInsert(context.Background(), rc, "game", "faults", 0, doc)
		if err == nil && !ok {
			err = fmt.Errorf("mg_insert answered false")
		}
		return err
	}
}

func (b *faultBackends) mgCount() error {
	_, err := b.c.MgCount(context.Background(), rc, "game", "faults", 0, nil)
	return err
}

// timedCall is one call made while a fault lasts, or while it heals.
type timedCall struct {
	at   time.Time // when it was made
	took time.Duration
	err  error
}

// callUntil makes call every 20ms until done says so or timeout passes,
// at most 500 times, and returns every call made and whether done was met.
func callUntil(timeout time.Duration, call func() error, done func(error) bool) ([]timedCall, bool) {
	var calls []timedCall
	for end := time.Now().Add(timeout); len(calls) < 500 && time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		start := time.Now()
		err := call()
		calls = append(calls, timedCall{start, time.Since(start), err})
		if done(err) {
			return calls, true
		}
	}
	return calls, false
}

// callLoop makes call(i) every 10ms on its own goroutine until stopped,
// at most 2000 times and for limit at most, and keeps every result.
type callLoop struct {
	done  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex // guards calls
	calls []timedCall
}

func startCallLoop(t *testing.T, limit time.Duration, call func(i int) error) *callLoop {
	l := &callLoop{done: make(chan struct{})}
	end := time.Now().Add(limit)
	l.wg.Go(func() {
		for i := 0; i < 2000 && time.Now().Before(end); i++ {
			select {
			case <-l.done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			start := time.Now()
			err := call(i)
			l.mu.Lock()
			l.calls = append(l.calls, timedCall{start, time.Since(start), err})
			l.mu.Unlock()
		}
	})
	t.Cleanup(func() { l.stop() })
	return l
}

// last is the latest call made, if any.
func (l *callLoop) last() (timedCall, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.calls) == 0 {
		return timedCall{}, false
	}
	return l.calls[len(l.calls)-1], true
}

// stop ends the loop and returns its calls. It is idempotent.
func (l *callLoop) stop() []timedCall {
	select {
	case <-l.done:
	default:
		close(l.done)
	}
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls)
}

func isCircuitOpen(err error) bool { return strings.Contains(clientText(err), "circuit open") }

// clientText is what a client reads of err: the message of a declared
// exception (whose Error() prints its message field's pointer), else Error().
func clientText(err error) string {
	var degraded *rpc.TMongoDegrade
	switch {
	case err == nil:
		return ""
	case errors.As(err, &degraded):
		return "TMongoDegrade: " + degraded.GetMessage()
	}
	return err.Error()
}

// checkOutage runs calls against a pool whose server is gone: each must
// fail, name the server, and answer within limit; within a few calls the
// breaker must open, and then the calls must answer at once.
func checkOutage(t *testing.T, what, server string, limit time.Duration, call func() error) {
	t.Helper()
	down := time.Now()
	calls, opened := callUntil(10*time.Second, call, isCircuitOpen)
	for i, c := range calls {
		switch {
		case c.err == nil:
			t.Fatalf("%s call %d with the server down succeeded", what, i)
		case !strings.Contains(clientText(c.err), server):
			t.Errorf("%s call %d: %q does not name the server %s", what, i, clientText(c.err), server)
		case c.took > limit:
			t.Errorf("%s call %d answered after %v, want under %v: %v", what, i, c.took, limit, c.err)
		}
	}
	if !opened {
		t.Fatalf("%s: breaker not open after %d failed calls in %v; last: %v", what, len(calls), time.Since(down), calls[len(calls)-1].err)
	}
	if len(calls) > faultThreshold+1 {
		t.Errorf("%s: breaker opened after %d calls, want at most %d", what, len(calls), faultThreshold+1)
	}
	var slowest time.Duration
	open := make([]time.Duration, 10)
	for i := range open {
		start := time.Now()
		err := call()
		open[i] = time.Since(start)
		slowest = max(slowest, open[i])
		if !isCircuitOpen(err) || !strings.Contains(clientText(err), server) {
			t.Fatalf("%s call %d with the breaker open: %s, want \"circuit open\" naming %s", what, i, clientText(err), server)
		}
	}
	// The median shows the breaker answering without touching the server;
	// the bound on the slowest leaves room for a busy machine.
	slices.Sort(open)
	if open[len(open)/2] > openMedian || slowest > openLimit {
		t.Errorf("%s with the breaker open: median %v, slowest %v; want under %v and %v", what, open[len(open)/2], slowest, openMedian, openLimit)
	}
	t.Logf("%s: first error after %v: %v; breaker open after %d calls, %v; open calls answer in %v at most: %v",
		what, calls[0].took.Round(time.Microsecond), clientText(calls[0].err), len(calls), time.Since(down).Round(time.Millisecond),
		slowest.Round(time.Microsecond), clientText(calls[len(calls)-1].err))
}

// checkRecovery waits for call to succeed again once the server is back,
// within the breaker's retry interval and slack, then checks that the next
// calls all succeed.
func checkRecovery(t *testing.T, what string, slack time.Duration, call func() error) {
	t.Helper()
	back := time.Now()
	bound := faultRetry + slack
	calls, ok := callUntil(bound+5*time.Second, call, func(err error) bool { return err == nil })
	took := time.Since(back)
	if !ok {
		t.Fatalf("%s: still failing %v after the fault ended (%d calls): %v", what, took, len(calls), calls[len(calls)-1].err)
	}
	if took > bound {
		t.Errorf("%s: served again %v after the fault ended, want within %v (breaker retry %v)", what, took, bound, faultRetry)
	}
	for i := range 20 {
		if err := call(); err != nil {
			t.Fatalf("%s: call %d after recovery: %v", what, i, err)
		}
	}
	t.Logf("%s: served again %v after the fault ended (%d calls failed meanwhile)", what, took.Round(time.Millisecond), len(calls)-1)
}

func (b *faultBackends) checkMemcachedKilled(t *testing.T) {
	if err := b.mcSet("mc", "before")(); err != nil {
		t.Fatal(err)
	}
	b.mc.Stop()
	checkOutage(t, "mc_set", b.mc.Addr, time.Second, b.mcSet("mc", "down"))
	if err := b.mcGet("mc", "before")(); !isCircuitOpen(err) {
		t.Errorf("mc_get with the breaker open: %v, want circuit open", err)
	}
	b.checkOthersServe(t, "memcached")
	b.mc.Restart() // empty: what was set before is gone
	checkRecovery(t, "mc_set", time.Second, b.mcSet("mc", "after"))
	if err := b.mcGet("mc", "after")(); err != nil {
		t.Errorf("mc_get after recovery: %v", err)
	}
}

func (b *faultBackends) checkMariaDBKilled(t *testing.T) {
	b.mysql.Stop()
	checkOutage(t, "my_query", b.mysql.Addr, time.Second+500*time.Millisecond, b.myQuery("main")) // read_timeout 1s
	b.checkOthersServe(t, "mariadb")
	b.mysql.Restart()
	checkRecovery(t, "my_query", time.Second, b.myQuery("main"))
}

func (b *faultBackends) checkMongoKilled(t *testing.T) {
	b.mongo.Stop()
	checkOutage(t, "mg_insert", b.mongo.Addr, time.Second+500*time.Millisecond, b.mgInsert()) // io_timeout 1s
	if err := b.mgCount(); !isCircuitOpen(err) {
		t.Errorf("mg_count with the breaker open: %v, want circuit open", err)
	}
	b.checkOthersServe(t, "ferretdb")
	b.mongo.Restart()
	// The driver finds a server it lost on its next check, 500ms apart at
	// most while an operation waits for one.
	checkRecovery(t, "mg_insert", 2*time.Second, b.mgInsert())
	if err := b.mgCount(); err != nil {
		t.Errorf("mg_count after recovery: %v", err)
	}
}

// checkOthersServe checks that the pools of the real servers other than
// the one down (named as in the map below) still serve, each call fast.
func (b *faultBackends) checkOthersServe(t *testing.T, down string) {
	t.Helper()
	calls := map[string]func() error{"memcached": b.mcSet("mc", "other"), "mariadb": b.myQuery("main"), "ferretdb": b.mgInsert()}
	if _, ok := calls[down]; !ok {
		t.Fatalf("checkOthersServe: no pool on %q", down)
	}
	for name, call := range calls {
		if name == down {
			continue
		}
		start := time.Now()
		if err := call(); err != nil {
			t.Errorf("the %s pool while %s is down: %v", name, down, err)
		} else if took := time.Since(start); took > 500*time.Millisecond {
			t.Errorf("the %s pool while %s is down took %v", name, down, took)
		}
	}
}

// checkSilent: a server that accepts and never answers holds each call
// for at most its deadline, the error names it, the breaker opens, and the
// other pools serve meanwhile, from another connection, without delay.
func (b *faultBackends) checkSilent(t *testing.T) {
	side := goClient(t, "unix", b.d.Unix) // the other pools' calls, on their own connection
	others := startCallLoop(t, 20*time.Second, func(i int) error {
		if i%2 == 0 {
			_, err := side.McSet(context.Background(), rc, "mc", "side", &rpc.TMemcacheData{Data: []byte("s")}, 0)
			return err
		}
		_, err := side.MyQuery(context.Background(), rc, "main", "", 0, "SELECT 1", nil, "")
		return err
	})
	calls := []struct {
		what  string
		limit time.Duration // the deadline that must end the call, with slack
		call  func() error
	}{
		{"mc_get on a silent memcached", 300*time.Millisecond + 500*time.Millisecond, b.mcGet("silentmc", "k")},
		{"my_query on a silent mysql", time.Second + 500*time.Millisecond, b.myQuery("silentmy")}, // read_timeout 1s
	}
	for _, c := range calls {
		checkOutage(t, c.what, b.silent, c.limit, c.call)
	}
	served := others.stop()
	var slowest time.Duration
	for _, c := range served {
		slowest = max(slowest, c.took)
		if c.err != nil {
			t.Errorf("a call on the other pools failed while the silent pools hung: %v", c.err)
		}
	}
	if n := len(served); n < 10 || slowest > 500*time.Millisecond {
		t.Errorf("the other pools served %d calls meanwhile, the slowest in %v; want at least 10, each under 500ms", n, slowest)
	}
	t.Logf("the other pools served %d calls meanwhile, the slowest in %v", len(served), slowest.Round(time.Microsecond))
}

// checkSlow puts a delay on every reply of the memcached behind pool
// slowmc (io_timeout 500ms): under the timeout calls succeed, only slower;
// past it they fail with a timeout naming the server; delay off, full speed.
func (b *faultBackends) checkSlow(t *testing.T) {
	const io = 500 * time.Millisecond
	fast := medianTook(t, "mc_get, no delay", 10, b.mcGet("slowmc", "all"))

	b.delay.Delay(150 * time.Millisecond)
	if took := medianTook(t, "mc_get, replies 150ms late", 5, b.mcGet("slowmc", "all")); took < 150*time.Millisecond || took > io {
		t.Errorf("mc_get with replies 150ms late took %v (median), want 150ms to %v", took, io)
	}

	b.delay.Delay(700 * time.Millisecond)
	for i := range faultThreshold {
		start := time.Now()
		err := b.mcGet("slowmc", "all")()
		took := time.Since(start)
		if err == nil || !strings.Contains(err.Error(), "timeout") || !strings.Contains(err.Error(), b.delay.Addr) {
			t.Fatalf("mc_get %d with replies 700ms late: %v, want a timeout naming %s", i, err, b.delay.Addr)
		}
		if took < io-50*time.Millisecond || took > io+400*time.Millisecond {
			t.Errorf("mc_get %d with replies 700ms late failed after %v, want about io_timeout %v", i, took, io)
		}
		t.Logf("mc_get %d with replies 700ms late failed after %v: %v", i, took.Round(time.Millisecond), err)
	}
	if err := b.mcGet("slowmc", "all")(); !isCircuitOpen(err) {
		t.Errorf("mc_get after %d timeouts: %v, want circuit open", faultThreshold, err)
	}

	b.delay.Delay(0)
	checkRecovery(t, "mc_get, delay off", time.Second, b.mcGet("slowmc", "all"))
	if took := medianTook(t, "mc_get, delay off again", 10, b.mcGet("slowmc", "all")); took > fast+50*time.Millisecond {
		t.Errorf("mc_get with the delay off again: median %v, want full speed (%v before the delay)", took, fast)
	}
}

// medianTook makes n successful calls and returns their median duration.
func medianTook(t *testing.T, what string, n int, call func() error) time.Duration {
	t.Helper()
	took := make([]time.Duration, n)
	for i := range took {
		start := time.Now()
		if err := call(); err != nil {
			t.Fatalf("%s: call %d: %v", what, i, err)
		}
		took[i] = time.Since(start)
	}
	slices.Sort(took)
	t.Logf("%s: median %v of %d calls", what, took[n/2].Round(time.Microsecond), n)
	return took[n/2]
}
