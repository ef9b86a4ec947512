package servant

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"faed/idl/gen-go/fun/rpc"
	"faed/servant/idgen"
	"faed/servant/lcache"
)

var _ rpc.FunServant = (*FunServant)(nil)

var rc = &rpc.Context{Rid: 1, Reason: "test", UID: 2}

func newServant(t *testing.T) *FunServant {
	t.Helper()
	cfg := DefaultConfig()
	cfg.KVDB.Path = filepath.Join(t.TempDir(), "kv.db")
	cfg.IDGen.WorkerID = 9
	s, err := New(cfg, Options{Version: "test", Node: "n1", Log: slog.New(slog.DiscardHandler)})
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

func TestPing(t *testing.T) {
	s := newServant(t)
	v, err := s.Ping(context.Background(), rc)
	if err != nil || !strings.Contains(v, "test") || !strings.Contains(v, "n1") {
		t.Fatalf("ping = %q, %v; want version and node", v, err)
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
