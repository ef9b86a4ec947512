package servant

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
	"github.com/faed/faed/peer/vbucket"
)

// TestFinalPullWaitsForAWriteInFlight: a write that passed the ownership
// check before the fence finishes before the final pull returns, and the
// pull carries it.
func TestFinalPullWaitsForAWriteInFlight(t *testing.T) {
	a, _ := twoNodes(t)
	ctx := context.Background()
	const vb = 7
	key := keysIn(vb, 1, "inflight")[0]
	a.view.set(vb, vbucket.Placement{Outgoing: true}, false)
	if _, err := a.VbPull(ctx, rc, vb, stepSnapshot, nil, 0); err != nil {
		t.Fatal(err)
	}
	started, release, wrote := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	slowSet := func(_ context.Context, k string) (bool, error) {
		close(started)
		<-release
		return true, a.kv.Set([]byte(k), []byte("in flight"))
	}
	go func() {
		_, err := route(a.FunServant, ctx, rc, key, retryable, slowSet, nil, key)
		wrote <- err
	}()
	within(t, started, time.Second, "the write")
	a.view.set(vb, vbucket.Placement{Outgoing: true, Fenced: true}, false)
	pulled := make(chan *rpc.VBucketBatch, 1)
	go func() {
		b, err := a.VbPull(ctx, rc, vb, stepFinal, nil, 0)
		if err != nil {
			t.Error(err)
		}
		pulled <- b
	}()
	stillWaiting(t, pulled, 100*time.Millisecond, "the final pull with a write in flight")
	close(release)
	if err := within(t, wrote, time.Second, "the write"); err != nil {
		t.Fatal(err)
	}
	b := within(t, pulled, time.Second, "the final pull")
	if len(b.Kvdb) != 1 || string(b.Kvdb[0].Key) != key || string(b.Kvdb[0].Value) != "in flight" {
		t.Fatalf("final pull kvdb = %v, want the write made in flight", b.Kvdb)
	}
}

// TestFencedCall: a call of a fenced vbucket waits for the view, then is
// refused naming the new owner after the flip, or served after a rollback,
// or answered ErrFenced when the fence outlasts forward_retry_wait.
func TestFencedCall(t *testing.T) {
	const vb = 9
	ctx := context.Background()
	mv := int64(1)
	forwarded := &rpc.Context{MapVersion: &mv}
	tests := []struct {
		name  string
		rc    *rpc.Context
		after func(a, b node) // what ends the fence; nil: nothing
		check func(t *testing.T, v []byte, err error)
	}{
		{"forwarded, then the map flips", forwarded, flip(vb), func(t *testing.T, _ []byte, err error) {
			no, ok := errors.AsType[*rpc.TNotOwner](err)
			if !ok || no.GetOwner() != "b:1" || no.GetMapVersion() != 2 {
				t.Fatalf("err = %v; want TNotOwner naming b:1 at map version 2", err)
			}
		}},
		{"client call, then the map flips", rc, flip(vb), func(t *testing.T, v []byte, err error) {
			if err != nil || string(v) != "on b" {
				t.Fatalf("= %q, %v; want the value on the new owner b", v, err)
			}
		}},
		{"forwarded, then the move is rolled back", forwarded, func(a, _ node) {
			a.view.set(vb, vbucket.Placement{}, false)
		}, func(t *testing.T, v []byte, err error) {
			if err != nil || string(v) != "on a" {
				t.Fatalf("= %q, %v; want a's own value once it serves again", v, err)
			}
		}},
		{"the fence outlasts the wait", rc, nil, func(t *testing.T, _ []byte, err error) {
			if !errors.Is(err, ErrFenced) {
				t.Fatalf("err = %v; want ErrFenced", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := twoNodes(t)
			a.cfg.ForwardRetryWait = 300 * time.Millisecond
			key := keysIn(vb, 1, "fenced")[0]
			mustKvdbSet(t, a, key, "on a")
			b.view.set(vb, vbucket.Placement{Owner: "a:1", Incoming: true}, false)
			mustImport(t, b, vb, key, "on b")
			a.view.set(vb, vbucket.Placement{Outgoing: true, Fenced: true}, false)
			type answer struct {
				v   []byte
				err error
			}
			got := make(chan answer, 1)
			go func() {
				v, err := a.KvdbGet(ctx, tt.rc, []byte(key))
				got <- answer{v, err}
			}()
			stillWaiting(t, got, 100*time.Millisecond, "a call of a fenced vbucket")
			if tt.after != nil {
				tt.after(a, b)
			}
			r := within(t, got, time.Second, "the fenced call")
			tt.check(t, r.v, r.err)
			if n := a.routing.servedNotOwned.Load(); n != 0 {
				t.Fatalf("served_not_owned = %d", n)
			}
			// The call waited at least as long as stillWaiting watched it.
			if st := a.routing.stats(); st.FencedWaits != 1 || st.FencedWaitMaxMs < 100 || st.FencedWaitMs < st.FencedWaitMaxMs {
				t.Fatalf("fence waits %d, %.1fms in all, %.1fms longest; want 1 of at least 100ms", st.FencedWaits, st.FencedWaitMs, st.FencedWaitMaxMs)
			}
		})
	}
}

// flip gives vb to b on both nodes' views, map version 2.
func flip(vb int) func(a, b node) {
	return func(a, b node) {
		b.view.set(vb, vbucket.Placement{}, true)
		a.view.set(vb, vbucket.Placement{Owner: "b:1"}, true)
	}
}

func mustKvdbSet(t *testing.T, n node, key, value string) {
	t.Helper()
	if _, err := n.KvdbSet(context.Background(), rc, []byte(key), []byte(value)); err != nil {
		t.Fatal(err)
	}
}

// mustImport pushes key=value into vb on n, as a move's destination.
func mustImport(t *testing.T, n node, vb int, key, value string) {
	t.Helper()
	b := &rpc.VBucketBatch{Vbucket: int32(vb), Kvdb: []*rpc.VBucketItem{{Key: []byte(key), Value: []byte(value)}}}
	if ok, err := n.VbPush(context.Background(), rc, b, 0); !ok || err != nil {
		t.Fatalf("vb_push = %v, %v", ok, err)
	}
}
