package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"faed/peer"
)

func TestKeyOwnedBy(t *testing.T) {
	two := []string{"127.0.0.1:7001", "127.0.0.1:7002"}
	three := []string{"10.0.0.3:9001", "10.0.0.1:9001", "10.0.0.2:9001"}
	tests := []struct {
		name    string
		owner   string
		members []string
		wantErr bool
	}{
		{name: "first of two", owner: two[0], members: two},
		{name: "second of two", owner: two[1], members: two},
		{name: "listed order does not matter", owner: three[0], members: three},
		{name: "middle of three", owner: three[2], members: three},
		{name: "only member", owner: two[0], members: two[:1]},
		{name: "not a member", owner: "127.0.0.1:7003", members: two, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := keyOwnedBy("bench", tt.owner, tt.members)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got key %q for a non-member", key)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// faed routes with a ring built from the same members in any order.
			ring := peer.NewRing(slices.Concat(tt.members[1:], tt.members[:1]), peer.DefaultVirtualNodes, 7)
			if got := ring.Owner(key); got != tt.owner {
				t.Fatalf("key %q is owned by %s, want %s", key, got, tt.owner)
			}
			if key != "bench" && !strings.HasPrefix(key, "bench-") {
				t.Fatalf("key %q does not extend the prefix", key)
			}
			// It is the first candidate the owner has.
			for i := 0; ; i++ {
				c := "bench"
				if i > 0 {
					c = fmt.Sprintf("bench-%d", i)
				}
				if c == key {
					break
				}
				if ring.Owner(c) == tt.owner {
					t.Fatalf("chose %q, but %q comes first and is owned by %s too", key, c, tt.owner)
				}
			}
		})
	}
}

// The local and the forwarded run get different keys, and the same ones
// every time.
func TestKeyOwnedByTwoNodes(t *testing.T) {
	a, b := "127.0.0.1:7001", "127.0.0.1:7002"
	ka, err1 := keyOwnedBy("faebench", a, []string{a, b})
	kb, err2 := keyOwnedBy("faebench", b, []string{b, a})
	again, _ := keyOwnedBy("faebench", a, []string{a, b})
	if err1 != nil || err2 != nil || ka == kb || again != ka {
		t.Fatalf("keys %q (again %q), %q; errors %v, %v", ka, again, kb, err1, err2)
	}
}

func TestParseMembers(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr bool
	}{
		{name: "two", in: "127.0.0.1:1,127.0.0.1:2", want: []string{"127.0.0.1:1", "127.0.0.1:2"}},
		{name: "spaces", in: " 127.0.0.1:1 , [::1]:2", want: []string{"127.0.0.1:1", "[::1]:2"}},
		{name: "no port", in: "127.0.0.1", wantErr: true},
		{name: "empty", in: "", wantErr: true},
		{name: "trailing comma", in: "127.0.0.1:1,", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMembers(tt.in)
			if (err != nil) != tt.wantErr || strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("got %q, %v; want %q (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// statsServer answers GET /stats as faed does, with the second member
// showing up only from the third request on.
func statsServer(t *testing.T, withCluster bool) *httptest.Server {
	var n atomic.Int32
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/stats" {
			http.NotFound(w, r)
			return
		}
		members := `["127.0.0.1:7002"]`
		if n.Add(1) >= 3 {
			members = `["127.0.0.1:7002","127.0.0.1:7001"]`
		}
		if !withCluster {
			fmt.Fprint(w, `{"engine":{"calls":0},"servant":{}}`)
			return
		}
		fmt.Fprintf(w, `{"engine":{"calls":0},"cluster":{"Self":"127.0.0.1:7001","Members":%s}}`, members)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestWaitMembers(t *testing.T) {
	want := []string{"127.0.0.1:7001", "127.0.0.1:7002"}
	s := statsServer(t, true)
	if err := waitMembers(strings.TrimPrefix(s.URL, "http://"), want, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	err := waitMembers(strings.TrimPrefix(s.URL, "http://"), append(want, "127.0.0.1:7003"), 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:7003") {
		t.Fatalf("err = %v, want one naming the missing member", err)
	}
	s = statsServer(t, false)
	err = waitMembers(strings.TrimPrefix(s.URL, "http://"), want, 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "no cluster members") {
		t.Fatalf("err = %v for a node without a cluster", err)
	}
}

func TestPidList(t *testing.T) {
	var p pidList
	if err := p.Set("12, 34"); err != nil || p.String() != "12,34" {
		t.Fatalf("got %v, %v", p, err)
	}
	if err := p.Set("56"); err != nil || p.String() != "56" {
		t.Fatalf("a later -pid did not replace: %v, %v", p, err)
	}
	for _, bad := range []string{"", "0", "x", "1,", "-3"} {
		if err := p.Set(bad); err == nil {
			t.Errorf("-pid %q accepted", bad)
		}
	}
}
