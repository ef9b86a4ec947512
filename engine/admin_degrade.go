package engine

import "net/http"

// Degrader is what the admin server needs for the operator's degrade
// switches (SPEC §6); *servant.FunServant implements it.
type Degrader interface {
	// SetSwitch switches servant's pool ("" for all its pools) to mode:
	// off, degraded or read_only, for reason, as who. Its error says what
	// was wrong with the request; nothing changed then.
	SetSwitch(servant, pool, mode, reason, who string) (any, error)
	// Switches lists the switches in force.
	Switches() any
}

// degradeRoutes adds GET /degrade (the switches in force) and the changing
// POST /degrade?servant=S&pool=P&mode=M&reason=R&who=W.
func (a *Admin) degradeRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /degrade", a.withDegrader(func(w http.ResponseWriter, _ *http.Request, d Degrader) {
		writeJSON(w, http.StatusOK, map[string]any{"switches": d.Switches()})
	}))
	mux.Handle("POST /degrade", a.changing(a.withDegrader(func(w http.ResponseWriter, r *http.Request, d Degrader) {
		sw, err := d.SetSwitch(r.FormValue("servant"), r.FormValue("pool"), r.FormValue("mode"), r.FormValue("reason"), r.FormValue("who"))
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "switch": sw})
	})))
}

func (a *Admin) withDegrader(h func(http.ResponseWriter, *http.Request, Degrader)) http.HandlerFunc {
	return withPart(a.opts.Degrade, "this faed has no degrade switches", h)
}
