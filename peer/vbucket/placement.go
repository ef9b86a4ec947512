package vbucket

// Placement is what one node's view (its map and the rebalance plan it has
// seen) says of a vbucket, for the routing of one call. It is a value: the
// routing path reads it without allocating.
type Placement struct {
	// VBucket is the vbucket of the key asked about.
	VBucket int
	// Owner is the vbucket's active owner by the map; "" while no map is
	// known.
	Owner string
	// Self: Owner is this node.
	Self bool
	// Replica: the map lists this node as one of the vbucket's replicas:
	// it keeps the vbucket's state and takes its owner's vb_replicate, but
	// serves none of its calls.
	Replica bool
	// Fenced: this node serves none of the vbucket's calls for now: the
	// plan is moving it away (until the map flips, then Owner is another
	// node, or the move is rolled back), or this node has been without a
	// ZooKeeper session for a session timeout, so its session may have
	// expired and the vbucket may be given to another node (until the views
	// are read again in a live session).
	Fenced bool
	// Incoming: the plan copies the vbucket to this node, as its next
	// active owner or a new replica; its state arriving here must be kept,
	// though Owner is another node.
	Incoming bool
	// Outgoing: the plan is moving the vbucket away from this node, in any
	// phase (its kvdb changes are being recorded for the move).
	Outgoing bool
	// Attempt numbers the plan's current try of the vbucket's move, 0 if
	// none: a new number means an earlier try was rolled back.
	Attempt uint64
	// Since is the plan version the current attempt started after: a
	// hand-off call naming no later plan version comes from a coordinator
	// of before the attempt and is refused.
	Since uint64
	// Version is the map's version.
	Version uint64
}

// Serves reports whether this node may serve a call for the vbucket now.
func (p Placement) Serves() bool { return p.Self && !p.Fenced }
