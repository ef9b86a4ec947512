package zk

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

// A raw connection, outside any root, to check what the Client did.

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

// rawConn returns an unconfined connection to addr, closed in t.Cleanup.
func rawConn(t *testing.T, addr string) *zk.Conn {
	t.Helper()
	conn, _, err := zk.Connect([]string{addr}, 5*time.Second,
		zk.WithLogger(discardLogger{}), zk.WithLogInfo(false))
	if err != nil {
		t.Fatalf("raw connect: %v", err)
	}
	t.Cleanup(conn.Close)
	return conn
}

func rawCreate(t *testing.T, conn *zk.Conn, p, data string) {
	t.Helper()
	if _, err := conn.Create(p, []byte(data), 0, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
		t.Fatalf("raw create %q: %v", p, err)
	}
}

func rawGet(t *testing.T, conn *zk.Conn, p string) string {
	t.Helper()
	data, _, err := conn.Get(p)
	if err != nil {
		t.Fatalf("raw get %q: %v", p, err)
	}
	return string(data)
}

func rawExists(t *testing.T, conn *zk.Conn, p string) bool {
	t.Helper()
	ok, _, err := conn.Exists(p)
	if err != nil {
		t.Fatalf("raw exists %q: %v", p, err)
	}
	return ok
}

// wantChildren fails the test unless p's children are exactly want.
func wantChildren(t *testing.T, conn *zk.Conn, p string, want ...string) {
	t.Helper()
	names, _, err := conn.Children(p)
	if err != nil {
		t.Fatalf("raw children %q: %v", p, err)
	}
	slices.Sort(names)
	if !slices.Equal(names, want) {
		t.Fatalf("children of %q = %q, want %q", p, names, want)
	}
}
