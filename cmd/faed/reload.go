package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"reflect"
	"sync"
	"syscall"
	"time"

	"github.com/faed/faed/engine"
	"github.com/faed/faed/servant"
)

// reloader applies the configuration file to the running daemon again, on
// SIGHUP and POST /reload (SPEC §6): the file is parsed and validated
// first, and a file that does not load changes nothing; then the engine's
// limits, the log level and every backend servant whose section changed
// are swapped, each without failing a call in flight. Keys only a restart
// changes (listeners, the admin server, the cluster, the stateful
// servants, the log format) keep their running values, and the answer
// names them.
type reloader struct {
	path  string
	eng   *engine.Engine
	funs  *servant.FunServant
	level *slog.LevelVar
	log   *slog.Logger

	mu      sync.Mutex // one reload at a time; guards the fields below
	running Config     // the configuration in force
	last    *reloadResult
	reloads int // successful
	failed  int
}

// reloadResult is what one reload did, as /reload answers and /stats
// shows.
type reloadResult struct {
	At time.Time `json:"at"`
	OK bool      `json:"ok"`
	// Error is why the file was refused; nothing changed then.
	Error string `json:"error,omitempty"`
	// Applied names what changed: engine, log, and the backend servants
	// rebuilt (servant.memcache, …).
	Applied []string `json:"applied"`
	// Restart names the changed keys that keep their running value until
	// faed restarts.
	Restart []string `json:"restart_needed"`
}

func newReloader(path string, running Config, eng *engine.Engine, funs *servant.FunServant, level *slog.LevelVar, log *slog.Logger) *reloader {
	return &reloader{path: path, running: running, eng: eng, funs: funs, level: level, log: log}
}

// reload reads the file and applies what it changes.
func (r *reloader) reload() (*reloadResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res, err := r.apply()
	res.At, res.OK = time.Now().UTC(), err == nil
	if err != nil {
		res.Error = err.Error()
		r.failed++
		r.log.Error("reload refused; still serving on the running configuration", "config", r.path, "err", err)
	} else {
		r.reloads++
		r.log.Info("configuration reloaded", "config", r.path, "applied", res.Applied, "restart_needed", res.Restart)
		if len(res.Restart) > 0 {
			r.log.Warn("reload: these keys changed but only a restart applies them; running on their old values", "keys", res.Restart)
		}
	}
	r.last = res
	return res, err
}

func (r *reloader) apply() (*reloadResult, error) {
	res := &reloadResult{Applied: []string{}, Restart: []string{}}
	next, err := loadConfig(r.path)
	if err != nil {
		return res, err
	}
	next, res.Restart = r.running.reloadable(next)
	if err := next.Validate(); err != nil {
		return res, fmt.Errorf("with the keys that need a restart at their running values: %w", err)
	}
	// The servants first: building their new clients is what can fail.
	rebuilt, err := r.funs.Reload(next.Servant, next.Engine.CallTimeout)
	if err != nil {
		return res, err
	}
	for _, name := range rebuilt {
		res.Applied = append(res.Applied, "servant."+name)
	}
	if !reflect.DeepEqual(r.running.Engine, next.Engine) {
		if err := r.eng.Reload(next.Engine); err != nil {
			// Validated above with the running listeners: not expected.
			return res, errors.Join(err, errors.New("the servants' changes were applied"))
		}
		res.Applied = append(res.Applied, "engine")
	}
	if next.Log.Level != r.running.Log.Level {
		level, _ := next.Log.level()
		r.level.Set(level)
		res.Applied = append(res.Applied, "log.level")
	}
	r.running = next
	return res, nil
}

// reloadable returns next with every key only a restart changes at its
// value in c, and those keys' names.
func (c Config) reloadable(next Config) (Config, []string) {
	restart := []string{} // [] rather than null in the answer when nothing waits
	for _, key := range c.Engine.RestartKeys(next.Engine) {
		restart = append(restart, "engine."+key)
	}
	next.Engine.Listen, next.Engine.UnixSocketMode, next.Engine.BufferSize = c.Engine.Listen, c.Engine.UnixSocketMode, c.Engine.BufferSize
	var keys []string
	next.Servant, keys = c.Servant.Reloadable(next.Servant)
	for _, key := range keys {
		restart = append(restart, "servant."+key)
	}
	if c.Log.Format != next.Log.Format {
		restart = append(restart, "log.format")
		next.Log.Format = c.Log.Format
	}
	if !reflect.DeepEqual(c.HTTP, next.HTTP) {
		restart = append(restart, "http")
		next.HTTP = c.HTTP
	}
	if !reflect.DeepEqual(c.Cluster, next.Cluster) {
		restart = append(restart, "cluster")
		next.Cluster = c.Cluster
	}
	return next, restart
}

// effective is the configuration in force, for GET /config.
func (r *reloader) effective() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running.effective()
}

// stats is the reload section of /stats.
func (r *reloader) stats() any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return map[string]any{"reloads": r.reloads, "failed": r.failed, "last": r.last}
}

// answer is reload for the admin server.
func (r *reloader) answer() (any, error) { return r.reload() }

// catchHangup catches SIGHUP from the start, since its default action
// would kill the daemon on the spot (no drain, no cluster leave, the unix
// socket left behind); one that arrives before the daemon serves waits for
// onHangup. SIGHUP stays caught (and is dropped) until the process exits,
// so a late one is harmless too.
func catchHangup() <-chan os.Signal {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return hup
}

// onHangup reloads the configuration on each SIGHUP; the returned stop
// ends it.
func onHangup(hup <-chan os.Signal, r *reloader) (stop func()) {
	return background(func(ctx context.Context) {
		for {
			select {
			case <-hup:
				r.reload()
			case <-ctx.Done():
				return
			}
		}
	})
}
