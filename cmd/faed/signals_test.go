package main

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"

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
	hup, down := strings.Index(log, hupLine), strings.Index(log, "faed shutting down")
	// Signals sent close together may merge, so at least one line.
	if hup < 0 || down < 0 || hup > down {
		t.Fatalf("want %q logged before the drain, got:\n%s", hupLine, log)
	}
	if _, err := os.Stat(d.Unix); err == nil {
		t.Errorf("unix socket %s left behind after shutdown", d.Unix)
	}
}
