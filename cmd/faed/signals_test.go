package main

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faed/faed/scripts/testserver"
)

// hupLine is what faed logs when SIGHUP reloaded its configuration.
const hupLine = "configuration reloaded"

func TestSighupKeepsServing(t *testing.T) {
	d := testserver.StartFaed(t, t.TempDir(), "")
	for i := range 3 {
		if err := d.Signal(syscall.SIGHUP); err != nil {
			t.Fatalf("SIGHUP %d: %v", i, err)
		}
		// The reload runs on its own goroutine: wait for it, so the
		// next signal is not merged with this one and SIGTERM comes after.
		testserver.Eventually(t, "the reload of SIGHUP "+strconv.Itoa(i+1), 10*time.Second, func() bool {
			return strings.Count(d.Log.String(), hupLine) == i+1
		})
		// A fresh connection each time: the listeners must still accept.
		c := goClient(t, "unix", d.Unix)
		if v, err := c.Ping(context.Background(), rc); err != nil || v == "" {
			t.Fatalf("ping after SIGHUP %d = %q, %v", i, v, err)
		}
	}
	// Had a SIGHUP killed faed, or were one still pending with its default
	// action, the exit would be "signal: hangup", not status 0.
	if err := d.Stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("faed exit after SIGHUP then SIGTERM: %v, want status 0", err)
	}
	<-d.Done() // the log is complete and no longer written
	log := d.Log.String()
	hup, down := strings.LastIndex(log, hupLine), strings.Index(log, "faed shutting down")
	if n := strings.Count(log, hupLine); n != 3 || down < 0 || hup > down {
		t.Fatalf("want %q logged 3 times, before the drain; %d times in:\n%s", hupLine, n, log)
	}
	if _, err := os.Stat(d.Unix); err == nil {
		t.Errorf("unix socket %s left behind after shutdown", d.Unix)
	}
}
