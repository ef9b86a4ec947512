package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/scripts/testserver"
)

// The data a hand-off scenario writes before the cluster changes, and the
// load it keeps on the cluster while it changes: a Go client and the Python
// one (testdata/load.py), both calling random nodes, both recording the last
// acknowledged value of every key they write.

const (
	seededKV    = 1000
	seededLC    = 300
	heldLocks   = 100
	lockReason  = "handoff.test"
	goWorkers   = 3
	ownKeys     = 50                   // keys each Go worker writes
	loadPause   = 2 * time.Millisecond // between one worker's calls: a bounded load
	loadTimeout = 20 * time.Second     // per call; past forward_retry_wait
)

// dataset is what a scenario wrote through one node before the change.
type dataset struct {
	prefix string
	kv, lc map[string]string
	held   []string // lock keys taken and never released
}

func seedKV(prefix string, i int) (key, value string) {
	return prefix + "kv-" + strconv.Itoa(i), prefix + "seed-" + strconv.Itoa(i)
}

// seed writes the dataset through via: kvdb keys, lcache keys, held locks.
func seed(t *testing.T, via *node, prefix string) dataset {
	t.Helper()
	ctx := t.Context()
	ds := dataset{prefix: prefix, kv: map[string]string{}, lc: map[string]string{}}
	for i := range seededKV {
		k, v := seedKV(prefix, i)
		if ok, err := via.fun.KvdbSet(ctx, rc, []byte(k), []byte(v)); err != nil || !ok {
			t.Fatalf("seeding kvdb_set %q through %s = %v, %v", k, via.TCP, ok, err)
		}
		ds.kv[k] = v
	}
	for i := range seededLC {
		k := fmt.Sprintf("%slc-%d", prefix, i)
		if ok, err := via.fun.LcSet(ctx, rc, k, []byte("lc value "+k)); err != nil || !ok {
			t.Fatalf("seeding lc_set %q through %s = %v, %v", k, via.TCP, ok, err)
		}
		ds.lc[k] = "lc value " + k
	}
	for i := range heldLocks {
		k := fmt.Sprintf("%sheld-%d", prefix, i)
		if ok, err := via.fun.Lock(ctx, rc, lockReason, k); err != nil || !ok {
			t.Fatalf("seeding lock %q through %s = %v, %v", k, via.TCP, ok, err)
		}
		ds.held = append(ds.held, k)
	}
	return ds
}

// callFailure is one failed client call of the load.
type callFailure struct {
	Op   string  `json:"op"`
	Key  string  `json:"key"`
	Node string  `json:"node"`
	Err  string  `json:"error"`
	Unix float64 `json:"time"`
}

func (f callFailure) String() string {
	return fmt.Sprintf("%s %s %q through %s: %s", time.Unix(0, int64(f.Unix*1e9)).Format("15:04:05.000"), f.Op, f.Key, f.Node, f.Err)
}

// loadResult is what a load saw: calls, failures, and the last acknowledged
// value of each key it wrote (keys whose last write failed are uncertain).
type loadResult struct {
	Calls     int               `json:"calls"`
	Failures  []callFailure     `json:"failures"`
	Acked     map[string]string `json:"acked"`
	Uncertain []string          `json:"uncertain"`
}

func (r *loadResult) merge(o loadResult) {
	r.Calls += o.Calls
	r.Failures = append(r.Failures, o.Failures...)
	for k, v := range o.Acked {
		r.Acked[k] = v
	}
	r.Uncertain = append(r.Uncertain, o.Uncertain...)
}

// load runs the Go workers and the Python client until stop.
type load struct {
	ds      dataset
	targets []string // nodes the clients call: ones that stay up
	done    chan struct{}
	wg      sync.WaitGroup
	py      *scriptLoad

	// mu guards res.
	mu  sync.Mutex
	res loadResult
}

// startLoad starts the load on targets; it is stopped in t.Cleanup if the
// test does not stop it.
func startLoad(t *testing.T, ds dataset, targets []*node) *load {
	t.Helper()
	l := &load{ds: ds, done: make(chan struct{}), res: loadResult{Acked: map[string]string{}}}
	addrs := addrsOf(targets)
	l.targets = addrs
	for w := range goWorkers {
		l.wg.Go(func() { l.work(w) })
	}
	l.py = startScript(t, "python", targets, func(stopAt string) []string {
		return []string{"/usr/bin/python3", "testdata/load.py", stopAt, ds.prefix, strconv.Itoa(seededKV), strconv.Itoa(heldLocks)}
	})
	t.Cleanup(func() { l.halt() })
	return l
}

