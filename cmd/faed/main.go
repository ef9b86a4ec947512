// Command faed is the fae daemon: it serves FunServant to PHP and other
// Thrift clients. main only wires packages together: flags → config →
// cluster → servants → engine → serve until a signal → shut down in order.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/faed/faed/engine"
	"github.com/faed/faed/peer"
	"github.com/faed/faed/servant"
)

// version is set at build time: -ldflags "-X main.version=…".
var version = "dev"

func main() {
	configPath := flag.String("config", "etc/faed.toml", "configuration `file`")
	check := flag.String("check", "", "validate configuration `file` and exit")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	switch {
	case *showVersion:
		fmt.Println(versionText())
	case *check != "":
		os.Exit(checkConfig(*check))
	default:
		os.Exit(run(*configPath))
	}
}

func checkConfig(path string) int {
	if _, err := loadConfig(path); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("%s: ok\n", path)
	return 0
}

func run(configPath string) int {
	cfg, err := loadConfig(configPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "faed:", err)
		return 1
	}
	level := new(slog.LevelVar)
	log := cfg.Log.logger(level)
	slog.SetDefault(log)
	if err := serve(configPath, cfg, log, level); err != nil {
		log.Error("faed stopped", "err", err)
		return 1
	}
	return 0
}

// background runs f(ctx) in a goroutine; the returned stop cancels it and
// waits for it to return.
func background(f func(context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// serve runs the daemon until SIGTERM, SIGINT or POST /stop; SIGHUP and
// POST /reload apply the file at path again (reload.go). Start-up order:
// claim the worker id, follow the cluster, build servants, listen, join.
// Shut-down order (deferred, so it runs in reverse): leave the cluster,
// drain calls (bounded by shutdown_timeout), stop the admin server, stop
// the backends' background work, close the cluster, close the servants.
func serve(path string, cfg Config, log *slog.Logger, level *slog.LevelVar) error {
	hup := catchHangup()
	cluster, err := startCluster(cfg, log)
	if err != nil {
		return err
	}
	opts := servant.Options{Version: version, Log: log, CallTimeout: cfg.Engine.CallTimeout}
	if cluster != nil {
		defer cluster.Close()
		defer background(cluster.Run)()
		opts.Router, opts.Worker, opts.Notices = cluster, cluster, cluster
		opts.MoveBatchKeys = cluster.MoveBatchKeys()
	}
	funs, err := servant.New(cfg.Servant, opts)
	if err != nil {
		return err
	}
	defer funs.Close()
	if cluster != nil {
		// Drop on sight, from the first view on: state of a vbucket the
		// map neither gives us nor moves here is garbage.
		cluster.OnView(funs.ViewChanged)
	}
	eng, err := engine.New(cfg.Engine, servant.NewProcessor(funs), log)
	if err != nil {
		return err
	}
	reload := newReloader(path, cfg, eng, funs, level, log)
	defer onHangup(hup, reload)()
	if err := eng.Listen(); err != nil {
		return err
	}
	sigCtx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	admin, err := startAdmin(cfg, eng, funs, cluster, reload, stop)
	if err != nil {
		return err
	}
	defer shutdownAdmin(admin)
	if cluster != nil {
		if err := cluster.Join(sigCtx); err != nil {
			return err
		}
	}
	backlog, warning := engine.ListenBacklog(cfg.Engine.MaxOutstandingSessions)
	log.Info("faed serving", "version", version, "listen", cfg.Engine.Listen, "http", admin.Addr().String(), "listen_backlog", backlog)
	if warning != "" {
		log.Warn("faed: " + warning)
	}
	go drainOnSignal(sigCtx, cfg, eng, cluster, log)
	return eng.Serve(context.Background())
}

// startCluster claims the idgen worker id in ZooKeeper; nil without
// ZooKeeper (a one-node cluster, every key ours).
func startCluster(cfg Config, log *slog.Logger) (*peer.Cluster, error) {
	if len(cfg.Cluster.ZooKeeper) == 0 {
		return nil, nil
	}
	cluster, err := peer.New(cfg.Cluster, log)
	if err != nil {
		return nil, err
	}
	if err := cluster.ClaimWorker(cfg.Servant.IDGen.WorkerID); err != nil {
		cluster.Close()
		return nil, err
	}
	return cluster, nil
}

func startAdmin(cfg Config, eng *engine.Engine, funs *servant.FunServant, cluster *peer.Cluster, reload *reloader, stop func()) (*engine.Admin, error) {
	sections := map[string]func() any{"servant": funs.Stats, "reload": reload.stats}
	opts := engine.AdminOptions{Version: version, Sections: sections, Config: reload.effective, Stop: stop, Reload: reload.answer, Degrade: degrader{funs}, Shards: funs}
	if cluster != nil {
		sections["cluster"] = cluster.Stats
		opts.Cluster = cluster
	}
	admin, err := engine.NewAdmin(cfg.HTTP, eng, opts)
	if err != nil {
		return nil, err
	}
	if err := admin.Listen(); err != nil {
		return nil, err
	}
	go admin.Serve()
	return admin, nil
}

// degrader serves /degrade with the servant's switches.
type degrader struct{ funs *servant.FunServant }

func (d degrader) SetSwitch(name, pool, mode, reason, who string) (any, error) {
	return d.funs.SetSwitch(name, pool, mode, reason, who)
}

func (d degrader) Switches() any { return d.funs.Switches() }

func shutdownAdmin(admin *engine.Admin) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	admin.Shutdown(ctx)
}

// drainOnSignal hands this node's vbuckets off and leaves the cluster
// first, so peers stop forwarding here, then drains the engine; Serve
// returns when the drain ends. shutdown_timeout bounds the whole.
func drainOnSignal(sigCtx context.Context, cfg Config, eng *engine.Engine, cluster *peer.Cluster, log *slog.Logger) {
	<-sigCtx.Done()
	log.Info("faed shutting down")
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Engine.ShutdownTimeout)
	defer cancel()
	if cluster != nil {
		handOff(ctx, cfg, cluster, log)
		cluster.Leave()
	}
	if err := eng.Shutdown(ctx); err != nil {
		log.Warn("drain deadline passed; remaining connections closed", "timeout", cfg.Engine.ShutdownTimeout)
	}
}

// handOff drains this node's vbuckets to the others before it leaves, for
// at most half of ctx's time: the rest is the engine's drain. A node that
// cannot hand off (no other member, ZooKeeper down) leaves anyway, and
// says what stays behind.
func handOff(ctx context.Context, cfg Config, cluster *peer.Cluster, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Engine.ShutdownTimeout/2)
	defer cancel()
	if err := cluster.DrainToStop(); err != nil {
		log.Warn("cannot hand the vbuckets off before leaving", "err", err)
		return
	}
	for !cluster.Drained() {
		_, next := cluster.Changed()
		select {
		case <-next:
		case <-ctx.Done():
			log.Warn("leaving before every vbucket was handed off", "timeout", cfg.Engine.ShutdownTimeout/2)
			return
		}
	}
	log.Info("every vbucket handed off")
}
