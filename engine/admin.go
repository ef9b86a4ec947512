package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"time"

	"github.com/faed/faed/pool"
)

// AdminConfig holds the [http] section of faed's TOML file.
type AdminConfig struct {
	// Listen is the admin HTTP address. Default "127.0.0.1:9002". An
	// address that is not loopback (127.0.0.0/8, ::1 or localhost) needs a
	// token: the admin server can stop the daemon.
	Listen string `toml:"listen"`
	// Token, when set, is required on every changing endpoint (POST /stop
	// and those to come) as "Authorization: Bearer <token>". At least 16
	// printable ASCII characters without spaces; masked in GET /config.
	// Default empty: no token, and then only requests addressed to a
	// loopback host are answered.
	Token pool.Secret `toml:"token"`
	// TokenFile names a file holding the token (surrounding whitespace is
	// trimmed), read at start, so the token stays out of the config file.
	// Not both with Token. Default empty.
	TokenFile string `toml:"token_file"`
}

// DefaultAdminConfig returns the documented defaults.
func DefaultAdminConfig() AdminConfig { return AdminConfig{Listen: "127.0.0.1:9002"} }

// Validate returns an error naming the bad key. It reads TokenFile.
func (c AdminConfig) Validate() error {
	_, err := c.resolve()
	return err
}

// resolve validates c and returns the token, "" when none is set.
func (c AdminConfig) resolve() (token string, err error) {
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return "", fmt.Errorf("listen: want host:port, got %q", c.Listen)
	}
	if token, err = c.token(); err != nil {
		return "", err
	}
	if token == "" && !isLoopbackHost(host) {
		return "", fmt.Errorf("listen: %q is not a loopback address, so token or token_file must be set: anyone who reaches it could stop the daemon", c.Listen)
	}
	return token, nil
}

// AdminOptions wire the admin server to the rest of the daemon.
type AdminOptions struct {
	// Version is reported by /ping.
	Version string
	// Sections add named stats to /stats and /metrics, e.g. "servant".
	// Each func returns a JSON-encodable value and must be safe to call
	// concurrently.
	Sections map[string]func() any
	// Config returns the effective configuration, secrets masked, as TOML.
	Config func() []byte
	// Stop starts a graceful shutdown of the daemon.
	Stop func()
	// Reload reads the configuration file again and applies it, answering
	// what it did; its error says why nothing changed. nil answers 501.
	Reload func() (any, error)
	// Cluster serves the /cluster endpoints; nil on a one-node daemon.
	Cluster ClusterAdmin
	// Degrade serves /degrade; nil answers 404 there.
	Degrade Degrader
	// Shards serves /mysql/shards; nil answers 404 there.
	Shards ShardMapper
}

// Admin is the operators' HTTP server: ping, stats, runtime, config,
// Prometheus metrics, pprof and stop. Changing endpoints take POST and go
// through changing (see admin_guard.go); unknown paths answer 404 with a
// JSON error.
type Admin struct {
	cfg    AdminConfig
	token  string // from Token or TokenFile; "" when none is set
	csrf   *http.CrossOriginProtection
	engine *Engine
	opts   AdminOptions
	ln     net.Listener
	srv    *http.Server
}

// NewAdmin builds the admin server of e. It reads cfg.TokenFile once, and
// fails if cfg does not validate.
func NewAdmin(cfg AdminConfig, e *Engine, opts AdminOptions) (*Admin, error) {
	token, err := cfg.resolve()
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	a := &Admin{cfg: cfg, token: token, csrf: http.NewCrossOriginProtection(), engine: e, opts: opts}
	a.srv = &http.Server{Handler: a.routes(), ReadHeaderTimeout: 5 * time.Second}
	return a, nil
}

