package servant

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/peer/vbucket"
	"github.com/faed/faed/servant/kvdb"
	"github.com/faed/faed/servant/mysql"
)

// withMySQL configures a mysql pool that is never dialled: the tests use
// only its query cache.
func withMySQL() Config {
	cfg := DefaultConfig()
	cfg.MySQL.Pools = map[string]mysql.PoolConfig{"app": {Addr: "127.0.0.1:1", User: "u", Database: "d"}}
	return cfg
}

// TestHandOff moves a vbucket from a to b the way the coordinator does,
// with kvdb writes and deletes between every step, and checks that b has
// every acknowledged write, a held lock, the cache entries, and that a
// keeps nothing once it sees the flip.
func TestHandOff(t *testing.T) {
	ctx := context.Background()
	a, b := twoNodes(t)
	a.FunServant = newServantCfg(t, a.view, withMySQL())
	b.FunServant = newServantCfg(t, b.view, withMySQL())
	a.view.peers["b:1"], b.view.peers["a:1"] = b.FunServant, a.FunServant
	const vb = 5
	keys := keysIn(vb, 1500, "kv") // more than a page
	seed(t, a, vb, keys)
	want := map[string]string{}
	for i, k := range keys {
		want[k] = fmt.Sprintf("v0-%d", i)
	}
	write := func(key, value string) { // through a, while it serves
		if value == "" {
			if _, err := a.KvdbDel(ctx, rc, []byte(key)); err != nil {
				t.Fatal(err)
			}
			delete(want, key)
			return
		}
		mustKvdbSet(t, a, key, value)
		want[key] = value
	}
	extra := keysIn(vb, 3, "extra")

	a.view.set(vb, vbucket.Placement{Outgoing: true}, false)
	b.view.set(vb, vbucket.Placement{Owner: "a:1", Incoming: true}, false)
	var cursor []byte
	for page := 0; ; page++ {
		batch := pull(t, a, vb, stepSnapshot, cursor)
		push(t, b, batch)
		if page == 0 {
			write(keys[0], "new0")
			write(keys[1], "")
			write(extra[0], "x0")
			write(keys[len(keys)-1], "newlast")
		}
		if !batch.More {
			break
		}
		cursor = batch.Cursor
	}
	write(keys[2], "new2")
	write(keys[3], "")
	for batch := pull(t, a, vb, stepTail, nil); ; batch = pull(t, a, vb, stepTail, nil) {
		push(t, b, batch)
		if !batch.More {
			break
		}
	}
	write(keys[4], "new4")
	write(extra[1], "x1")
	if ok, err := a.Lock(ctx, rc, "r", extra[2]); !ok || err != nil {
		t.Fatalf("lock = %v, %v", ok, err)
	}
	if _, err := a.LcSet(ctx, rc, extra[0], []byte("lc")); err != nil {
		t.Fatal(err)
	}
	result := &mysql.Result{Cols: []string{"id", "n"}, Rows: [][]string{{"1", mysql.Null}, {"2", ""}}}
	if err := a.my.cur.Load().client.ImportVBucket(vb, []mysql.CachedResult{{Key: extra[1], Result: result, TTL: time.Minute}}); err != nil {
		t.Fatal(err)
	}

	a.view.set(vb, vbucket.Placement{Outgoing: true, Fenced: true}, false)
	for cursor = nil; ; {
		batch := pull(t, a, vb, stepFinal, cursor)
		push(t, b, batch)
		if !batch.More {
			break
		}
		cursor = batch.Cursor
	}
	flip(vb)(a, b)
	a.ViewChanged()
	b.ViewChanged()

	checkKvdb(t, b, vb, want)
	if n := countKvdb(t, a, vb); n != 0 {
		t.Errorf("a kept %d kvdb keys of the vbucket after the flip", n)
	}
	if ok, err := b.Lock(ctx, rc, "r", extra[2]); ok || err != nil {
		t.Errorf("lock on b of a lock held on a = %v, %v; want false: it moved held", ok, err)
	}
	if v, err := b.LcGet(ctx, rc, extra[0]); err != nil || string(v) != "lc" {
		t.Errorf("lc_get on b = %q, %v; want the entry set on a", v, err)
	}
	if got, _ := b.my.cur.Load().client.ExportVBucket(vb); len(got) != 1 || !reflect.DeepEqual(got[0].Result, result) {
		t.Errorf("b's query cache = %+v; want %+v", got, result)
	}
	if v, err := a.KvdbGet(ctx, rc, []byte(keys[0])); err != nil || string(v) != "new0" {
		t.Errorf("kvdb_get through a after the flip = %q, %v; want b's new0", v, err)
	}
	for name, n := range map[string]int{"locks": lockCount(t, a, vb), "lcache": lcacheCount(t, a, vb)} {
		if n != 0 {
			t.Errorf("a kept %d %s entries of the vbucket after the flip", n, name)
		}
	}
}

