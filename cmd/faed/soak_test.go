package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/faed/faed/scripts/testserver"
)

// TestSoak (SPEC §11): a three-node cluster with replicas under Go, Python
// and PHP clients calling every servant it configures through random
// nodes, while its members change: each round (a minute, or a quarter of
// a soak shorter than four minutes) restarts one member — SIGTERM, or
// kill -9 every fourth round starting with the second, so the short soak
// has one — and the middle round instead adds a fourth node and drains
// one away. After every round: no client call failed but those a
// kill explains, and every acknowledged kvdb value and held lock is there
// through every node. At the end: the node that ran the whole soak kept
// its goroutines, memory, descriptors and kvdb file bounded; the report
// (calls by call, failures by cause, lost writes, double grants, each
// node's resources over time) is logged and written to
// $FAED_ARTIFACTS/soak-report.txt.
//
// FAED_SOAK_DURATION sets its length: 1m by default, which make test runs;
// make soak runs 10m.
func TestSoak(t *testing.T) {
	for _, c := range []scriptClient{phpClient(), {
		probe:   []string{"/usr/bin/python3", "-c", "import thrift.transport.TSocket"},
		install: "/usr/bin/python3 with python3-thrift",
	}} {
		requireInstalled(t, c)
	}
	total := soakDuration(t)
	zk := testserver.StartZooKeeper(t).Addr
	mc := testserver.StartMemcached(t)
	db := testserver.StartMariaDB(t)
	o := replicaOpts(zk, "soak", 1)
	o.lockExpiry = (total + 10*time.Minute).String() // the seeded locks are held for the whole soak
	// io_timeout 1s, not 200ms: a -race soak shares two cores with the
	// suite, and memcached itself once stalled 200 ms under it.
	o.extra += fmt.Sprintf(`[servant.memcache.pools.soak]
servers = [%q]
io_timeout = "1s"
[servant.mysql.pools.soak]
addr = %q
user = "root"
database = "mysql"
`, mc.Addr, db.Addr)
	nodes := startNodes(t, o, 3)
	anchor := nodes[0] // seeds the data and runs the whole soak: its curve is the one bounded
	m := waitReplicated(t, nodes, 60*time.Second)
	ds := seed(t, anchor, "soak-")
	want := wantAfter(ds.kv)
	rep := newSoakReport(time.Now())
	rep.sample(t, nodes, "start")

	rounds := max(4, int(total/time.Minute))
	roundLen := total / time.Duration(rounds)
	middle := rounds/2 + 1
	nextWorker := o.firstWorker + len(nodes)
	for r := 1; r <= rounds; r++ {
		start := time.Now()
		var event string
		var out *outage
		switch {
		case r == middle:
			event, nodes = rep.growAndDrain(t, o, nodes, anchor, nextWorker, ds, &want, roundLen)
			nextWorker++
		case r%4 == 2:
			event, out, nodes = rep.killAndRestart(t, nodes, m, ds, &want, roundLen)
		default:
			event, nodes = rep.restart(t, nodes, r, ds, &want, roundLen)
		}
		m = waitReplicated(t, nodes, 60*time.Second)
		rep.sample(t, nodes, fmt.Sprintf("round %d", r))
		for _, n := range nodes {
			// The checks' connections: faed closed the last ones, idle
			// for the round, past idle_timeout.
			n.fun = dialNode(t, n.TCP)
		}
		t.Logf("round %d/%d: %s, in %v", r, rounds, event, time.Since(start).Round(time.Millisecond))
		checkReplicated(t, nodes, m, ds, want, cmp.Or(out, &outage{vbuckets: map[int]bool{}}))
		if t.Failed() {
			break
		}
		if out != nil {
			reseedLC(t, anchor, ds) // the killed node's lcache entries died with it, as caches do
		}
	}
	rep.lost, rep.doubleGrants = len(kvdbWrong(anchor, want)), doubleGrants(anchor, ds.held)
	rep.sample(t, nodes, "end")
	rep.write(t)
	rep.checkBounds(t, anchor)
}