func (a *Admin) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", a.ping)
	mux.HandleFunc("GET /stats", a.statsJSON)
	mux.HandleFunc("GET /runtime", a.runtimeJSON)
	mux.HandleFunc("GET /config", a.config)
	mux.HandleFunc("GET /metrics", a.metrics)
	mux.Handle("POST /stop", a.changing(a.stop))
	mux.Handle("POST /reload", a.changing(a.reload))
	a.clusterRoutes(mux)
	a.degradeRoutes(mux)
	a.shardRoutes(mux)
	a.dashboardRoutes(mux)
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return jsonErrors(a.addressedHere(mux))
}

// Listen opens the admin address.
func (a *Admin) Listen() error {
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("admin: listen %s: %w", a.cfg.Listen, err)
	}
	a.ln = ln
	return nil
}

// Addr is the bound admin address.
func (a *Admin) Addr() net.Addr { return a.ln.Addr() }

// Serve serves HTTP until Shutdown.
func (a *Admin) Serve() error {
	if err := a.srv.Serve(a.ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops the admin server, letting running requests finish until ctx is done.
func (a *Admin) Shutdown(ctx context.Context) error { return a.srv.Shutdown(ctx) }

func (a *Admin) ping(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"ok":         true,
		"version":    a.opts.Version,
		"uptime_sec": time.Since(a.engine.stats.start).Seconds(),
	})
}

func (a *Admin) statsJSON(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.collect())
}

// collect gathers the engine's and every section's stats.
func (a *Admin) collect() map[string]any {
	out := map[string]any{"engine": a.engine.stats.Snapshot()}
	for name, f := range a.opts.Sections {
		out[name] = f()
	}
	return out
}

// RuntimeStats is the JSON of /runtime.
type RuntimeStats struct {
	GoVersion    string  `json:"go_version"`
	Goroutines   int     `json:"goroutines"`
	CPUs         int     `json:"cpus"`
	HeapAlloc    uint64  `json:"heap_alloc_bytes"`
	HeapSys      uint64  `json:"heap_sys_bytes"`
	Sys          uint64  `json:"sys_bytes"`
	NumGC        uint32  `json:"num_gc"`
	PauseTotalMs float64 `json:"gc_pause_total_ms"`
	LastGCPause  float64 `json:"gc_last_pause_us"`
}

func readRuntime() RuntimeStats {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return RuntimeStats{
		GoVersion:    runtime.Version(),
		Goroutines:   runtime.NumGoroutine(),
		CPUs:         runtime.NumCPU(),
		HeapAlloc:    m.HeapAlloc,
		HeapSys:      m.HeapSys,
		Sys:          m.Sys,
		NumGC:        m.NumGC,
		PauseTotalMs: float64(m.PauseTotalNs) / 1e6,
		LastGCPause:  float64(m.PauseNs[(m.NumGC+255)%256]) / 1e3,
	}
}

func (a *Admin) runtimeJSON(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, readRuntime())
}

func (a *Admin) config(w http.ResponseWriter, r *http.Request) {
	if a.opts.Config == nil {
		writeError(w, http.StatusNotFound, "no configuration is exposed")
		return
	}
	w.Header().Set("Content-Type", "application/toml; charset=utf-8")
	w.Write(a.opts.Config())
}

func (a *Admin) stop(w http.ResponseWriter, r *http.Request) {
	if a.opts.Stop == nil {
		writeError(w, http.StatusNotImplemented, "stop is not wired")
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"ok": true, "stopping": true})
	go a.opts.Stop()
}

// reload answers 200 with what the reload did, or 422 with why the file
// was refused (the daemon runs on as it was).
func (a *Admin) reload(w http.ResponseWriter, r *http.Request) {
	if a.opts.Reload == nil {
		writeError(w, http.StatusNotImplemented, "reload is not wired")
		return
	}
	result, err := a.opts.Reload()
	if err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"ok": false, "error": err.Error(), "reload": result})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "reload": result})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		slog.Error("admin: encoding a reply", "err", err)
	}
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"error": msg, "status": code})
}
