package engine

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"

	"github.com/apache/thrift/lib/go/thrift"
)

// The fuzz targets feed their input, as one client connection's bytes, to a
// real session serving the generated processor with zeroHandler. Each fails
// on a panic (recovered by the session or escaping it), a session that does
// not end once the input is over, or an allocation past the memory bound of
// the input's size. Run them with make fuzz; go test runs their corpus.

func FuzzBufferedBinary(f *testing.F)  { fuzzKind(f, KindBinary) }
func FuzzBufferedCompact(f *testing.F) { fuzzKind(f, KindCompact) }
func FuzzFramedBinary(f *testing.F)    { fuzzKind(f, KindFramedBinary) }
func FuzzFramedCompact(f *testing.F)   { fuzzKind(f, KindFramedCompact) }

// fuzzSessionDeadline bounds how long a session may take once its input is over.
const fuzzSessionDeadline = 5 * time.Second

// fuzzOverhead is what a session allocates for itself, input aside: its
// buffers, goroutine, protocols, and a reply or two.
const fuzzOverhead = 64 << 10

func fuzzKind(f *testing.F, kind Kind) {
	for _, seed := range fuzzSeeds(kind) {
		f.Add(seed)
	}
	e := newFuzzEngine(f)
	f.Fuzz(func(t *testing.T, input []byte) {
		panics := e.stats.panics.Count()
		bound := memBound(len(input)) + fuzzOverhead + uint64(2*e.cfg.BufferSize)
		grown, err := serveMeasured(e, input, totalAllocated)
		for retry := 0; retry < 3 && err == nil && grown > bound; retry++ {
			// The count is process-wide, and the fuzzing engine
			// allocates too: measure again, GC'd; what the session
			// allocates shows every time.
			grown, err = serveMeasured(e, input, heapAllocated)
		}
		if err != nil {
			t.Fatal(err)
		}
		if grown > bound {
			t.Fatalf("a %d-byte input allocated %d bytes, past %d", len(input), grown, bound)
		}
		if e.stats.panics.Count() != panics {
			t.Fatal("the session recovered from a panic")
		}
	})
}

// serveMeasured serves input and returns what the process allocated
// meanwhile, by the counter allocated.
func serveMeasured(e *Engine, input []byte, allocated func() uint64) (uint64, error) {
	before := allocated()
	err := serveInput(e, input)
	return allocated() - before, err
}

// newFuzzEngine is an engine that serves sessions handed to it, no listener.
func newFuzzEngine(f *testing.F) *Engine {
	e, err := New(DefaultConfig(), rpc.NewFunServantProcessor(zeroHandler{}), slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	return e
}

// serveInput runs one session on input, with its replies read and dropped,
// and waits for it to end after the input.
func serveInput(e *Engine, input []byte) error {
	client, server := net.Pipe()
	defer client.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		newSession(e, server).serve()
	}()
	var wg sync.WaitGroup
	wg.Go(func() { io.Copy(io.Discard, client) })
	client.SetWriteDeadline(time.Now().Add(fuzzSessionDeadline))
	client.Write(input) // the session may end before it read it all
	client.Close()
	select {
	case <-done:
	case <-time.After(fuzzSessionDeadline):
		return errSessionHung
	}
	wg.Wait()
	return nil
}

var errSessionHung = &fuzzError{"the session did not end within " + fuzzSessionDeadline.String() + " of its input"}

type fuzzError struct{ s string }

func (e *fuzzError) Error() string { return e.s }

// fuzzSeeds are valid calls of several methods, one per seed and a few in
// a row, and the bombs of the memory tests, as kind sends them.
func fuzzSeeds(kind Kind) [][]byte {
	call := func(name string, args thrift.TStruct) []byte {
		return encodeAs(kind, name, func(ctx context.Context, p thrift.TProtocol) { args.Write(ctx, p) })
	}
	calls := [][]byte{
		call("noop", &rpc.FunServantNoopArgs{X: 7}),
		call("ping", &rpc.FunServantPingArgs{ReqCtx: rc}),
		call("lc_set", &rpc.FunServantLcSetArgs{ReqCtx: rc, Key: "k", Value: []byte("v")}),
		call("mc_set", &rpc.FunServantMcSetArgs{ReqCtx: rc, Pool: "p", Key: "k", Value: &rpc.TMemcacheData{Data: []byte("d"), Flags: 1}, Expiration: 5}),
		call("mg_inserts", &rpc.FunServantMgInsertsArgs{ReqCtx: rc, Pool: "p", Table: "t", Docs: [][]byte{[]byte("a"), nil}}),
		call("my_query", &rpc.FunServantMyQueryArgs{ReqCtx: rc, Pool: "p", Sql: "select ?", Argv: []string{"1", ""}}),
		call("my_bulk_exec", &rpc.FunServantMyBulkExecArgs{ReqCtx: rc, Pool: []string{"p"}, Sql: []string{"x"}, Argv: bulkRows(3)}),
		call("mg_find_and_modify", &rpc.FunServantMgFindAndModifyArgs{ReqCtx: rc, Upsert: true}),
		call("no_such_method", &rpc.FunServantNoopArgs{X: 1}),
	}
	seeds := append([][]byte{}, calls...)
	seeds = append(seeds, bytes.Join(calls, nil))
	for _, b := range bombs {
		if b.whole {
			continue // 4 MiB each: too large for a corpus entry
		}
		seeds = append(seeds, encodeAs(kind, b.method, argsWith(b.whole, b.field(kind))))
	}
	seeds = append(seeds, []byte(strings.Repeat("\x00", 16)))
	return seeds
}

// totalAllocated is what the process allocated so far. Unlike heapAllocated
// it runs no collection first (the count does not need one), which would
// cost more than serving the input.
func totalAllocated() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}
