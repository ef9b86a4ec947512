package servant

import (
	"context"
	"errors"

	"github.com/apache/thrift/lib/go/thrift"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
)

// NewProcessor returns the Thrift processor that serves h: the generated
// one, but for noop. Its generated function allocates on every call (the
// arguments, the result and the answer it points to, each escaping through
// the protocol interface); noop is the call clients and benchmarks measure
// the daemon's floor with, so it gets one that reads and writes the same
// bytes without allocating.
func NewProcessor(h rpc.FunServant) *rpc.FunServantProcessor {
	p := rpc.NewFunServantProcessor(h)
	p.AddToProcessorMap("noop", noopFunction{h})
	return p
}

// noopFunction is noop's processor function: the generated one's reads,
// writes and answers to bad input, without its allocations.
type noopFunction struct{ h rpc.FunServant }

func (f noopFunction) Process(ctx context.Context, seq int32, in, out thrift.TProtocol) (bool, thrift.TException) {
	x, err := readNoopArgs(ctx, in)
	if err != nil {
		in.ReadMessageEnd(ctx)
		writeException(ctx, out, seq, thrift.NewTApplicationException(thrift.PROTOCOL_ERROR, err.Error()))
		return false, thrift.WrapTException(err)
	}
	in.ReadMessageEnd(ctx)
	r, err := f.h.Noop(ctx, x)
	if err != nil {
		if errors.Is(err, thrift.ErrAbandonRequest) {
			return false, thrift.WrapTException(err)
		}
		if werr := writeException(ctx, out, seq, thrift.NewTApplicationException(thrift.INTERNAL_ERROR, "Internal error processing noop: "+err.Error())); werr != nil {
			return false, thrift.WrapTException(werr)
		}
		return true, thrift.WrapTException(err)
	}
	if err := writeNoopReply(ctx, out, seq, r); err != nil {
		return false, thrift.WrapTException(err)
	}
	return true, nil
}

// readNoopArgs reads noop's arguments struct: field 1, x, an i32; any other
// field is skipped, and a missing x is 0 and counted, as the generated
// readers count it (rpc.MissingFieldCounter).
func readNoopArgs(ctx context.Context, in thrift.TProtocol) (int32, error) {
	if _, err := in.ReadStructBegin(ctx); err != nil {
		return 0, err
	}
	var x int32
	found := false
	for {
		_, typ, id, err := in.ReadFieldBegin(ctx)
		if err != nil {
			return 0, err
		}
		if typ == thrift.STOP {
			break
		}
		if id == 1 && typ == thrift.I32 {
			if x, err = in.ReadI32(ctx); err != nil {
				return 0, err
			}
			found = true
		} else if err := in.Skip(ctx, typ); err != nil {
			return 0, err
		}
		if err := in.ReadFieldEnd(ctx); err != nil {
			return 0, err
		}
	}
	if err := in.ReadStructEnd(ctx); err != nil {
		return 0, err
	}
	if c, ok := ctx.(rpc.MissingFieldCounter); ok && !found {
		c.MissingRequiredField("FunServantNoopArgs", "X")
	}
	return x, nil
}

// writeNoopReply writes and flushes the reply answering r.
func writeNoopReply(ctx context.Context, out thrift.TProtocol, seq, r int32) error {
	return firstError(
		out.WriteMessageBegin(ctx, "noop", thrift.REPLY, seq),
		out.WriteStructBegin(ctx, "noop_result"),
		out.WriteFieldBegin(ctx, "success", thrift.I32, 0),
		out.WriteI32(ctx, r),
		out.WriteFieldEnd(ctx),
		out.WriteFieldStop(ctx),
		out.WriteStructEnd(ctx),
		out.WriteMessageEnd(ctx),
		out.Flush(ctx),
	)
}

// writeException writes and flushes an exception answering noop.
func writeException(ctx context.Context, out thrift.TProtocol, seq int32, x thrift.TApplicationException) error {
	return firstError(
		out.WriteMessageBegin(ctx, "noop", thrift.EXCEPTION, seq),
		x.Write(ctx, out),
		out.WriteMessageEnd(ctx),
		out.Flush(ctx),
	)
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
