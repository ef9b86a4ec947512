package memcache

import (
	"context"
	"slices"
	"testing"
)

func TestReplicaWrites(t *testing.T) {
	_, addrs := startMemcached(t, 3)
	for _, sel := range []string{SelectStandard, SelectConsistent} {
		t.Run(sel, func(t *testing.T) {
			pc := testPoolConfig(addrs...)
			pc.Selection, pc.Replicas = sel, 2
			c := newTestClient(t, pc)
			for i := range 30 {
				key, value := keyN(sel, i), []byte(keyN("v", i))
				if err := c.Set(context.Background(), "p", key, value, 0, 0); err != nil {
					t.Fatal(err)
				}
				holders := checkHolders(t, c, addrs, key, value)
				if sel == SelectStandard {
					p := phpStandard(key, len(addrs))
					want := []string{addrs[p], addrs[(p+1)%len(addrs)]}
					if !slices.Equal(holders, want) {
						t.Fatalf("key %q on %v, want the primary and the next server %v", key, holders, want)
					}
				}
			}
		})
	}
}

// checkHolders checks key is on exactly the two servers Servers names, and
// returns them.
func checkHolders(t *testing.T, c *Client, addrs []string, key string, value []byte) []string {
	t.Helper()
	holders, _ := c.Servers("p", key)
	if len(holders) != 2 {
		t.Fatalf("Servers(%q) = %v, want 2", key, holders)
	}
	for _, addr := range addrs {
		if has := rawHas(t, addr, key, value); has != slices.Contains(holders, addr) {
			t.Fatalf("key %q on %s: %v; want it on %v only", key, addr, has, holders)
		}
	}
	return holders
}

func TestReplicaWritesAllCalls(t *testing.T) {
	_, addrs := startMemcached(t, 2)
	pc := testPoolConfig(addrs...)
	pc.Replicas = 2
	c := newTestClient(t, pc)
	if ok, err := c.Add(context.Background(), "p", "n", []byte("5"), 0, 0); !ok || err != nil {
		t.Fatalf("Add = %v, %v", ok, err)
	}
	if v, err := c.Increment(context.Background(), "p", "n", -2); v != 3 || err != nil {
		t.Fatalf("Increment = %d, %v", v, err)
	}
	checkHolders(t, c, addrs, "n", []byte("3"))
	if ok, err := c.Delete(context.Background(), "p", "n"); !ok || err != nil {
		t.Fatalf("Delete = %v, %v", ok, err)
	}
	for _, addr := range addrs {
		if rawHas(t, addr, "n", nil) {
			t.Errorf("deleted key still on %s", addr)
		}
	}
}

func TestReplicaReadFallback(t *testing.T) {
	ms, addrs := startMemcached(t, 3)
	pc := testPoolConfig(addrs...)
	pc.Replicas = 2
	c := newTestClient(t, pc)
	// Keys whose primary is server 0 and replica server 1.
	var keys []string
	for i := 0; len(keys) < 10; i++ {
		if key := keyN("fb", i); phpStandard(key, 3) == 0 {
			keys = append(keys, key)
			if err := c.Set(context.Background(), "p", key, []byte("v-"+key), 0, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	checkMissDoesNotFallBack(t, c, addrs, keys[0])

	ms[0].Stop()
	for _, key := range keys[1:] {
		if v, _, err := c.Get(context.Background(), "p", key); err != nil || string(v) != "v-"+key {
			t.Fatalf("Get(%q) with the primary down = %q, %v; want the replica's value", key, v, err)
		}
	}
	// Writes go on too, to the replica, and reads see them.
	if err := c.Set(context.Background(), "p", keys[1], []byte("new"), 0, 0); err != nil {
		t.Fatalf("Set with the primary down: %v", err)
	}
	if v, _, err := c.Get(context.Background(), "p", keys[1]); err != nil || string(v) != "new" {
		t.Fatalf("Get after Set with the primary down = %q, %v", v, err)
	}
	if st := serverStats(t, c, addrs[0]); st.Errors == 0 {
		t.Error("the stopped primary counted no errors")
	}
}

// checkMissDoesNotFallBack removes key from its primary only, and checks that
// Get answers the primary's miss without asking the replica.
func checkMissDoesNotFallBack(t *testing.T, c *Client, addrs []string, key string) {
	t.Helper()
	if err := raw(addrs[0]).Delete(key); err != nil {
		t.Fatal(err)
	}
	before := serverStats(t, c, addrs[1]).Calls
	if _, _, err := c.Get(context.Background(), "p", key); err != ErrMiss {
		t.Fatalf("Get of a key only the replica holds = %v, want ErrMiss from the primary", err)
	}
	if after := serverStats(t, c, addrs[1]).Calls; after != before {
		t.Errorf("a plain miss on the primary went on to the replica")
	}
}