// warm waits until both clients are calling, so that the change happens
// under load: the script made its first call, the Go workers minCalls.
func (l *load) warm(t *testing.T) {
	t.Helper()
	const minCalls = 100
	l.py.warm(t)
	testserver.Eventually(t, "the Go load to make its first calls", faedWait, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.res.Calls >= minCalls
	})
}

// halt ends the Go workers and asks the script to stop. It is idempotent.
func (l *load) halt() {
	select {
	case <-l.done:
		return
	default:
		close(l.done)
	}
	l.wg.Wait()
	l.py.halt()
}

// stop ends the load and returns what both clients saw.
func (l *load) stop(t *testing.T) loadResult {
	t.Helper()
	l.halt()
	py := l.py.stop(t)
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("load: go %d calls, %d failed", l.res.Calls, len(l.res.Failures))
	res := l.res
	res.merge(py)
	return res
}

// scriptLoad is a client script (testdata/load.py, testdata/soak.php)
// calling the nodes until a stop file appears. It prints "ready" after its
// first call, then, once stopped, one JSON loadResult.
type scriptLoad struct {
	lang   string // as the log names it
	cmd    *exec.Cmd
	stopAt string        // the script stops once this file exists
	ready  chan struct{} // closed once the script made its first call
	read   chan struct{} // closed once its stdout is read to its end
	out    bytes.Buffer  // its stdout after "ready"
	errOut bytes.Buffer  // its stderr, written by exec until Wait returns
	once   sync.Once
}

// startScript runs argv(stopFile) with the targets' addresses appended as
// tcp:HOST:PORT; it is asked to stop in t.Cleanup if the test does not.
func startScript(t *testing.T, lang string, targets []*node, argv func(stopAt string) []string) *scriptLoad {
	t.Helper()
	l := &scriptLoad{lang: lang, stopAt: filepath.Join(t.TempDir(), "stop"), ready: make(chan struct{}), read: make(chan struct{})}
	args := argv(l.stopAt)
	for _, a := range addrsOf(targets) {
		args = append(args, "tcp:"+a)
	}
	l.cmd = exec.Command(args[0], args[1:]...)
	stdout, err := l.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	l.cmd.Stderr = &l.errOut
	if err := l.cmd.Start(); err != nil {
		t.Fatalf("starting the %s load: %v", lang, err)
	}
	go l.readOut(stdout)
	t.Cleanup(l.halt)
	return l
}

// readOut reads the script's stdout: "ready", then its result.
func (l *scriptLoad) readOut(stdout io.Reader) {
	defer close(l.read)
	r := bufio.NewReader(stdout)
	if line, err := r.ReadString('\n'); line == "ready\n" {
		close(l.ready)
	} else {
		l.out.WriteString(line)
		if err != nil {
			return
		}
	}
	io.Copy(&l.out, r)
}

