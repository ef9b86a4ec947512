package testserver

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// faedPackage is what MainWithFaed builds. A path, not an import: the
// harness imports nothing of ours.
const faedPackage = "github.com/faed/faed/cmd/faed"

// faedBin is the faed binary MainWithFaed built for this test binary, or ""
// if TestMain did not call it. It is written once, before any test runs.
var faedBin string

// MainWithFaed is a TestMain for packages whose tests run faed as a child
// process, the way operators and CI do: it builds faed once into a
// temporary directory, runs the tests, removes the directory and exits.
func MainWithFaed(m *testing.M) {
	dir, err := os.MkdirTemp("", "faed-bin")
	if err != nil {
		fmt.Fprintf(os.Stderr, "testserver: %v\n", err)
		os.Exit(1)
	}
	faedBin = filepath.Join(dir, "faed")
	if out, err := exec.Command("go", "build", "-o", faedBin, faedPackage).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "testserver: building faed: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// FaedBinary returns the path of the faed MainWithFaed built.
func FaedBinary(t testing.TB) string {
	t.Helper()
	if faedBin == "" {
		t.Fatal("testserver: no faed binary: call testserver.MainWithFaed from TestMain")
	}
	return faedBin
}

const (
	faedReady = 30 * time.Second // a -race child on two busy cores once took over 10s to answer
	faedExit  = 15 * time.Second // how long Kill and Stop wait for the process to go
)

// Faed is one faed child process on free loopback ports, with its
// configuration and data in Dir. A Faed is one run of the process: Restart
// returns a new one on the same directory and addresses. Its fields are set
// before it starts and never change; its methods that take no t may be
// called from any goroutine.
type Faed struct {
	Dir    string        // holds faed.toml, faed.sock and kv.db
	Config string        // path of faed.toml
	TCP    string        // host:port of the Thrift TCP listener
	Unix   string        // path of the Thrift unix socket
	HTTP   string        // host:port of the admin server
	Log    *LockedBuffer // this run's stderr; complete once Done is closed

	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and Log is complete
	err  error         // cmd.Wait's result, set before done is closed
}

// NewFaed picks free addresses for a faed in dir, without writing its
// configuration or starting it, so that a test can name them in the
// configuration first.
func NewFaed(t testing.TB, dir string) *Faed {
	t.Helper()
	return &Faed{Dir: dir, Config: filepath.Join(dir, "faed.toml"), TCP: FreePort(t), HTTP: FreePort(t),
		Unix: filepath.Join(dir, "faed.sock"), Log: &LockedBuffer{}, done: make(chan struct{})}
}

// StartFaed is NewFaed followed by Start.
func StartFaed(t testing.TB, dir, extra string) *Faed {
	t.Helper()
	f := NewFaed(t, dir)
	f.Start(t, extra)
	return f
}

// Start writes f's configuration with extra (see WriteConfig), starts faed
// on it and returns once its admin server answers.
func (f *Faed) Start(t testing.TB, extra string) {
	t.Helper()
	f.WriteConfig(t, extra)
	f.Launch(t)
	f.WaitReady(t)
}

// WriteConfig writes f.Config: the TCP and unix listeners, the admin
// server, the kvdb file in f.Dir, and the extra TOML with {{TCP}] replaced
// by f.TCP. Keys extra gives for [engine], [http] or [servant.kvdb] join
// the tables written here (TOML refuses a table defined twice). Writing it
// while faed runs prepares a reload.
func (f *Faed) WriteConfig(t testing.TB, extra string) {
	t.Helper()
	own, rest := splitTables(strings.ReplaceAll(extra, "{{TCP}}", f.TCP))
	cfg := fmt.Sprintf(`
[engine]
listen = ["tcp:%s", "unix:%s"]
%s
[http]
listen = %q
%s
[servant.kvdb]
path = %q
%s
%s`, f.TCP, f.Unix, own["engine"], f.HTTP, own["http"], filepath.Join(f.Dir, "kv.db"), own["servant.kvdb"], rest)
	if err := os.WriteFile(f.Config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ownTables are the tables WriteConfig writes itself.
var ownTables = []string{"engine", "http", "servant.kvdb"}

// splitTables takes the keys of ownTables out of extra, by table, and
// returns the rest of extra (keys before any table header stay in it).
func splitTables(extra string) (own map[string]string, rest string) {
	own = make(map[string]string)
	var others strings.Builder
	table := ""
	for _, line := range strings.SplitAfter(extra, "\n") {
		if name, ok := tableHeader(line); ok {
			table = name
			if slices.Contains(ownTables, table) {
				continue
			}
		}
		if slices.Contains(ownTables, table) {
			own[table] += line
		} else {
			others.WriteString(line)
		}
	}
	return own, others.String()
}

// tableHeader returns the name of the [table] line is the header of.
func tableHeader(line string) (string, bool) {
	h := strings.TrimSpace(line)
	if !strings.HasPrefix(h, "[") || strings.HasPrefix(h, "[[") || !strings.HasSuffix(h, "]") {
		return "", false
	}
	return strings.TrimSpace(h[1 : len(h)-1]), true
}

// Launch starts faed on f.Config without waiting for it to serve. In
// t.Cleanup the process is killed if still running, and its log is printed
// if the test failed.
func (f *Faed) Launch(t testing.TB) {
	t.Helper()
	f.cmd = exec.Command(FaedBinary(t), "-config", f.Config)
	f.cmd.Stderr = f.Log // Wait returns once everything written is copied
	f.cmd.SysProcAttr = sysProcAttr()
	if err := f.cmd.Start(); err != nil {
		t.Fatalf("testserver: starting faed: %v", err)
	}
	go func() {
		f.err = f.cmd.Wait()
		close(f.done)
	}()
	t.Cleanup(func() {
		f.cmd.Process.Kill()
		select {
		case <-f.done:
		case <-time.After(faedExit):
		}
		if t.Failed() {
			// Read only once done: the copy into Log has finished, so the
			// log is whole.
			t.Logf("faed %s log:\n%s", f.TCP, f.Log.String())
		}
	})
}

// WaitReady returns once f's admin server answers GET /ping, and fails the
// test after 30s.
func (f *Faed) WaitReady(t testing.TB) {
	t.Helper()
	Eventually(t, "faed to answer on its admin port "+f.HTTP, faedReady, f.Answers)
}

// Answers reports whether f's admin server answers GET /ping with 200
// within a second.
func (f *Faed) Answers() bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + f.HTTP + "/ping")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Restart starts faed again on the configuration and data of f, which must
// have exited: same directory, same addresses, so a cluster node comes back
// as the member it was. It returns the new run once it answers.
func (f *Faed) Restart(t testing.TB) *Faed {
	t.Helper()
	again := &Faed{Dir: f.Dir, Config: f.Config, TCP: f.TCP, HTTP: f.HTTP, Unix: f.Unix,
		Log: &LockedBuffer{}, done: make(chan struct{})}
	again.Launch(t)
	again.WaitReady(t)
	return again
}

// Signal sends sig to the process.
func (f *Faed) Signal(sig syscall.Signal) error {
	return f.cmd.Process.Signal(sig)
}

// Freeze stops the process (SIGSTOP) and returns once the kernel reports
// it stopped: kill returns before that, and a busy machine may let it
// answer a call meanwhile. Thaw (SIGCONT) lets it go on.
func (f *Faed) Freeze(t testing.TB) {
	t.Helper()
	if err := f.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	Eventually(t, "faed "+f.TCP+" to stop", 5*time.Second, func() bool { return processState(f.Pid()) == 'T' })
}

// Thaw continues a process Freeze stopped.
func (f *Faed) Thaw() { f.Signal(syscall.SIGCONT) }

// processState is the state letter of /proc/PID/stat (R, S, T, …), 0 if unreadable.
func processState(pid int) byte {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// pid (comm) STATE …: comm may hold spaces and parentheses, so from the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return 0
	}
	return data[i+2]
}

// Pid is the process id of this run.
func (f *Faed) Pid() int { return f.cmd.Process.Pid }

// Done is closed once the process has exited and its Log is complete.
func (f *Faed) Done() <-chan struct{} { return f.done }

// Err waits until Done is closed and returns the process's exit: nil for
// status 0, else an *exec.ExitError.
func (f *Faed) Err() error {
	<-f.done
	return f.err
}

// Kill kills faed with SIGKILL, as a crash would, and waits until it is gone.
func (f *Faed) Kill(t testing.TB) {
	t.Helper()
	f.Signal(syscall.SIGKILL)
	select {
	case <-f.done:
	case <-time.After(faedExit):
		t.Fatalf("faed %s still running %v after SIGKILL", f.TCP, faedExit)
	}
}

// Stop sends sig, waits for the process to exit and returns its exit (see
// Err); it fails the test if faed is still running after 15s.
func (f *Faed) Stop(t testing.TB, sig syscall.Signal) error {
	t.Helper()
	f.Signal(sig)
	select {
	case <-f.done:
		return f.err
	case <-time.After(faedExit):
		t.Fatalf("faed %s did not exit within %v of %v", f.TCP, faedExit, sig)
		return nil
	}
}
