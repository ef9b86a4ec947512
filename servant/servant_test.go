package servant

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/peer/vbucket"
	"github.com/faed/faed/servant/idgen"
	"github.com/faed/faed/servant/lcache"
)

var _ rpc.FunServant = (*FunServant)(nil)

var rc = &rpc.Context{Rid: 1, Reason: "test", UID: 2}

func newServant(t testing.TB) *FunServant { return newServantWith(t, nil) }

// newServantWith is newServant in a cluster placed by r (nil: none).
func newServantWith(t testing.TB, r Router) *FunServant { return newServantCfg(t, r, DefaultConfig()) }

// newServantCfg is newServantWith on cfg, its kvdb path and worker id set.
func newServantCfg(t testing.TB, r Router, cfg Config) *FunServant {
	t.Helper()
	cfg.KVDB.Path = filepath.Join(t.TempDir(), "kv.db")
	cfg.IDGen.WorkerID = 9
	s, err := New(cfg, Options{Version: "test", Log: slog.New(slog.DiscardHandler), Router: r})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestIDs(t *testing.T) {
	s := newServant(t)
	ctx := context.Background()
	id, err := s.IDNextWithTag(ctx, rc, 5)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := s.IDDecode(ctx, rc, id)
	if err != nil {
		t.Fatal(err)
	}
	if ms := parts[0]; time.Since(time.UnixMilli(ms)).Abs() > time.Minute || parts[1] != 5 || parts[2] != 9 {
		t.Fatalf("id_decode(%d) = %v, want [now, 5, 9, seq]", id, parts)
	}
	for _, tag := range []int16{-1, 32} {
		if _, err := s.IDNextWithTag(ctx, rc, tag); !errors.Is(err, idgen.ErrBadTag) {
			t.Fatalf("tag %d: want ErrBadTag, got %v", tag, err)
		}
	}
	if _, err := s.IDDecode(ctx, rc, -5); err == nil {
		t.Fatal("id_decode of a negative id: want an error")
	}
}

func TestCacheErrorsMapToTheWire(t *testing.T) {
	s := newServant(t)
	ctx := context.Background()
	var miss *rpc.TCacheMissed
	if _, err := s.LcGet(ctx, rc, "absent"); !errors.As(err, &miss) || miss.GetMessage() == "" {
		t.Fatalf("lc_get miss = %v, want TCacheMissed with a message", err)
	}
	long := strings.Repeat("k", 251)
	if _, err := s.LcSet(ctx, rc, long, []byte("v")); !errors.Is(err, lcache.ErrKeyTooLong) || errors.As(err, &miss) {
		t.Fatalf("lc_set with a 251-byte key = %v, want ErrKeyTooLong", err)
	}
	if _, err := s.LcSet(ctx, rc, "", []byte("v")); err == nil {
		t.Fatal("lc_set with an empty key: want an error")
	}
	if _, err := s.KvdbGet(ctx, rc, []byte("absent")); !errors.As(err, &miss) {
		t.Fatalf("kvdb_get miss = %v, want TCacheMissed", err)
	}
}

func TestLocks(t *testing.T) {
	s := newServant(t)
	ctx := context.Background()
	steps := []struct {
		name string
		do   func() (bool, error)
		want bool
	}{
		{"first lock", func() (bool, error) { return s.Lock(ctx, rc, "r", "k") }, true},
		{"second lock refused", func() (bool, error) { return s.Lock(ctx, rc, "r", "k") }, false},
		{"unlock", func() (bool, error) { return true, s.Unlock(ctx, rc, "r", "k") }, true},
		{"lock after unlock", func() (bool, error) { return s.Lock(ctx, nil, "r", "k") }, true},
	}
	for _, st := range steps {
		if got, err := st.do(); err != nil || got != st.want {
			t.Fatalf("%s = %v, %v; want %v", st.name, got, err, st.want)
		}
	}
}

func TestUnconfiguredServantsSaySo(t *testing.T) {
	s := newServant(t)
	ctx := context.Background()
	calls := map[string]func() error{
		"memcache": func() error { _, err := s.McGet(ctx, rc, "default", "k"); return err },
		"mysql":    func() error { _, err := s.MyQuery(ctx, rc, "db", "t", 1, "SELECT 1", nil, ""); return err },
		"mongodb":  func() error { _, err := s.MgCount(ctx, rc, "db", "t", 0, nil); return err },
		"zk":       func() error { _, err := s.ZkChildren(ctx, rc, "/"); return err },
	}
	for servant, call := range calls {
		if err := call(); err == nil || err.Error() != "servant "+servant+" is not configured" {
			t.Errorf("%s call = %v, want \"servant %s is not configured\"", servant, err, servant)
		}
	}
}

func TestPingAnswersInTheOriginalFormat(t *testing.T) {
	s := newServant(t)
	v, err := s.Ping(context.Background(), rc)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`^ver:test, build:(\S+), myid:9, uptime:(\S+)$`).FindStringSubmatch(v)
	if m == nil {
		t.Fatalf("ping = %q; want \"ver:test, build:<build>, myid:9, uptime:<duration>\"", v)
	}
	if up, err := time.ParseDuration(m[2]); err != nil || up <= 0 {
		t.Errorf("ping uptime %q: %v; want a positive Go duration", m[2], err)
	}
}

// staticRing is the part of a test Router whose view never changes.
type staticRing struct{}

