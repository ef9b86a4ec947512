package main

import (
	"context"
	"errors"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
)

// idleSettle is how long the idle connections are held before the server's
// RSS is read again, so the sessions are fully set up.
const idleSettle = 500 * time.Millisecond

// idleConfig describes one idle-connection memory run.
type idleConfig struct {
	label  string
	target endpoint
	wire   wire
	conns  int // connections to open and hold
	pid    int // server process whose RSS is read
}

// runIdle opens cfg.conns connections, each making one ping so the server
// really sets up its session, holds them while it reads the server's RSS,
// then closes them. The result is the RSS growth per open connection.
func runIdle(cfg idleConfig) (idleResult, error) {
	if cfg.conns < 1 || cfg.pid < 1 {
		return idleResult{}, errors.New("-idle needs a count >= 1 and -pid")
	}
	if err := cfg.wire.validate(); err != nil {
		return idleResult{}, err
	}
	if cfg.wire.protocol == "memcache" {
		return idleResult{}, errors.New("-idle speaks Thrift only: each connection makes one ping")
	}
	// Room for the connections plus what the process already has open.
	if err := raiseNoFile(uint64(cfg.conns) + 64); err != nil {
		return idleResult{}, err
	}
	r := idleResult{Mode: "idle", Label: cfg.label, Target: cfg.target.String()}
	var err error
	if r.RSSBefore, err = readRSSKiB(cfg.pid); err != nil {
		return idleResult{}, err
	}
	conns := openIdle(cfg, &r)
	defer closeConns(conns)
	time.Sleep(idleSettle)
	if r.RSSAfter, err = readRSSKiB(cfg.pid); err != nil {
		return idleResult{}, err
	}
	r.Conns = len(conns)
	if r.Conns > 0 {
		r.KiBPerConn = float64(r.RSSAfter-r.RSSBefore) / float64(r.Conns)
	}
	return r, nil
}

// openIdle opens the connections, counting failures in r.
func openIdle(cfg idleConfig, r *idleResult) []*conn {
	conns := make([]*conn, 0, cfg.conns)
	for i := range cfg.conns {
		c, err := dial(cfg.target, cfg.wire)
		if err == nil {
			rc := &rpc.Context{Rid: int64(i + 1), Reason: "bench", UID: int64(i + 1)}
			if _, err = c.client.Ping(context.Background(), rc); err != nil {
				c.Close()
			}
		}
		if err != nil {
			if r.Errors == 0 {
				r.FirstError = err.Error()
			}
			r.Errors++
			continue
		}
		conns = append(conns, c)
	}
	return conns
}

func closeConns(conns []*conn) {
	for _, c := range conns {
		c.Close()
	}
}

// waitReady dials ep until a connection succeeds or timeout passes.
func waitReady(ep endpoint, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := dial(ep, wire{transport: "buffered", protocol: "binary"})
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
