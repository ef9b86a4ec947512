package main

import (
	"fmt"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestKeyOwnedBy(t *testing.T) {
	a, b := "127.0.0.1:7001", "127.0.0.1:7002"
	tests := []struct {
		name    string
		owner   string
		owners  []string
		wantErr bool
	}{
		{name: "first of two", owner: a, owners: []string{a, b, a, b}},
		{name: "second of two", owner: b, owners: []string{a, b, a, b}},
		{name: "one vbucket of many", owner: b, owners: append(slices.Repeat([]string{a}, 1023), b)},
		{name: "only node", owner: a, owners: []string{a}},
		{name: "owns nothing", owner: "127.0.0.1:7003", owners: []string{a, b}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := vbucketMap{Version: 7, VBuckets: len(tt.owners), Owners: tt.owners}
			key, err := keyOwnedBy("bench", tt.owner, m)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got key %q for a node that owns nothing", key)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if vb := crc32.ChecksumIEEE([]byte(key)) % uint32(len(tt.owners)); tt.owners[vb] != tt.owner {
				t.Fatalf("key %q is in vbucket %d, owned by %s; want %s", key, vb, tt.owners[vb], tt.owner)
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
				if m.owner(c) == tt.owner {
					t.Fatalf("chose %q, but %q comes first and is owned by %s too", key, c, tt.owner)
				}
			}
		})
	}
}

func TestFetchMap(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/cluster/map":
			fmt.Fprint(w, `{"version":3,"vbuckets":2,"owners":["127.0.0.1:7001","127.0.0.1:7002"],"balance":0}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	m, err := fetchMap(strings.TrimPrefix(s.URL, "http://"))
	if err != nil || m.Version != 3 || len(m.Owners) != 2 {
		t.Fatalf("fetchMap = %+v, %v", m, err)
	}
	if _, err := fetchMap("127.0.0.1:1"); err == nil {
		t.Fatal("fetchMap of nothing listening: no error")
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
