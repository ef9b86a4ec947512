package main

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
)

// kvLoad is the hand-off benchmark's load: clients calling kvdb_get and
// kvdb_set on random keys through random nodes, each with one persistent
// connection per node. Its phases: 0 warm-up (not recorded), 1 before the
// change, 2 during it.
type kvLoad struct {
	phase   atomic.Int32
	stopped atomic.Bool
	wg      sync.WaitGroup
	clients []*kvClient
	// mu guards began, the start of each phase.
	mu    sync.Mutex
	began [3]time.Time
}

// kvClient is one client; its stats belong to its goroutine until stop.
type kvClient struct {
	stats [3]phaseStats
}

// phaseStats is what the clients saw in one phase.
type phaseStats struct {
	hist     histogram
	errors   int64
	firstErr error
	elapsed  time.Duration
}

func (p *phaseStats) merge(o *phaseStats) {
	p.hist.merge(&o.hist)
	p.errors += o.errors
	if p.firstErr == nil {
		p.firstErr = o.firstErr
	}
}

func (p *phaseStats) callsPerSec() float64 {
	if p.elapsed <= 0 {
		return 0
	}
	return float64(p.hist.n) / p.elapsed.Seconds()
}

func startKVLoad(nodes, keys []string, size, clients int) *kvLoad {
	l := &kvLoad{}
	l.began[0] = time.Now()
	value := make([]byte, size)
	for i := range value {
		value[i] = 'v'
	}
	for i := range clients {
		c := &kvClient{}
		l.clients = append(l.clients, c)
		l.wg.Go(func() { l.run(c, i, nodes, keys, value) })
	}
	return l
}

// enter starts phase p.
func (l *kvLoad) enter(p int32) {
	l.mu.Lock()
	l.began[p] = time.Now()
	l.mu.Unlock()
	l.phase.Store(p)
}

// stop ends the load and returns the before and during phases.
func (l *kvLoad) stop() (before, during phaseStats) {
	end := time.Now()
	l.stopped.Store(true)
	l.wg.Wait()
	for _, c := range l.clients {
		before.merge(&c.stats[1])
		during.merge(&c.stats[2])
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	before.elapsed = l.began[2].Sub(l.began[1])
	during.elapsed = end.Sub(l.began[2])
	return before, during
}

// run is one client's loop. A call is counted in the phase it started in.
func (l *kvLoad) run(c *kvClient, i int, nodes, keys []string, value []byte) {
	rnd := rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
	rc := &rpc.Context{Rid: int64(i + 1), Reason: "bench.handoff", UID: int64(1000 + i)}
	conns := make([]*conn, len(nodes))
	defer func() {
		for _, cn := range conns {
			if cn != nil {
				cn.Close()
			}
		}
	}()
	for !l.stopped.Load() {
		n := rnd.IntN(len(nodes))
		call := pickCall(rnd, keys, value)
		p := l.phase.Load()
		start := time.Now()
		err := l.callOn(conns, n, nodes[n], call, rc)
		if p == 0 {
			continue
		}
		st := &c.stats[p]
		if err != nil {
			st.errors++
			if st.firstErr == nil {
				st.firstErr = fmt.Errorf("%s: %s", nodes[n], errText(err))
			}
			continue
		}
		st.hist.record(time.Since(start))
	}
}

// callOn makes call on the connection to node n, dialling it if needed and
// dropping it after an error that breaks it.
func (l *kvLoad) callOn(conns []*conn, n int, addr string, call func(*conn, *rpc.Context) error, rc *rpc.Context) error {
	if conns[n] == nil {
		c, err := dial(endpoint{network: "tcp", address: addr}, wire{transport: "buffered", protocol: "binary", timeout: 30 * time.Second})
		if err != nil {
			time.Sleep(dialRetryDelay)
			return err
		}
		conns[n] = c
	}
	err := call(conns[n], rc)
	if err != nil && connBroken(err) {
		conns[n].Close()
		conns[n] = nil
	}
	return err
}

// printHandoff prints both measurements against the goals of issue 8.
func printHandoff(w io.Writer, cfg handoffConfig, mv moveResult, rb rebalanceResult) {
	fmt.Fprintf(w, "\n%-44s %-52s %s\n", "hand-off (issue 8), replicas 0", "measured", "goal")
	fmt.Fprintf(w, "%-44s %-52s %s\n", fmt.Sprintf("move 1 vbucket of %d keys x %d B", moveKeys, cfg.size),
		fmt.Sprintf("%.3fs (%d keys, %.1f MB copied, %d move)", mv.elapsed.Seconds(), mv.m.Rebalance.KeysCopied,
			float64(mv.m.Rebalance.BytesCopied)/1e6, mv.m.Rebalance.MovesDone),
		verdict(mv.elapsed <= time.Second, "<= 1s"))
	fmt.Fprintf(w, "%-44s %-52s %s\n", fmt.Sprintf("rebalance 3 -> 4 nodes, %d keys", rebalanceKeys),
		fmt.Sprintf("%.1fs (%d moves, %d keys, %.1f MB copied)", rb.elapsed.Seconds(), rb.m.Rebalance.MovesDone,
			rb.m.Rebalance.KeysCopied, float64(rb.m.Rebalance.BytesCopied)/1e6),
		verdict(rb.elapsed <= time.Minute, "<= 60s"))
	b, d := &rb.before, &rb.during
	failed := fmt.Sprintf("%d of %d", d.errors, d.errors+int64(d.hist.n))
	if d.firstErr != nil {
		failed += fmt.Sprintf(" (first: %.70s)", d.firstErr)
	}
	fmt.Fprintf(w, "%-44s %-52s %s\n", "  failed calls during", failed, verdict(d.errors == 0, "0"))
	fmt.Fprintf(w, "%-44s %-52s %s\n", "  failed calls before", fmt.Sprintf("%d of %d", b.errors, b.errors+int64(b.hist.n)), "0")
	p99b, p99d := b.hist.quantile(0.99), d.hist.quantile(0.99)
	fmt.Fprintf(w, "%-44s %-52s %s\n", fmt.Sprintf("  client p99 during / before (c=%d)", cfg.clients),
		fmt.Sprintf("%.2fms / %.2fms = %s", micros(p99d)/1000, micros(p99b)/1000, ratio(float64(p99d), float64(p99b))),
		verdict(p99b > 0 && p99d <= 2*p99b, "<= 2x"))
	fmt.Fprintf(w, "%-44s %-52s\n", "  calls/s during / before",
		fmt.Sprintf("%.0f / %.0f = %s", d.callsPerSec(), b.callsPerSec(), ratio(d.callsPerSec(), b.callsPerSec())))
	f := rb.fences
	waited := fmt.Sprintf("%d of %d", f.Waits, d.hist.n)
	if f.Waits > 0 {
		waited += fmt.Sprintf(", %.2fms mean, %.2fms longest", f.WaitMs/float64(f.Waits), f.WaitMaxMs)
	}
	fmt.Fprintf(w, "%-44s %-52s\n", "  calls that waited on a fence", waited)
}

// errText is err's message; a miss says so without the generated String's
// pointers.
func errText(err error) string {
	var miss *rpc.TCacheMissed
	if errors.As(err, &miss) {
		return "TCacheMissed: " + miss.GetMessage()
	}
	return err.Error()
}

func verdict(met bool, goal string) string {
	if met {
		return goal + ": met"
	}
	return goal + ": MISSED"
}
