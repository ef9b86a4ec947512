package servant

import (
	"context"
	"errors"

	"faed/idl/gen-go/fun/rpc"
)

// errNoHandoff answers the hand-off calls until this node can hand off.
var errNoHandoff = errors.New("vbucket hand-off is not available on this node yet")

// VbPull reads a vbucket's state for a move (SPEC §5.3).
func (s *FunServant) VbPull(ctx context.Context, rc *rpc.Context, vb, step int32, cursor []byte, planVersion int64) (*rpc.VBucketBatch, error) {
	return nil, errNoHandoff
}

// VbPush applies a batch of a vbucket's state on a move's destination.
func (s *FunServant) VbPush(ctx context.Context, rc *rpc.Context, b *rpc.VBucketBatch, planVersion int64) (bool, error) {
	return false, errNoHandoff
}

// VbDrop drops the state of a vbucket this node does not own.
func (s *FunServant) VbDrop(ctx context.Context, rc *rpc.Context, vb int32, mapVersion int64) (int64, error) {
	return 0, errNoHandoff
}
