package engine

import "net/http"

// ShardMapper is what the admin server needs for MySQL sharding by vbucket
// (SPEC §5.3); *servant.FunServant implements it.
type ShardMapper interface {
	// ShardMap is the shard map in force, or why there is none.
	ShardMap() (any, error)
	// ChangeShardMap applies op (lock with reason, flip to shard, unlock)
	// to vbucket and answers the map after it. Its error says why the
	// change does not apply; nothing changed then.
	ChangeShardMap(op, vbucket, shard, reason string) (any, error)
}

// shardRoutes adds GET /mysql/shards and the changing
// POST /mysql/shards?op=lock|flip|unlock&vbucket=V&shard=S&reason=R.
func (a *Admin) shardRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /mysql/shards", a.withShards(func(w http.ResponseWriter, _ *http.Request, s ShardMapper) {
		m, err := s.ShardMap()
		if err != nil {
			writeError(w, http.StatusNotFound, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, m)
	}))
	mux.Handle("POST /mysql/shards", a.changing(a.withShards(func(w http.ResponseWriter, r *http.Request, s ShardMapper) {
		m, err := s.ChangeShardMap(r.FormValue("op"), r.FormValue("vbucket"), r.FormValue("shard"), r.FormValue("reason"))
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, m)
	})))
}

func (a *Admin) withShards(h func(http.ResponseWriter, *http.Request, ShardMapper)) http.HandlerFunc {
	return withPart(a.opts.Shards, "this faed shards no mysql pool by vbucket", h)
}
