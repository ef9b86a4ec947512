package main

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"
)

// dialRetryDelay keeps a client from spinning when the server refuses.
const dialRetryDelay = 10 * time.Millisecond

// errAborted is what a client's connect answers after abort.
var errAborted = errors.New("faebench: client aborted")

// client is one load-generating client. Its histogram and counters belong
// to its goroutine until run returns; nothing on the call path locks.
type client struct {
	cfg   loadConfig
	call  callFunc
	phase *atomic.Int32
	rc    *rpc.Context // built once, sent with every call

	// mu guards conn and aborted. Only the client's goroutine sets conn,
	// so it reads conn without the lock; abort reads it with the lock.
	mu      sync.Mutex
	conn    *conn // nil when not connected
	aborted bool

	hist     histogram
	errors   int64
	firstErr error
}

func newClient(i int, cfg loadConfig, call callFunc, phase *atomic.Int32) *client {
	rc := &rpc.Context{Rid: int64(i + 1), Reason: "bench", UID: int64(1000 + i)}
	return &client{cfg: cfg, call: call, phase: phase, rc: rc}
}

// run calls until the phase turns to stop.
func (c *client) run() {
	defer c.disconnect()
	for c.phase.Load() != phaseStop {
		if c.cfg.pattern == "php" {
			c.webRequest()
		} else {
			c.persistentCall()
		}
	}
}

// persistentCall makes one call on the client's long-lived connection,
// connecting first if needed.
func (c *client) persistentCall() {
	start := time.Now()
	if c.conn == nil && !c.connect() {
		return
	}
	c.callOnce(start)
}

// webRequest does what a PHP-FPM worker does per web request: connect,
// phpCalls calls, close. The first call's latency includes the connect.
func (c *client) webRequest() {
	start := time.Now()
	if !c.connect() {
		return
	}
	for i := 0; i < phpCalls && c.conn != nil; i++ {
		if i > 0 {
			start = time.Now()
		}
		c.callOnce(start)
	}
	c.disconnect()
}

// callOnce makes one call and records it; an error that breaks the
// connection closes it.
func (c *client) callOnce(start time.Time) {
	err := c.call(c.conn, c.rc)
	c.record(start, err)
	if err != nil && connBroken(err) {
		c.disconnect()
	}
}

// connect dials the target; a failure counts as an error.
func (c *client) connect() bool {
	conn, err := dial(c.cfg.target, c.cfg.wire)
	if err == nil {
		err = c.setConn(conn)
	}
	if err != nil {
		c.record(time.Time{}, err)
		time.Sleep(dialRetryDelay)
		return false
	}
	return true
}

func (c *client) setConn(conn *conn) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.aborted {
		conn.Close()
		return errAborted
	}
	c.conn = conn
	return nil
}

func (c *client) disconnect() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// abort closes the client's connection from outside, so a call stuck on a
// server that stopped answering returns, and keeps it from reconnecting.
// It is safe to call concurrently with run.
func (c *client) abort() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.aborted = true
	if c.conn != nil {
		c.conn.Close()
	}
}

// record counts a finished call if it finished inside the measured window.
func (c *client) record(start time.Time, err error) {
	if c.phase.Load() != phaseMeasure {
		return
	}
	if err != nil {
		if c.errors == 0 {
			c.firstErr = err
		}
		c.errors++
		return
	}
	c.hist.record(time.Since(start))
}
