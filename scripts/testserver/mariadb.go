package testserver

import (
	"context"
	"database/sql"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // the readiness check speaks the real protocol
)

// MariaDB is a MariaDB server on 127.0.0.1 with a fresh data directory. User root has an empty
// password over TCP; there is no test database.
type MariaDB struct {
	Addr   string // host:port
	Socket string // Unix socket path

	p *proc
}

// StartMariaDB initializes a data directory, starts mariadbd on a free port and returns once
// "root@tcp(Addr)/" answers a ping.
func StartMariaDB(t testing.TB) *MariaDB {
	t.Helper()
	install := lookBinary(t, "mariadb-install-db", "mariadb-server")
	server := lookBinary(t, "mariadbd", "mariadb-server")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	// A private tmpdir: instances installing at once in the shared /tmp
	// were seen to trip over each other's temporary tables.
	tmp := filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	installDB(t, install, data, tmp, filepath.Join(dir, "install.log"))

	port := strconv.Itoa(freePort(t))
	m := &MariaDB{
		Addr:   net.JoinHostPort("127.0.0.1", port),
		Socket: filepath.Join(socketDir(t, dir), "mysqld.sock"),
	}
	m.p = newProc(t, &proc{
		name: "mariadbd " + m.Addr,
		path: server,
		args: []string{"--no-defaults", "--user=root", "--datadir=" + data, "--tmpdir=" + tmp,
			"--socket=" + m.Socket, "--port=" + port, "--bind-address=127.0.0.1",
			// Every account mariadb-install-db makes is by IP too (root@127.0.0.1), and a
			// reverse lookup per connection only adds latency.
			"--skip-name-resolve"},
		logPath: filepath.Join(dir, "mariadbd.log"),
		timeout: 60 * time.Second, // crash recovery after a kill can take a while
		ready:   m.ready,
	})
	m.p.start()
	return m
}

// DSN returns a go-sql-driver/mysql DSN for database db ("" for none) as root over TCP.
// Append "?param=value" for driver options.
func (m *MariaDB) DSN(db string) string {
	return "root@tcp(" + m.Addr + ")/" + db
}

// Stop shuts the server down cleanly. It is idempotent.
func (m *MariaDB) Stop() { m.p.stop() }

// Restart stops the server if it runs and starts it again on the same port and data.
func (m *MariaDB) Restart() {
	m.p.t.Helper()
	m.p.restart()
}

func (m *MariaDB) ready(ctx context.Context) error {
	ctx, cancel := attempt(ctx)
	defer cancel()
	db, err := sql.Open("mysql", m.DSN("")+"?timeout=1s")
	if err != nil {
		return err
	}
	defer db.Close()
	return db.PingContext(ctx)
}

// installDB runs mariadb-install-db into data, failing the test with its output on error.
func installDB(t testing.TB, bin, data, tmp, logPath string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	began := time.Now()
	out, err := exec.CommandContext(ctx, bin, "--no-defaults", "--user=root", "--datadir="+data,
		"--tmpdir="+tmp, "--auth-root-authentication-method=normal", "--skip-test-db").CombinedOutput()
	_ = os.WriteFile(logPath, out, 0o644)
	if err != nil {
		t.Logf("testserver: mariadb-install-db output:\n%s", tail(logPath, tailLines))
		t.Fatalf("testserver: mariadb-install-db: %v", err)
	}
	t.Logf("testserver: mariadb-install-db took %v", time.Since(began).Round(time.Millisecond))
}

// socketDir returns dir, or a shorter temporary directory when a socket path under dir would
// pass the 107-byte limit of a Unix socket address (t.TempDir embeds the test name).
func socketDir(t testing.TB, dir string) string {
	t.Helper()
	if len(dir) < 80 {
		return dir
	}
	short, err := os.MkdirTemp("", "faed-sock")
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(short) })
	return short
}
