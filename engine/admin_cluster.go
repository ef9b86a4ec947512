package engine

import (
	"net/http"
)

// ClusterAdmin is what the admin server needs of the cluster for the
// /cluster endpoints; *peer.Cluster implements it.
type ClusterAdmin interface {
	// MapStats describes the vbucket map and the rebalance in progress, as
	// a JSON-encodable value.
	MapStats() any
	// Rebalance asks the coordinator to rebalance now.
	Rebalance() error
	// Drain asks the coordinator to move every vbucket off node.
	Drain(node string) error
}

// clusterRoutes adds GET /cluster/map and the changing POST
// /cluster/rebalance and /cluster/drain?node=ADDR. Without a cluster they
// answer 404 saying so, not the mux's bare "not found".
func (a *Admin) clusterRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /cluster/map", a.withCluster(func(w http.ResponseWriter, _ *http.Request, c ClusterAdmin) {
		writeJSON(w, http.StatusOK, c.MapStats())
	}))
	mux.Handle("POST /cluster/rebalance", a.changing(a.withCluster(func(w http.ResponseWriter, _ *http.Request, c ClusterAdmin) {
		accepted(w, c.Rebalance(), map[string]any{"ok": true, "rebalance": "requested"})
	})))
	mux.Handle("POST /cluster/drain", a.changing(a.withCluster(func(w http.ResponseWriter, r *http.Request, c ClusterAdmin) {
		node := r.FormValue("node")
		if node == "" {
			writeError(w, http.StatusBadRequest, "drain: say which node: ?node=HOST:PORT (its advertised address)")
			return
		}
		accepted(w, c.Drain(node), map[string]any{"ok": true, "draining": node})
	})))
}

// withCluster runs h with the cluster, or answers that this node is not in
// one.
func (a *Admin) withCluster(h func(http.ResponseWriter, *http.Request, ClusterAdmin)) http.HandlerFunc {
	return withPart(a.opts.Cluster, "this node is not in a cluster ([cluster] zookeeper is not set): every vbucket is local", h)
}

// withPart runs h with part, an optional part of the daemon the admin
// options wire in, or answers 404 with why when it is nil.
func withPart[T comparable](part T, why string, h func(http.ResponseWriter, *http.Request, T)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var none T
		if part == none {
			writeError(w, http.StatusNotFound, why)
			return
		}
		h(w, r, part)
	}
}

// accepted answers 202 with body, or the request's error as a 409: the
// request was understood but the cluster could not take it now.
func accepted(w http.ResponseWriter, err error, body any) {
	if err != nil {
		writeError(w, http.StatusConflict, err.Error())
		return
	}
	writeJSON(w, http.StatusAccepted, body)
}
