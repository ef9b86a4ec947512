package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/faed/faed/scripts/testserver"
)

// TestDegrade switches a real memcached pool of a faed degraded and back
// with faectl, and reads the list in between.
func TestDegrade(t *testing.T) {
	mc := testserver.StartMemcached(t)
	n := testserver.StartFaed(t, t.TempDir(), fmt.Sprintf("[servant.memcache.pools.mc]\nservers = [%q]\n", mc.Addr))
	admin := []string{"-admin", n.HTTP}
	if out := mustRun(t, append([]string{"degrade"}, admin...)...); !strings.Contains(out, "no degrade switch in force") {
		t.Errorf("degrade with no switch printed %q", out)
	}
	if r := faectl(append([]string{"degrade"}, append(admin, "memcache:mc")...)...); r.code == 0 || !strings.Contains(r.err, "-reason") {
		t.Errorf("degrade without -reason: exit %d, %q; want a usage error asking for it", r.code, r.err)
	}
	if r := faectl(append([]string{"degrade"}, append(admin, "-reason", "x", "memcache:nope")...)...); r.code == 0 || !strings.Contains(r.err, `no pool "nope"`) {
		t.Errorf("degrade of a pool that does not exist: exit %d, %q; want the node's refusal", r.code, r.err)
	}
	mustRun(t, append([]string{"degrade"}, append(admin, "-reason", "memcached upgrade", "-who", "ops", "memcache:mc")...)...)
	out := mustRun(t, append([]string{"degrade"}, admin...)...)
	if f := row(out, "memcache:mc"); len(f) < 2 || f[1] != "degraded" || !strings.Contains(out, "by ops: memcached upgrade") {
		t.Errorf("degrade list printed %q; want memcache:mc degraded … by ops: memcached upgrade", out)
	}
	mustRun(t, append([]string{"undegrade"}, append(admin, "memcache:mc")...)...)
	if out := mustRun(t, append([]string{"degrade"}, admin...)...); !strings.Contains(out, "no degrade switch in force") {
		t.Errorf("degrade list after undegrade printed %q", out)
	}
}