// warm waits for the script's first call.
func (l *scriptLoad) warm(t *testing.T) {
	t.Helper()
	select {
	case <-l.ready:
	case <-l.read:
		l.cmd.Wait()
		t.Fatalf("%s load ended before its first call:\n%s%s", l.lang, l.out.String(), l.errOut.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("%s load made no call within 20s", l.lang)
	}
}

// halt asks the script to stop. It is idempotent.
func (l *scriptLoad) halt() { l.once.Do(func() { os.WriteFile(l.stopAt, nil, 0o644) }) }

// stop asks the script to stop and returns what it saw.
func (l *scriptLoad) stop(t *testing.T) loadResult {
	t.Helper()
	l.halt()
	select {
	case <-l.read:
	case <-time.After(time.Minute):
		l.cmd.Process.Kill()
		<-l.read
		t.Fatalf("%s load still running a minute after it was asked to stop:\n%s", l.lang, l.out.String())
	}
	if err := l.cmd.Wait(); err != nil {
		t.Fatalf("%s load: %v\n%s%s", l.lang, err, l.out.String(), l.errOut.String())
	}
	var res loadResult
	if err := json.Unmarshal(l.out.Bytes(), &res); err != nil {
		t.Fatalf("%s load output: %v\n%s%s", l.lang, err, l.out.String(), l.errOut.String())
	}
	t.Logf("load: %s %d calls, %d failed", l.lang, res.Calls, len(res.Failures))
	return res
}

// work is one Go worker: one connection per node, reopened after a failed
// call, and its own keys, written in turn so their last value is known.
func (l *load) work(w int) {
	conns := map[string]*rpc.FunServantClient{}
	closers := map[string]net.Conn{}
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	rnd := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
	for seq := 0; ; seq++ {
		select {
		case <-l.done:
			return
		case <-time.After(loadPause):
		}
		addr := l.targets[rnd.IntN(len(l.targets))]
		op, key, want := l.pick(w, seq, rnd)
		err := l.call(conns, closers, addr, op, key, want)
		l.record(callFailure{Op: op, Key: key, Node: addr}, want, err)
	}
}

// pick chooses the next call of worker w: a write of its own key, a read of
// a seeded kvdb or lcache key, or a lock on a held key.
func (l *load) pick(w, seq int, rnd *rand.Rand) (op, key, want string) {
	switch seq % 4 {
	case 0:
		return "kvdb_set", fmt.Sprintf("%sgo-%d-%d", l.ds.prefix, w, seq%ownKeys), "v" + strconv.Itoa(seq)
	case 1:
		k, v := seedKV(l.ds.prefix, rnd.IntN(seededKV))
		return "kvdb_get", k, v
	case 2:
		k := fmt.Sprintf("%slc-%d", l.ds.prefix, rnd.IntN(seededLC))
		return "lc_get", k, l.ds.lc[k]
	default:
		return "lock", l.ds.held[rnd.IntN(len(l.ds.held))], ""
	}
}

// call makes one call through addr, dialling it first if needed; after a
// failure the connection is dropped, as its state is unknown.
func (l *load) call(conns map[string]*rpc.FunServantClient, closers map[string]net.Conn, addr, op, key, want string) error {
	c := conns[addr]
	if c == nil {
		var conn net.Conn
		var err error
		if c, conn, err = dialFun(addr); err != nil {
			return err
		}
		conns[addr], closers[addr] = c, conn
	}
	ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
	defer cancel()
	err := oneCall(ctx, c, op, key, want)
	if err != nil {
		closers[addr].Close()
		delete(conns, addr)
		delete(closers, addr)
	}
	return err
}

// errText is err's message; a miss says so without the generated String's
// pointers.
func errText(err error) string {
	var miss *rpc.TCacheMissed
	switch {
	case err == nil:
		return "<nil>"
	case errors.As(err, &miss):
		return "TCacheMissed: " + miss.GetMessage()
	}
	return err.Error()
}

// oneCall runs op and checks its answer.
func oneCall(ctx context.Context, c *rpc.FunServantClient, op, key, want string) error {
	switch op {
	case "kvdb_set":
		if ok, err := c.KvdbSet(ctx, rc, []byte(key), []byte(want)); err != nil || !ok {
			return fmt.Errorf("answered %v, %s", ok, errText(err))
		}
	case "kvdb_get":
		if got, err := c.KvdbGet(ctx, rc, []byte(key)); err != nil || string(got) != want {
			return fmt.Errorf("answered %q, %s; want %q", got, errText(err), want)
		}
	case "lc_get":
		if got, err := c.LcGet(ctx, rc, key); err != nil || string(got) != want {
			return fmt.Errorf("answered %q, %s; want %q", got, errText(err), want)
		}
	default:
		if ok, err := c.Lock(ctx, rc, lockReason, key); err != nil || ok {
			return fmt.Errorf("lock on a held key answered %v, %s; want false", ok, errText(err))
		}
	}
	return nil
}

// record counts one call, its failure if any, and an acknowledged write.
func (l *load) record(f callFailure, want string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.res.Calls++
	if err != nil {
		f.Err, f.Unix = err.Error(), float64(time.Now().UnixNano())/1e9
		l.res.Failures = append(l.res.Failures, f)
	}
	if f.Op != "kvdb_set" {
		return
	}
	if err == nil {
		l.res.Acked[f.Key] = want
		l.res.Uncertain = slices.DeleteFunc(l.res.Uncertain, func(k string) bool { return k == f.Key })
	} else if !slices.Contains(l.res.Uncertain, f.Key) {
		l.res.Uncertain = append(l.res.Uncertain, f.Key)
	}
}
