package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/faed/faed/scripts/testserver"
)

// TestReload: faectl reload on a real faed applies a new memcache pool
// (calls to it then reach a real memcached), says nothing changed when
// nothing did, names a key that waits for a restart, and reports a file the
// node refuses with its reason and a failing exit status.
func TestReload(t *testing.T) {
	mc := testserver.StartMemcached(t)
	n := testserver.StartFaed(t, t.TempDir(), "")
	admin := []string{"-admin", n.HTTP}
	n.WriteConfig(t, fmt.Sprintf("[servant.memcache.pools.mc]\nservers = [%q]\n", mc.Addr))
	if out := mustRun(t, append([]string{"reload"}, admin...)...); !strings.Contains(out, "applied servant.memcache") {
		t.Errorf("reload with a new pool printed %q", out)
	}
	// The pool is in force: a degrade switch on it is accepted.
	mustRun(t, append([]string{"degrade"}, append(admin, "-reason", "check", "memcache:mc")...)...)
	if out := mustRun(t, append([]string{"reload"}, admin...)...); !strings.Contains(out, "nothing changed") {
		t.Errorf("reload of the same file printed %q", out)
	}
	n.WriteConfig(t, fmt.Sprintf("[servant.memcache.pools.mc]\nservers = [%q]\n[servant.lcache]\nmax_items = 7\n", mc.Addr))
	if out := mustRun(t, append([]string{"reload"}, admin...)...); !strings.Contains(out, "waiting for a restart") || !strings.Contains(out, "servant.lcache") {
		t.Errorf("reload changing lcache printed %q; want servant.lcache waiting for a restart", out)
	}
	if err := os.WriteFile(n.Config, []byte("[engine]\nno_such_key = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := faectl(append([]string{"reload"}, admin...)...); r.code != 1 || !strings.Contains(r.err, "engine.no_such_key") {
		t.Errorf("reload of a bad file: exit %d, %q; want 1 and the node's reason", r.code, r.err)
	}
}