func seed(t *testing.T, n node, vb int, keys []string) {
	t.Helper()
	batch := kvdb.Batch{VBucket: vb}
	for i, k := range keys {
		batch.Entries = append(batch.Entries, kvdb.Entry{Key: []byte(k), Value: fmt.Appendf(nil, "v0-%d", i)})
	}
	if err := n.kv.Import(batch); err != nil {
		t.Fatal(err)
	}
}

func pull(t *testing.T, n node, vb int, step int32, cursor []byte) *rpc.VBucketBatch {
	t.Helper()
	b, err := n.VbPull(context.Background(), rc, int32(vb), step, cursor, 0)
	if err != nil {
		t.Fatalf("vb_pull step %d: %v", step, err)
	}
	return b
}

func push(t *testing.T, n node, b *rpc.VBucketBatch) {
	t.Helper()
	if ok, err := n.VbPush(context.Background(), rc, b, 0); !ok || err != nil {
		t.Fatalf("vb_push = %v, %v", ok, err)
	}
}

// checkKvdb compares vb's keys on n with want.
func checkKvdb(t *testing.T, n node, vb int, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for after := []byte(nil); ; {
		b, err := n.kv.Export(vb, after, kvdb.Limit{})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range b.Entries {
			got[string(e.Key)] = string(e.Value)
		}
		if b.Done {
			break
		}
		after = b.Cursor()
	}
	if !reflect.DeepEqual(got, want) {
		for k, v := range want {
			if got[k] != v {
				t.Errorf("key %s = %q on the new owner, want %q", k, got[k], v)
			}
		}
		t.Fatalf("the new owner has %d keys, want %d", len(got), len(want))
	}
}

func countKvdb(t *testing.T, n node, vb int) int {
	b, err := n.kv.Export(vb, nil, kvdb.Limit{Keys: 1})
	if err != nil {
		t.Fatal(err)
	}
	return len(b.Entries)
}

func lockCount(t *testing.T, n node, vb int) int {
	held, err := n.locks.ExportVBucket(vb)
	if err != nil {
		t.Fatal(err)
	}
	return len(held)
}

func lcacheCount(t *testing.T, n node, vb int) int {
	e, err := n.cache.ExportVBucket(vb)
	if err != nil {
		t.Fatal(err)
	}
	return len(e)
}

