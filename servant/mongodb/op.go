package mongodb

// op names an mg_* call, for stats and for the read-only switch.
type op uint8

// The reads come first; every op from opUpdate on writes.
const (
	opFindOne op = iota
	opFindAll
	opFindID
	opCount
	opUpdate
	opUpdateID
	opUpsert
	opUpsertID
	opInsert
	opInserts
	opDelete
	opFindAndModify
	numOps
)

var opNames = [numOps]string{
	"mg_find_one", "mg_find_all", "mg_find_id", "mg_count",
	"mg_update", "mg_update_id", "mg_upsert", "mg_upsert_id",
	"mg_insert", "mg_inserts", "mg_delete", "mg_find_and_modify",
}

// String returns the IDL name of the call.
func (o op) String() string { return opNames[o] }

// writes reports whether the call may change data: refused in read-only mode.
func (o op) writes() bool { return o >= opUpdate }
