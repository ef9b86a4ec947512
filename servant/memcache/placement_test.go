package memcache

import (
	"context"
	"fmt"
	"hash/crc32"
	"os/exec"
	"strings"
	"testing"
)

// phpStandard is the PHP extension's standard strategy written out again, on
// its own, so the test does not check the code with itself.
func phpStandard(key string, n int) int {
	h := crc32.NewIEEE()
	h.Write([]byte(key))
	v := int(h.Sum32()>>16) & 0x7fff
	if v == 0 {
		v = 1
	}
	return v % n
}

func TestStandardPlacement(t *testing.T) {
	_, addrs := startMemcached(t, 3)
	c := newTestClient(t, testPoolConfig(addrs...))
	keys := []string{"k25"} // its hash is 0: server 1, not 0
	for i := range 60 {
		keys = append(keys, keyN("place", i))
	}
	perServer := make([]int, len(addrs))
	for _, key := range keys {
		value := []byte("v-" + key)
		if err := c.Set(context.Background(), "p", key, value, 0, 0); err != nil {
			t.Fatal(err)
		}
		want := phpStandard(key, len(addrs))
		perServer[want]++
		for i, addr := range addrs {
			if has := rawHas(t, addr, key, value); has != (i == want) {
				t.Fatalf("key %q on server %d: %v; want it only on server %d", key, i, has, want)
			}
		}
	}
	if phpStandard("k25", 3) != 1 {
		t.Error("k25 should go to server 1")
	}
	t.Logf("keys per server: %v", perServer)
}

func TestConsistentPlacement(t *testing.T) {
	_, addrs := startMemcached(t, 3)
	pc := testPoolConfig(addrs...)
	pc.Selection = SelectConsistent
	c := newTestClient(t, pc)
	used := map[string]bool{}
	for i := range 60 {
		key, value := keyN("ring", i), []byte(keyN("v", i))
		if err := c.Set(context.Background(), "p", key, value, 0, 0); err != nil {
			t.Fatal(err)
		}
		servers, _ := c.Servers("p", key)
		used[servers[0]] = true
		for _, addr := range addrs {
			if has := rawHas(t, addr, key, value); has != (addr == servers[0]) {
				t.Fatalf("key %q on %s: %v; want it only on %s", key, addr, has, servers[0])
			}
		}
	}
	if len(used) != len(addrs) {
		t.Errorf("60 keys used only %d of %d servers", len(used), len(addrs))
	}
}

// TestPHPExtensionAgrees lets the PHP memcache extension itself store keys,
// then checks faed's selection puts each key where PHP did.
func TestPHPExtensionAgrees(t *testing.T) {
	if out, err := exec.Command("php", "-m").Output(); err != nil || !strings.Contains(string(out), "memcache\n") {
		t.Skip("php with the memcache extension is not installed (Debian: php-cli php-memcache); " +
			"the formula is still checked against values computed with PHP's crc32 in TestStandardIndex")
	}
	_, addrs := startMemcached(t, 4)
	pools := map[string]PoolConfig{}
	for _, sel := range []string{SelectStandard, SelectPHPConsistent} {
		pc := testPoolConfig(addrs...)
		pc.Selection = sel
		pools[sel] = pc
	}
	c, err := New(Config{Pools: pools})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	for strategy, sel := range map[string]string{"standard": SelectStandard, "consistent": SelectPHPConsistent} {
		t.Run(strategy, func(t *testing.T) {
			keys := phpSet(t, strategy, addrs, 300)
			for _, key := range keys {
				servers, _ := c.Servers(sel, key)
				if !rawHas(t, servers[0], key, []byte("php-"+key)) {
					t.Fatalf("PHP (%s) put %q elsewhere than %s", strategy, key, servers[0])
				}
			}
		})
	}
}

// phpSet stores n keys, and a few special ones, through the PHP memcache
// extension with the given hash strategy, and returns them.
func phpSet(t *testing.T, strategy string, addrs []string, n int) []string {
	t.Helper()
	const script = `$m = new Memcache();
foreach (explode(',', $argv[1]) as $s) { [$h, $p] = explode(':', $s); $m->addServer($h, (int)$p); }
$keys = explode(',', $argv[4]);
for ($i = 0; $i < (int)$argv[2]; $i++) { $keys[] = $argv[3] . $i; }
foreach ($keys as $k) {
	if (!$m->set($k, "php-$k", 0, 0)) { fwrite(STDERR, "set $k failed\n"); exit(1); }
}`
	prefix := strategy + ":k"
	// Whose standard hash is 0, which the extension turns into 1.
	keys := []string{"k25", "k30507", "k59206"}
	cmd := exec.Command("php", "-d", "memcache.hash_strategy="+strategy, "-d", "memcache.hash_function=crc32",
		"-r", script, "--", strings.Join(addrs, ","), fmt.Sprint(n), prefix, strings.Join(keys, ","))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("php: %v\n%s", err, out)
	}
	for i := range n {
		keys = append(keys, fmt.Sprintf("%s%d", prefix, i))
	}
	return keys
}