func (staticRing) Changed() (uint64, <-chan struct{})              { return 1, nil }
func (staticRing) CountReceived()                                  {}
func (staticRing) VBuckets() int                                   { return testVBuckets }
func (staticRing) AwaitView(context.Context, uint64, uint64) error { return nil }
func (staticRing) Replicas(int) (uint64, []string)                 { return 1, nil }
func (staticRing) ReplicaTimeout() time.Duration                   { return time.Second }
func (staticRing) PeerToken() ([]byte, error)                      { return nil, nil }
func (staticRing) DropReplica(context.Context, int, string) error {
	return errors.New("staticRing: no replicas to drop")
}

const testVBuckets = 1024

// elsewhere is the placement of every vbucket on addr, at map version 1.
func elsewhere(addr string) vbucket.Placement {
	return vbucket.Placement{Owner: addr, Version: 1}
}

// ownerElsewhere is a Router under which every key belongs to another node,
// reached by calling owner directly.
type ownerElsewhere struct {
	staticRing
	owner rpc.FunServant
	sent  []*rpc.Context // the contexts forwarded, in order
}

func (r *ownerElsewhere) Owner(string) vbucket.Placement { return elsewhere("owner:1") }
func (r *ownerElsewhere) VBucket(int) vbucket.Placement  { return elsewhere("owner:1") }
func (r *ownerElsewhere) Forward(_ context.Context, _ string, fn func(rpc.FunServant) error) error {
	return fn(contextRecorder{r.owner, &r.sent})
}

// contextRecorder is a peer client that notes the context of each call it
// passes on; only the calls TestMissingContextIsEmpty forwards are wrapped.
type contextRecorder struct {
	rpc.FunServant
	sent *[]*rpc.Context
}

func (c contextRecorder) LcSet(ctx context.Context, rc *rpc.Context, key string, value []byte) (bool, error) {
	*c.sent = append(*c.sent, rc)
	return c.FunServant.LcSet(ctx, rc, key, value)
}

func (c contextRecorder) KvdbGet(ctx context.Context, rc *rpc.Context, key []byte) ([]byte, error) {
	*c.sent = append(*c.sent, rc)
	return c.FunServant.KvdbGet(ctx, rc, key)
}

// TestMissingContextIsEmpty calls with the nil *rpc.Context the generated
// readers pass when a caller left reqCtx out: every call is served as if
// the context were empty, on one node and when forwarded to the owner,
// which receives an empty sticky context.
func TestMissingContextIsEmpty(t *testing.T) {
	ctx := context.Background()
	owner := newServant(t)
	alone := newServant(t)
	router := &ownerElsewhere{owner: owner}
	forwarder := newServantWith(t, router)
	for name, s := range map[string]*FunServant{"one node": alone, "forwarded": forwarder} {
		t.Run(name, func(t *testing.T) {
			key := "nil-ctx-" + strings.ReplaceAll(name, " ", "-")
			calls := []struct {
				name string
				call func() error
			}{
				{"ping", func() error { _, err := s.Ping(ctx, nil); return err }},
				{"id_next", func() error { _, err := s.IDNext(ctx, nil); return err }},
				{"id_next_with_tag", func() error { _, err := s.IDNextWithTag(ctx, nil, 3); return err }},
				{"id_decode", func() error { _, err := s.IDDecode(ctx, nil, 1<<22); return err }},
				{"lc_set", func() error { _, err := s.LcSet(ctx, nil, key, []byte("v")); return err }},
				{"lc_get", func() error { _, err := s.LcGet(ctx, nil, key); return err }},
				{"lc_del", func() error { return s.LcDel(ctx, nil, key) }},
				{"lock", func() error { _, err := s.Lock(ctx, nil, "r", key); return err }},
				{"unlock", func() error { return s.Unlock(ctx, nil, "r", key) }},
				{"kvdb_set", func() error { _, err := s.KvdbSet(ctx, nil, []byte(key), []byte("v")); return err }},
				{"kvdb_get", func() error { _, err := s.KvdbGet(ctx, nil, []byte(key)); return err }},
				{"kvdb_del", func() error { _, err := s.KvdbDel(ctx, nil, []byte(key)); return err }},
			}
			for _, c := range calls {
				if err := c.call(); err != nil {
					t.Errorf("%s without a context: %v", c.name, err)
				}
			}
		})
	}
	if len(router.sent) != 2 {
		t.Fatalf("the owner received %d recorded calls, want 2 (lc_set, kvdb_get)", len(router.sent))
	}
	for _, sent := range router.sent {
		if sent == nil || !sent.GetSticky() || sent.Rid != 0 || sent.Reason != "" || sent.UID != 0 {
			t.Errorf("forwarded context = %+v; want an empty context marked sticky", sent)
		}
	}
}

func TestEmptyValuesAreAnswersNotNil(t *testing.T) {
	s := newServant(t)
	ctx := context.Background()
	if _, err := s.LcSet(ctx, rc, "empty", nil); err != nil {
		t.Fatal(err)
	}
	if v, err := s.LcGet(ctx, rc, "empty"); err != nil || v == nil {
		t.Fatalf("lc_get of an empty value = %#v, %v; want a non-nil empty slice (nil is 'unknown result' on the wire)", v, err)
	}
	if _, err := s.KvdbSet(ctx, rc, []byte("empty"), nil); err != nil {
		t.Fatal(err)
	}
	if v, err := s.KvdbGet(ctx, rc, []byte("empty")); err != nil || v == nil {
		t.Fatalf("kvdb_get of an empty value = %#v, %v; want a non-nil empty slice", v, err)
	}
}
