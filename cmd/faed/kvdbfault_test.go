package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/faed/faed/scripts/testserver"
)

// TestKvdbDiskFull runs faed with its kvdb on a small tmpfs the test mounts
// and fills: writes past the space answer a clear error, reads of what was
// acknowledged keep working, and once the filesystem grows writes resume
// without restarting faed, nothing acknowledged lost (SPEC §13).
func TestKvdbDiskFull(t *testing.T) {
	dir := mountTmpfs(t, "2m")
	d := testserver.StartFaed(t, dir, "")
	c := goClient(t, "unix", d.Unix)
	ctx := context.Background()
	value := bytes.Repeat([]byte("v"), 64<<10)

	acked := map[string]bool{}
	var full error
	for i := 0; i < 200 && full == nil; i++ { // 200 × 64 KiB is far past 2 MiB
		key := fmt.Sprintf("full-%d", i)
		ok, err := c.KvdbSet(ctx, rc, []byte(key), value)
		switch {
		case err != nil:
			full = err
		case ok:
			acked[key] = true
		}
	}
	if full == nil {
		t.Fatal("200 writes of 64 KiB fitted on a 2 MiB filesystem: the test did not fill it")
	}
	if msg := full.Error(); !strings.Contains(msg, "kvdb_set") || !strings.Contains(strings.ToLower(msg), "no space") {
		t.Errorf("write on a full disk answered %q; want it to name kvdb_set and say there is no space", msg)
	}
	t.Logf("%d writes acknowledged, then: %v", len(acked), full)
	checkAcked := func(when string) {
		t.Helper()
		for key := range acked {
			if got, err := c.KvdbGet(ctx, rc, []byte(key)); err != nil || !bytes.Equal(got, value) {
				t.Fatalf("%s: kvdb_get %s: %d bytes, %v; want the acknowledged value", when, key, len(got), err)
			}
		}
	}
	checkAcked("disk full")
	if pong, err := c.Ping(ctx, rc); err != nil || pong == "" {
		t.Fatalf("ping on a full disk: %q, %v", pong, err)
	}

	remount(t, dir, "32m")
	for i := range 10 {
		key := fmt.Sprintf("after-%d", i)
		if ok, err := c.KvdbSet(ctx, rc, []byte(key), value); err != nil || !ok {
			t.Fatalf("kvdb_set once the disk has room: %v, %v; want writes to resume", ok, err)
		}
		acked[key] = true
	}
	checkAcked("space back")
}

// mountTmpfs mounts a tmpfs of size (e.g. "2m") on a new directory,
// unmounted when the test ends, or skips when this process may not mount.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs for the full disk (root and CAP_SYS_ADMIN needed): %v %s", err, out)
	}
	t.Cleanup(func() {
		// After faed's own cleanup (registered later, so run first).
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

func remount(t *testing.T, dir, size string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,size="+size, dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s with size %s: %v %s", dir, size, err, out)
	}
}

// TestKvdbKill9DuringWrites kills faed with SIGKILL while four clients
// write, restarts it on its file: every acknowledged write is there with
// its last acknowledged value (SPEC §13).
func TestKvdbKill9DuringWrites(t *testing.T) {
	dir := t.TempDir()
	d := testserver.StartFaed(t, dir, "")
	const writers, keys = 4, 20
	acked := make([]map[string]string, writers)
	done := make(chan struct{}, writers)
	for w := range writers {
		acked[w] = map[string]string{}
		c := goClient(t, "unix", d.Unix)
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 100_000; i++ { // bounded; the kill ends it long before
				key, value := fmt.Sprintf("w%d-%d", w, i%keys), fmt.Sprintf("v%d", i)
				ok, err := c.KvdbSet(context.Background(), rc, []byte(key), []byte(value))
				if err != nil {
					return // the kill: this write may or may not be there
				}
				if ok {
					acked[w][key] = value
				}
			}
		}()
	}
	testserver.Eventually(t, "faed to have served 100 writes", faedWait, func() bool { return writesAcked(d, t) >= 100 })
	d.Kill(t)
	for range writers {
		<-done
	}
	d2 := testserver.StartFaed(t, dir, "")
	c := goClient(t, "tcp", d2.TCP)
	n := 0
	for w := range writers {
		for key, want := range acked[w] {
			got, err := c.KvdbGet(context.Background(), rc, []byte(key))
			// The write after the last acknowledged one may have been
			// applied without its answer arriving: the value is that one
			// or a later one of the same writer.
			if err != nil || !notOlder(string(got), want) {
				t.Errorf("after kill -9: kvdb_get %s = %q, %v; want %s or a later write", key, got, err, want)
			}
			n++
		}
	}
	t.Logf("%d acknowledged keys checked after kill -9 and restart", n)
}

// writesAcked reads the kvdb_set count from faed's stats.
func writesAcked(d *testserver.Faed, t *testing.T) int {
	return callStats(t, d)["kvdb_set"].Count
}

// notOlder reports whether value vN is want's vM with N >= M.
func notOlder(got, want string) bool {
	var g, w int
	if _, err := fmt.Sscanf(got, "v%d", &g); err != nil {
		return false
	}
	fmt.Sscanf(want, "v%d", &w)
	return g >= w
}