// TestDropOnSight: a vbucket this node holds state of, neither ours nor
// moving here, is dropped at the next view; one moving here is kept.
func TestDropOnSight(t *testing.T) {
	ctx := context.Background()
	a, _ := twoNodes(t)
	gone, coming, unknown := keysIn(3, 1, "gone")[0], keysIn(4, 1, "coming")[0], keysIn(6, 1, "unknown")[0]
	for _, k := range []string{gone, coming, unknown} {
		mustKvdbSet(t, a, k, "v")
		if _, err := a.Lock(ctx, rc, "r", k); err != nil {
			t.Fatal(err)
		}
		if _, err := a.LcSet(ctx, rc, k, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	a.ViewChanged()
	a.view.set(3, vbucket.Placement{Owner: "b:1"}, true)
	a.view.set(4, vbucket.Placement{Owner: "b:1", Incoming: true}, true)
	a.view.set(6, vbucket.Placement{Owner: noOwner}, true)
	a.ViewChanged()
	if n := countKvdb(t, a, 3) + lockCount(t, a, 3) + lcacheCount(t, a, 3); n != 0 {
		t.Errorf("vbucket 3 (not ours) still holds %d entries", n)
	}
	if n := countKvdb(t, a, 4) + lockCount(t, a, 4) + lcacheCount(t, a, 4); n != 3 {
		t.Errorf("vbucket 4 (moving here) holds %d entries, want its 3 kept", n)
	}
	if n := countKvdb(t, a, 6) + lockCount(t, a, 6) + lcacheCount(t, a, 6); n != 3 {
		t.Errorf("vbucket 6 (no owner known) holds %d entries, want its 3 kept", n)
	}
	if st := a.routing.stats(); st.DroppedKeys != 1 || st.DropErrors != 0 {
		t.Errorf("routing stats = %+v; want 1 key dropped, no error", st)
	}
}

// TestIncomingAtStartIsRefused: pushes to a vbucket that was already moving
// here at this node's first view are refused until the move is rolled back.
func TestIncomingAtStartIsRefused(t *testing.T) {
	_, b := twoNodes(t)
	const vb = 11
	key := keysIn(vb, 1, "start")[0]
	b.view.set(vb, vbucket.Placement{Owner: "a:1", Incoming: true}, false)
	b.ViewChanged()
	batch := &rpc.VBucketBatch{Vbucket: vb, Kvdb: []*rpc.VBucketItem{{Key: []byte(key), Value: []byte("v")}}}
	if _, err := b.VbPush(context.Background(), rc, batch, 0); err == nil || !strings.Contains(err.Error(), "already moving here") {
		t.Fatalf("push after a start mid-move = %v; want it refused", err)
	}
	b.view.set(vb, vbucket.Placement{Owner: "a:1"}, false) // rolled back
	b.ViewChanged()
	b.view.set(vb, vbucket.Placement{Owner: "a:1", Incoming: true}, false)
	b.ViewChanged()
	mustImport(t, b, vb, key, "v")
}

// TestHandOffRefusals: the hand-off calls check the vbucket and our view.
func TestHandOffRefusals(t *testing.T) {
	ctx := context.Background()
	a, _ := twoNodes(t)
	notOwner := func(err error) bool { _, ok := errors.AsType[*rpc.TNotOwner](err); return ok }
	tests := []struct {
		name string
		call func() error
		ok   func(error) bool
	}{
		{"pull of a vbucket out of range", func() error {
			_, err := a.VbPull(ctx, rc, testVBuckets, stepSnapshot, nil, 0)
			return err
		}, func(err error) bool { return err != nil && strings.Contains(err.Error(), "out of range") }},
		{"pull of a vbucket not moving away", func() error {
			_, err := a.VbPull(ctx, rc, 1, stepSnapshot, nil, 0)
			return err
		}, notOwner},
		{"final pull of an unfenced vbucket", func() error {
			_, err := a.VbPull(ctx, rc, 1, stepFinal, nil, 0)
			return err
		}, notOwner},
		{"tail without a snapshot", func() error {
			a.view.set(2, vbucket.Placement{Outgoing: true}, false)
			_, err := a.VbPull(ctx, rc, 2, stepTail, nil, 0)
			return err
		}, func(err error) bool { return errors.Is(err, errNoMove) }},
		{"push to a vbucket that is ours", func() error {
			_, err := a.VbPush(ctx, rc, &rpc.VBucketBatch{Vbucket: 1}, 0)
			return err
		}, notOwner},
		{"push of a vbucket out of range", func() error {
			_, err := a.VbPush(ctx, rc, &rpc.VBucketBatch{Vbucket: -1}, 0)
			return err
		}, func(err error) bool { return err != nil && strings.Contains(err.Error(), "out of range") }},
		{"drop of a vbucket that is ours", func() error {
			_, err := a.VbDrop(ctx, rc, 1, 0)
			return err
		}, notOwner},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !tt.ok(err) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// BenchmarkViewChanged is the cost of a view change that changes nothing.
func BenchmarkViewChanged(b *testing.B) {
	s := newServantWith(b, &fakeRouter{self: true})
	s.ViewChanged()
	b.ReportAllocs()
	for b.Loop() {
		s.ViewChanged()
	}
}

// TestFinalPages: the final state is handed out in bounded pages, in
// order, each cursor continuing after the last, the first page again on
// an empty cursor.
func TestFinalPages(t *testing.T) {
	f := &final{}
	for i := range 1500 {
		f.kvdb = append(f.kvdb, &rpc.VBucketItem{Key: fmt.Appendf(nil, "k%d", i), Value: []byte("v")})
	}
	for i := range 700 {
		f.locks = append(f.locks, &rpc.VBucketItem{Key: fmt.Appendf(nil, "l%d", i)})
	}
	f.lcache = []*rpc.VBucketItem{{Key: []byte("big"), Value: make([]byte, pageBytes+1)}}
	var got []string
	var sizes []int
	for cursor := []byte(nil); ; {
		b, err := f.page(1, cursor)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, list := range [][]*rpc.VBucketItem{b.Kvdb, b.Locks, b.Lcache, b.QueryCache} {
			for _, it := range list {
				got = append(got, string(it.Key))
				n++
			}
		}
		sizes = append(sizes, n)
		if !b.More {
			break
		}
		cursor = b.Cursor
	}
	if fmt.Sprint(sizes) != "[1000 1000 200 1]" || len(got) != 2201 || got[1500] != "l0" || got[2200] != "big" {
		t.Fatalf("pages of %v items; want [1000 1000 200 1], in order", sizes)
	}
	if b, _ := f.page(1, nil); len(b.Kvdb) != 1000 || string(b.Kvdb[0].Key) != "k0" {
		t.Fatal("an empty cursor does not start over")
	}
}

// TestNewAttemptStartsOver: a destination that finds the vbucket incoming
// under a new attempt while it was importing an older one (the rollback in
// between came and went unseen) drops the older copy: a key the source
// deleted since must not come back.
func TestNewAttemptStartsOver(t *testing.T) {
	_, b := twoNodes(t)
	b.ViewChanged() // the first view: nothing moving here
	const vb = 12
	keys := keysIn(vb, 2, "attempt")
	b.view.set(vb, vbucket.Placement{Owner: "a:1", Incoming: true, Attempt: 1}, false)
	b.ViewChanged()
	mustImport(t, b, vb, keys[0], "first attempt")
	// Rolled back and tried again, unseen: the view goes straight to attempt 2.
	b.view.set(vb, vbucket.Placement{Owner: "a:1", Incoming: true, Attempt: 2}, false)
	mustImport(t, b, vb, keys[1], "second attempt")
	if v, err := b.kv.Get([]byte(keys[0])); err == nil {
		t.Fatalf("%s of the rolled-back attempt is still here (%q); want it dropped", keys[0], v)
	}
	if v, err := b.kv.Get([]byte(keys[1])); err != nil || string(v) != "second attempt" {
		t.Fatalf("%s of the new attempt = %q, %v", keys[1], v, err)
	}
}

// TestNewAttemptEndsRefusal: the refusal of a move under way at this
// node's start ends with a new attempt, seen or not.
func TestNewAttemptEndsRefusal(t *testing.T) {
	_, b := twoNodes(t)
	const vb = 13
	key := keysIn(vb, 1, "attempt-refused")[0]
	b.view.set(vb, vbucket.Placement{Owner: "a:1", Incoming: true, Attempt: 5}, false)
	b.ViewChanged() // the first view, mid-move
	batch := &rpc.VBucketBatch{Vbucket: vb, Kvdb: []*rpc.VBucketItem{{Key: []byte(key), Value: []byte("v")}}}
	if _, err := b.VbPush(context.Background(), rc, batch, 0); err == nil || !strings.Contains(err.Error(), "already moving here") {
		t.Fatalf("push of the attempt under way at the start = %v; want it refused", err)
	}
	b.view.set(vb, vbucket.Placement{Owner: "a:1", Incoming: true, Attempt: 6}, false)
	mustImport(t, b, vb, key, "v")
}

// TestStaleCoordinatorRefused: a pull or push naming a plan version from
// before the current attempt of the move started is refused; one of the
// attempt is served; a stale abort leaves the recording alone.
func TestStaleCoordinatorRefused(t *testing.T) {
	a, b := twoNodes(t)
	a.ViewChanged()
	b.ViewChanged()
	const vb = 14
	key := keysIn(vb, 1, "stale")[0]
	a.view.set(vb, vbucket.Placement{Outgoing: true, Attempt: 3, Since: 100}, false)
	b.view.set(vb, vbucket.Placement{Owner: "a:1", Incoming: true, Attempt: 3, Since: 100}, false)
	if _, err := a.VbPull(context.Background(), rc, vb, stepSnapshot, nil, 100); err == nil || !strings.Contains(err.Error(), "from before its move's attempt") {
		t.Fatalf("pull at the attempt's start version = %v; want refused", err)
	}
	if _, err := a.VbPull(context.Background(), rc, vb, stepSnapshot, nil, 101); err != nil {
		t.Fatalf("pull of the attempt: %v", err)
	}
	batch := &rpc.VBucketBatch{Vbucket: vb, Kvdb: []*rpc.VBucketItem{{Key: []byte(key), Value: []byte("old")}}}
	if _, err := b.VbPush(context.Background(), rc, batch, 99); err == nil {
		t.Fatal("push from before the attempt was accepted")
	}
	if ok, err := b.VbPush(context.Background(), rc, batch, 101); !ok || err != nil {
		t.Fatalf("push of the attempt = %v, %v", ok, err)
	}
	if _, err := a.VbPull(context.Background(), rc, vb, stepAbort, nil, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := a.VbPull(context.Background(), rc, vb, stepTail, nil, 101); err != nil {
		t.Fatalf("tail after a stale abort: %v; want the recording still on", err)
	}
}

// TestLocksUnknownAfterRestartMidMove: a vbucket that was moving here at
// this node's start and then becomes ours (the flip followed pushes to the
// node's previous run, whose imported locks died with it) answers lock()
// as held until the lock expiry has passed.
func TestLocksUnknownAfterRestartMidMove(t *testing.T) {
	_, b := twoNodes(t)
	b.cfg.Lock.Expiry = 300 * time.Millisecond
	const vb = 15
	key := keysIn(vb, 1, "lost-lock")[0]
	other := keysIn(16, 1, "other-lock")[0]
	b.view.set(vb, vbucket.Placement{Owner: "a:1", Incoming: true, Attempt: 1}, false)
	b.ViewChanged()                           // the first view, mid-move
	b.view.set(vb, vbucket.Placement{}, true) // flipped: ours
	b.ViewChanged()
	if ok, err := b.Lock(context.Background(), rc, "test", key); ok || err != nil {
		t.Fatalf("lock on a vbucket whose locks were lost = %v, %v; want false (may be held)", ok, err)
	}
	if ok, err := b.Lock(context.Background(), rc, "test", other); !ok || err != nil {
		t.Fatalf("lock on another vbucket = %v, %v; want true", ok, err)
	}
	time.Sleep(400 * time.Millisecond) // deliberate: past the expiry of the locks that may be held
	if ok, err := b.Lock(context.Background(), rc, "test", key); !ok || err != nil {
		t.Fatalf("lock after the expiry = %v, %v; want true", ok, err)
	}
}