// soakDuration is FAED_SOAK_DURATION, 1m if unset.
func soakDuration(t *testing.T) time.Duration {
	s := os.Getenv("FAED_SOAK_DURATION")
	if s == "" {
		return time.Minute
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 30*time.Second || d > 2*time.Hour {
		t.Fatalf("FAED_SOAK_DURATION=%q: want a duration from 30s to 2h", s)
	}
	return d
}

// doubleGrants counts the held locks a new lock call through n grants.
func doubleGrants(n *node, held []string) int {
	granted := 0
	for _, k := range held {
		if ok, err := n.fun.Lock(context.Background(), rc, "soak.check", k); err == nil && ok {
			granted++
		}
	}
	return granted
}

// soakReport is what the soak saw.
type soakReport struct {
	began        time.Time
	calls        int                      // client calls
	byCall       map[string]int64         // calls the nodes served, by call, summed over processes
	served       map[int]map[string]int64 // the last per-call counts of each process (by pid)
	failures     map[string]int           // failed client calls by call and cause
	excused      int                      // of those, explained by a kill
	lost         int                      // acknowledged kvdb writes missing at the end
	doubleGrants int
	events       []string
	samples      []soakSample
}

// soakSample is one node's resources at one point of the soak.
type soakSample struct {
	at         time.Duration
	label      string
	node       string
	pid        int
	rssKiB     int
	goroutines int
	fds        int
	kvdbKiB    int64
}

func newSoakReport(began time.Time) *soakReport {
	return &soakReport{began: began, byCall: map[string]int64{}, served: map[int]map[string]int64{}, failures: map[string]int{}}
}

// round runs the Go, Python and PHP loads on targets for about d, with
// change in the middle of it, and merges what they saw into the report.
// It fails t for every failed call out does not excuse.
func (rep *soakReport) round(t *testing.T, targets []*node, ds dataset, want *wantKV, d time.Duration, change func() (*outage, clusterMap)) *outage {
	t.Helper()
	began := time.Now()
	l := startLoad(t, ds, targets)
	php := startScript(t, "php", targets, func(stopAt string) []string {
		return []string{"php", "testdata/soak.php", stopAt, "soak", "soak"}
	})
	l.warm(t)
	php.warm(t)
	rep.pause(t, targets, began.Add(d/2))
	out, m := change()
	rep.pause(t, targets, began.Add(d))
	res := l.stop(t)
	res.merge(php.stop(t))
	rep.calls += res.Calls
	for _, f := range res.Failures {
		cause := f.Op + ": " + firstWords(f.Err, 8)
		if out.excuses(m, f) {
			rep.excused++
			cause += " (while a killed node's vbuckets failed over)"
		}
		rep.failures[cause]++
	}
	checkFailures(t, m, res, out)
	want.add(res)
	return out
}

// pause waits until at, sampling the nodes every 10 s meanwhile.
func (rep *soakReport) pause(t *testing.T, nodes []*node, at time.Time) {
	for time.Until(at) > 0 {
		time.Sleep(min(time.Until(at), 10*time.Second))
		rep.sample(t, nodes, "")
	}
}

// restart restarts the round's member with SIGTERM under load on the others.
func (rep *soakReport) restart(t *testing.T, nodes []*node, r int, ds dataset, want *wantKV, d time.Duration) (string, []*node) {
	i := 1 + r%(len(nodes)-1) // never the anchor
	victim := nodes[i]
	others := slices.Delete(slices.Clone(nodes), i, i+1)
	rep.round(t, others, ds, want, d, func() (*outage, clusterMap) {
		if err := victim.Stop(t, syscall.SIGTERM); err != nil {
			t.Errorf("%s exit after SIGTERM: %v, want status 0", victim.TCP, err)
		}
		nodes[i] = restartNode(t, victim, others)
		return nil, waitReplicated(t, nodes, 60*time.Second)
	})
	return rep.event(fmt.Sprintf("SIGTERM and restart of %s", victim.TCP)), nodes
}

// killAndRestart kills a member other than the anchor and the coordinator
// with SIGKILL under load on the others, waits for the failover and the
// rebuilt replicas, and starts it again on its files.
func (rep *soakReport) killAndRestart(t *testing.T, nodes []*node, m clusterMap, ds dataset, want *wantKV, d time.Duration) (string, *outage, []*node) {
	victim := pickVictims(m, nodes, 1)[0]
	i := slices.Index(nodes, victim)
	others := slices.Delete(slices.Clone(nodes), i, i+1)
	out := rep.round(t, others, ds, want, d, func() (*outage, clusterMap) {
		out := crash(t, victim, others, mustMap(t, others[0]))
		waitFailedOver(t, others, victim.TCP, 30*time.Second)
		waitReplicated(t, others, 60*time.Second)
		out.back = time.Now()
		nodes[i] = restartNode(t, victim, others)
		return out, waitReplicated(t, nodes, 60*time.Second)
	})
	return rep.event(fmt.Sprintf("kill -9 and restart of %s", victim.TCP)), out, nodes
}

// growAndDrain starts a new member, waits for its share, then drains the
// newest of the others away and stops it, under load on the members that
// stay.
func (rep *soakReport) growAndDrain(t *testing.T, o clusterOpts, nodes []*node, anchor *node, worker int, ds dataset, want *wantKV, d time.Duration) (string, []*node) {
	leaving := nodes[len(nodes)-1]
	stay := slices.Clone(nodes[:len(nodes)-1])
	var joined *node
	rep.round(t, stay, ds, want, d, func() (*outage, clusterMap) {
		dn := testserver.StartFaed(t, t.TempDir(), nodeToml(o, worker))
		joined = &node{Faed: dn, fun: dialNode(t, dn.TCP)}
		waitReplicated(t, append(slices.Clone(nodes), joined), 60*time.Second)
		if code, body := adminPost(t, anchor.Faed, "/cluster/drain?node="+url.QueryEscape(leaving.TCP)); code/100 != 2 {
			t.Fatalf("POST /cluster/drain?node=%s: %d %s", leaving.TCP, code, body)
		}
		testserver.EventuallyNil(t, leaving.TCP+" to hold no vbucket", 60*time.Second, func() error {
			m := mustMap(t, anchor)
			if n := len(m.ownedBy(leaving.TCP)); n > 0 {
				return fmt.Errorf("it owns %d", n)
			}
			for vb, rs := range m.Replicas {
				if slices.Contains(rs, leaving.TCP) {
					return fmt.Errorf("it is a replica of vbucket %d", vb)
				}
			}
			return nil
		})
		if err := leaving.Stop(t, syscall.SIGTERM); err != nil {
			t.Errorf("%s exit after drain and SIGTERM: %v, want status 0", leaving.TCP, err)
		}
		return nil, waitReplicated(t, append(slices.Clone(stay), joined), 60*time.Second)
	})
	return rep.event(fmt.Sprintf("%s joined, %s drained and stopped", joined.TCP, leaving.TCP)), append(stay, joined)
}

func (rep *soakReport) event(what string) string {
	rep.events = append(rep.events, fmt.Sprintf("%6.1fs  %s", time.Since(rep.began).Seconds(), what))
	return what
}

// sample records each node's resources and its per-call counts.
func (rep *soakReport) sample(t *testing.T, nodes []*node, label string) {
	t.Helper()
	for _, n := range nodes {
		pid := n.Pid()
		s := soakSample{at: time.Since(rep.began), label: label, node: n.TCP, pid: pid,
			rssKiB: procStatusKiB(pid, "VmRSS"), fds: countFDs(pid), kvdbKiB: fileKiB(filepath.Join(n.Dir, "kv.db"))}
		var rt struct {
			Goroutines int `json:"goroutines"`
		}
		if err := adminJSON(n.Faed, "/runtime", &rt); err == nil {
			s.goroutines = rt.Goroutines
		}
		var st struct {
			Engine struct {
				PerCall []struct {
					Name  string `json:"name"`
					Count int64  `json:"count"`
				} `json:"per_call"`
			} `json:"engine"`
		}
		if err := adminJSON(n.Faed, "/stats", &st); err == nil {
			counts := map[string]int64{}
			for _, c := range st.Engine.PerCall {
				counts[c.Name] = c.Count
			}
			rep.served[pid] = counts
		}
		rep.samples = append(rep.samples, s)
	}
}

func procStatusKiB(pid int, field string) int {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

func countFDs(pid int) int {
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(fds)
}

func fileKiB(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size() >> 10
}

func firstWords(s string, n int) string {
	w := strings.Fields(s)
	return strings.Join(w[:min(n, len(w))], " ")
}

// checkBounds fails t when the anchor, which ran the whole soak, grew past
// what its load explains: goroutines and descriptors past their level
// after the first round plus a margin, memory past twice it, the kvdb file
// past four times it.
func (rep *soakReport) checkBounds(t *testing.T, anchor *node) {
	t.Helper()
	var curve []soakSample
	for _, s := range rep.samples {
		if s.node == anchor.TCP && s.label != "" {
			curve = append(curve, s)
		}
	}
	if len(curve) < 3 {
		t.Fatalf("only %d labelled samples of %s", len(curve), anchor.TCP)
	}
	warm, end := curve[1], curve[len(curve)-1]
	bounds := []struct {
		what      string
		warm, end int64
		limit     int64
	}{
		{"goroutines", int64(warm.goroutines), int64(end.goroutines), int64(warm.goroutines)*3/2 + 50},
		{"open descriptors", int64(warm.fds), int64(end.fds), int64(warm.fds) + 32},
		{"RSS KiB", int64(warm.rssKiB), int64(end.rssKiB), 2*int64(warm.rssKiB) + 32<<10},
		{"kvdb file KiB", warm.kvdbKiB, end.kvdbKiB, 4*warm.kvdbKiB + 4<<10},
	}
	for _, b := range bounds {
		if b.end > b.limit {
			t.Errorf("%s of %s: %d after the first round, %d at the end: past the bound %d", b.what, anchor.TCP, b.warm, b.end, b.limit)
		}
	}
	if rep.lost > 0 || rep.doubleGrants > 0 {
		t.Errorf("%d acknowledged writes lost, %d held locks granted again", rep.lost, rep.doubleGrants)
	}
}

// write logs the report and writes it to $FAED_ARTIFACTS/soak-report.txt.
func (rep *soakReport) write(t *testing.T) {
	for _, counts := range rep.served {
		for name, n := range counts {
			rep.byCall[name] += n
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "faed soak: %v, %d client calls (Go, Python, PHP)\n\nevents\n", time.Since(rep.began).Round(time.Second), rep.calls)
	for _, e := range rep.events {
		fmt.Fprintf(&b, "  %s\n", e)
	}
	tw := tabwriter.NewWriter(&b, 2, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "\ncalls served by the nodes (a forwarded call counts at each node)\tcalls\n")
	for _, name := range slices.Sorted(maps.Keys(rep.byCall)) {
		fmt.Fprintf(tw, "  %s\t%d\n", name, rep.byCall[name])
	}
	fmt.Fprintf(tw, "\nfailed client calls, by cause\tcalls\n")
	if len(rep.failures) == 0 {
		fmt.Fprintf(tw, "  none\t0\n")
	}
	for _, cause := range slices.Sorted(maps.Keys(rep.failures)) {
		fmt.Fprintf(tw, "  %s\t%d\n", cause, rep.failures[cause])
	}
	fmt.Fprintf(tw, "\nacknowledged kvdb writes lost\t%d\nheld locks granted twice\t%d\n", rep.lost, rep.doubleGrants)
	fmt.Fprintf(tw, "\nnode resources\tat\tpid\tRSS MiB\tgoroutines\tfds\tkvdb KiB\n")
	for _, s := range rep.samples {
		if s.label == "" {
			continue
		}
		fmt.Fprintf(tw, "  %s %s\t%.0fs\t%d\t%.1f\t%d\t%d\t%d\n", s.label, s.node, s.at.Seconds(), s.pid, float64(s.rssKiB)/1024, s.goroutines, s.fds, s.kvdbKiB)
	}
	tw.Flush()
	t.Logf("\n%s", b.String())
	dir := cmp.Or(os.Getenv("FAED_ARTIFACTS"), filepath.Join(os.TempDir(), "faed-artifacts"))
	if err := os.MkdirAll(dir, 0o755); err == nil {
		path := filepath.Join(dir, "soak-report.txt")
		if err := os.WriteFile(path, b.Bytes(), 0o644); err == nil {
			t.Logf("soak report written to %s", path)
		}
	}
}
