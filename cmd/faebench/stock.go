package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"

	"github.com/apache/thrift/lib/go/thrift"
)

// startStock listens on ep with a stock Apache Thrift TSimpleServer serving
// the generated FunServant processor over a trivial handler, set up as a
// user would. The caller runs AcceptLoop and calls Stop. A stock server
// takes only the wire w names (buffered binary unless told otherwise).
func startStock(ep endpoint, w wire, valueSize int) (*thrift.TSimpleServer, error) {
	addr, err := stockAddr(ep)
	if err != nil {
		return nil, err
	}
	var tf thrift.TTransportFactory = thrift.NewTBufferedTransportFactory(8192)
	if w.transport == "framed" {
		tf = thrift.NewTFramedTransportFactoryConf(thrift.NewTTransportFactory(), nil)
	}
	var pf thrift.TProtocolFactory = thrift.NewTBinaryProtocolFactoryConf(nil)
	if w.protocol == "compact" {
		pf = thrift.NewTCompactProtocolFactoryConf(nil)
	}
	processor := rpc.NewFunServantProcessor(newStockHandler(valueSize))
	srv := thrift.NewTSimpleServer4(processor, thrift.NewTServerSocketFromAddrTimeout(addr, 0), tf, pf)
	if err := srv.Listen(); err != nil {
		return nil, fmt.Errorf("stock server on %s: %w", ep, err)
	}
	return srv, nil
}

// stockAddr resolves ep, removing a stale unix socket file.
func stockAddr(ep endpoint) (net.Addr, error) {
	if ep.network == "unix" {
		if err := os.Remove(ep.address); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return &net.UnixAddr{Name: ep.address, Net: "unix"}, nil
	}
	return net.ResolveTCPAddr("tcp", ep.address)
}

// serveStock runs stock servers on eps until ctx is done. If check is
// false it turns off thrift's per-call connectivity-check goroutine
// (thrift.ServerConnectivityCheckInterval = 0); by default, as a user would
// leave it, the generated processor starts one goroutine per call.
func serveStock(ctx context.Context, eps []endpoint, w wire, valueSize int, check bool) error {
	if !check {
		thrift.ServerConnectivityCheckInterval = 0
	}
	// Shutdown only: without it Stop waits for every client to hang up.
	thrift.ServerStopTimeout = time.Second
	srvs := make([]*thrift.TSimpleServer, 0, len(eps))
	for _, ep := range eps {
		srv, err := startStock(ep, w, valueSize)
		if err != nil {
			stopAll(srvs)
			return err
		}
		srvs = append(srvs, srv)
	}
	return acceptUntilDone(ctx, srvs)
}

// acceptUntilDone runs the servers' accept loops until ctx is done or one
// of them ends by itself, then stops them all.
func acceptUntilDone(ctx context.Context, srvs []*thrift.TSimpleServer) error {
	errc := make(chan error, len(srvs))
	for _, srv := range srvs {
		go func() { errc <- srv.AcceptLoop() }()
	}
	var first error
	received := 0
	select {
	case <-ctx.Done():
	case first = <-errc:
		received++
	}
	// Stop returns only when the server is done with thrift's settings.
	stopAll(srvs)
	for ; received < len(srvs); received++ {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func stopAll(srvs []*thrift.TSimpleServer) {
	for _, srv := range srvs {
		srv.Stop()
	}
}

// errStock answers every call the stock handler does not serve.
var errStock = errors.New("faebench: not served by the stock server")

// stockHandler is the trivial FunServant of the stock server: noop returns
// x, ping "pong", lc_get a fixed value; every other method errStock. It is
// safe for concurrent use.
type stockHandler struct {
	value []byte // lc_get's answer; read-only
}

func newStockHandler(valueSize int) *stockHandler {
	value := make([]byte, valueSize)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	return &stockHandler{value: value}
}

var _ rpc.FunServant = (*stockHandler)(nil)

func (h *stockHandler) Noop(_ context.Context, x int32) (int32, error) { return x, nil }

func (h *stockHandler) Ping(context.Context, *rpc.Context) (string, error) { return "pong", nil }

func (h *stockHandler) LcGet(context.Context, *rpc.Context, string) ([]byte, error) {
	return h.value, nil
}

func (h *stockHandler) VbPull(context.Context, *rpc.Context, int32, int32, []byte, int64) (*rpc.VBucketBatch, error) {
	return nil, errStock
}

func (h *stockHandler) VbPush(context.Context, *rpc.Context, *rpc.VBucketBatch, int64) (bool, error) {
	return false, errStock
}

func (h *stockHandler) VbDrop(context.Context, *rpc.Context, int32, int64) (int64, error) {
	return 0, errStock
}

func (h *stockHandler) VbReplicate(context.Context, *rpc.Context, *rpc.VBucketBatch, int64) (bool, error) {
	return false, errStock
}
