package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// TestKvdbDiskFull runs faed with its kvdb on a small tmpfs the test mounts
// and fills: writes past the space answer a clear error, reads of what was
// acknowledged keep working, and once the filesystem grows writes resume
// without restarting faed, nothing acknowledged lost (SPEC §13).
func TestKvdbDiskFull(t *testing.T) {
	dir := mountTmpfs(t, "2m")
	d := startFaed(t, dir, "")
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
