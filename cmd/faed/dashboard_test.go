package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faed/faed/scripts/testserver"
)

// TestDashboard loads the admin server's page at / in real headless
// Chromium while a client calls faed: no console message (a script error or
// a refused load under the page's Content-Security-Policy shows there), its
// charts drawn and the calls table showing the calls made. A screenshot is
// kept in $FAED_ARTIFACTS (default /tmp/faed-artifacts) as dashboard.png.
func TestDashboard(t *testing.T) {
	browser := findChromium(t)
	d := testserver.StartFaed(t, t.TempDir(), "")
	stop := callWhile(t, d)
	defer stop()

	url := "http://" + d.HTTP + "/"
	// The virtual time budget lets the page's one-second polls run several
	// times without the test waiting for them in real time.
	run := func(extra ...string) (stdout, stderr string) {
		ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
		defer cancel()
		args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + t.TempDir(),
			"--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", "--window-size=1280,1100"}, extra...)
		cmd := exec.CommandContext(ctx, browser, append(args, url)...)
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v\n%s", browser, err, errOut.String())
		}
		return out.String(), errOut.String()
	}
	dom, log := run("--dump-dom")
	if console := consoleLines(log); len(console) > 0 {
		t.Errorf("the page logged to its console:\n%s", strings.Join(console, "\n"))
	}
	if n := strings.Count(dom, "<canvas"); n != 4 {
		t.Errorf("%d charts drawn, want 4 (calls/s, errors/s, sessions, p99)", n)
	}
	if !regexp.MustCompile(`<td>lc_get</td><td class="num">[1-9]`).MatchString(dom) {
		t.Errorf("the calls table shows no lc_get calls; page:\n%.3000s", dom)
	}
	if !strings.Contains(dom, `id="status">up `) {
		t.Errorf("the status line does not say faed is up; page:\n%.3000s", dom)
	}

	dir := os.Getenv("FAED_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "faed-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "dashboard.png")
	run("--screenshot=" + shot)
	if st, err := os.Stat(shot); err != nil || st.Size() < 10_000 {
		t.Fatalf("screenshot %s: %v (want a picture of the page)", shot, err)
	}
	t.Logf("screenshot of the dashboard: %s", shot)
}

// findChromium returns Debian's chromium, or skips (fails under
// FAED_REQUIRE_SERVERS, as `make test` runs after installing it).
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "chromium is not installed (apt-get install chromium); `make test` installs it"
	if os.Getenv("FAED_REQUIRE_SERVERS") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// consoleLines picks the page's console messages out of Chromium's log.
func consoleLines(log string) []string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, ":CONSOLE") {
			out = append(out, line)
		}
	}
	return out
}

// callWhile makes lc_set and lc_get calls on d until the returned stop is
// called (at most a minute), so the page has calls to chart.
func callWhile(t *testing.T, d *testserver.Faed) (stop func()) {
	c := goClient(t, "tcp", d.TCP)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		deadline := time.Now().Add(time.Minute)
		for i := 0; time.Now().Before(deadline); i++ {
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
			if _, err := c.LcSet(context.Background(), rc, "dash", []byte("v")); err != nil {
				return
			}
			if _, err := c.LcGet(context.Background(), rc, "dash"); err != nil {
				return
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}
