// Command faed is the fae daemon: it serves FunServant to PHP and other
// Thrift clients. main only wires packages together: flags → config →
// servants → engine → serve until a signal → shut down in order.
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

	"faed/engine"
	"faed/idl/gen-go/fun/rpc"
	"faed/servant"
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
		fmt.Println("faed", version)
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
	log := cfg.Log.logger()
	slog.SetDefault(log)
	if err := serve(cfg, log); err != nil {
		log.Error("faed stopped", "err", err)
		return 1
	}
	return 0
}

// serve runs the daemon until SIGTERM, SIGINT or POST /stop, then shuts
// down in this order: stop accepting and drain calls (bounded by
// shutdown_timeout), stop the admin server, close the servants.
func serve(cfg Config, log *slog.Logger) error {
	funs, err := servant.New(cfg.Servant, servant.Info{Version: version, Node: nodeName(cfg)}, log)
	if err != nil {
		return err
	}
	defer funs.Close()
	runCtx, stopRun := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		funs.Run(runCtx)
	}()
	defer func() { // before funs.Close: stop the backends' pings first
		stopRun()
		<-runDone
	}()
	eng, err := engine.New(cfg.Engine, rpc.NewFunServantProcessor(funs), log)
	if err != nil {
		return err
	}
	if err := eng.Listen(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	admin := engine.NewAdmin(cfg.HTTP, eng, engine.AdminOptions{
		Version:  version,
		Sections: map[string]func() any{"servant": funs.Stats},
		Config:   cfg.effective,
		Stop:     stop,
	})
	if err := admin.Listen(); err != nil {
		return err
	}
	go admin.Serve()
	log.Info("faed serving", "version", version, "listen", cfg.Engine.Listen, "http", admin.Addr().String())

	err = eng.Serve(ctx)
	log.Info("faed drained, shutting down")
	actx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	admin.Shutdown(actx)
	return err
}

// nodeName identifies this node in ping replies and logs.
func nodeName(cfg Config) string {
	host, _ := os.Hostname()
	return host + "/" + cfg.Engine.Listen[0]
}
