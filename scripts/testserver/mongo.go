package testserver

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Mongo is a MongoDB-protocol server on 127.0.0.1: FerretDB with its embedded SQLite backend,
// run from the helper in scripts/ferretdb. It has no transactions and no replica set.
type Mongo struct {
	Addr string // host:port
	URI  string // mongodb://host:port/

	p *proc
}

// StartMongo builds the FerretDB helper if needed (about two minutes the first time), starts it
// on a free port with data in a temp dir, and returns once the Go driver's ping succeeds.
func StartMongo(t testing.TB) *Mongo {
	t.Helper()
	bin := ferretdbBinary(t)
	dir := t.TempDir()
	m := &Mongo{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))}
	m.URI = "mongodb://" + m.Addr + "/"
	m.p = newProc(t, &proc{
		name:    "ferretdb " + m.Addr,
		path:    bin,
		args:    []string{"-listen", m.Addr, "-dir", dir},
		logPath: filepath.Join(dir, "ferretdb.log"),
		timeout: 30 * time.Second,
		ready:   m.ready,
	})
	m.p.start()
	return m
}

// Stop shuts the server down. It is idempotent.
func (m *Mongo) Stop() { m.p.stop() }

// Restart stops the server if it runs and starts it again on the same port and data.
func (m *Mongo) Restart() {
	m.p.t.Helper()
	m.p.restart()
}

// ready connects with the real driver: a handshake (hello) and a ping. A plain TCP connect
// comes first because the driver, once refused, waits for its next heartbeat (0.5s) to retry.
func (m *Mongo) ready(ctx context.Context) error {
	ctx, cancel := attempt(ctx)
	defer cancel()
	conn, err := dial(ctx, m.Addr)
	if err != nil {
		return err
	}
	conn.Close()
	c, err := mongo.Connect(options.Client().ApplyURI(m.URI).
		SetConnectTimeout(time.Second).SetServerSelectionTimeout(time.Second))
	if err != nil {
		return err
	}
	defer c.Disconnect(context.Background())
	return c.Ping(ctx, nil)
}
