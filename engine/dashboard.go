package engine

import (
	"embed"
	"net/http"
)

// The dashboard (SPEC §6): a page at / that polls GET /stats and GET
// /cluster/map and draws them with uPlot, all embedded in the binary so it
// needs no network at run time (engine/dashboard/VENDOR.md says where uPlot
// comes from).

//go:embed dashboard/index.html dashboard/dashboard.js dashboard/dashboard.css dashboard/uPlot.iife.min.js dashboard/uPlot.min.css dashboard/LICENSE.uPlot
var dashboardFiles embed.FS

// dashboardPolicy lets the page load only its own files and read only this
// server: no inline script, no frames (nobody can overlay it on their page).
const dashboardPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// dashboardRoutes adds GET / (the page) and GET /dashboard/FILE.
func (a *Admin) dashboardRoutes(mux *http.ServeMux) {
	files := http.FileServerFS(dashboardFiles)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		dashboardHeaders(w)
		http.ServeFileFS(w, r, dashboardFiles, "dashboard/index.html")
	})
	mux.HandleFunc("GET /dashboard/{file}", func(w http.ResponseWriter, r *http.Request) {
		dashboardHeaders(w)
		files.ServeHTTP(w, r)
	})
}

func dashboardHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", dashboardPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
}
