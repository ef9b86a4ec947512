// Command zkpatch writes a Go workspace in which one field of
// github.com/go-zookeeper/zk is race-free.
//
// The client's receive loop stores the last zxid it saw while its connection
// loop reads that field to re-send the watches after a reconnect, with no lock
// between them (go-zookeeper/zk pull request 35, samuel/go-zookeeper issue
// 260; still so in v1.0.4 and on master). The race detector failed our
// reconnect tests on it now and then; TestZooKeeperReconnectRaceFree in peer/
// fails on it at once. The workspace uses a copy of the module from the module
// cache with those four accesses made atomic and nothing else changed; a
// version whose text no longer matches is refused rather than patched by
// guess. make sets GOWORK to the workspace for everything it builds and tests.
//
//	GOWORK=off go run ./scripts/zkpatch .build/zk   # writes .build/zk/go.work and .build/zk/mod/
//	GOWORK=$PWD/.build/zk/go.work go test -race ./...
package main

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

const module = "github.com/go-zookeeper/zk"

// edits are the exact texts replaced in conn.go, each expected once.
var edits = []struct{ from, to string }{
	{"c.lastZxid = res.Zxid", "atomic.StoreInt64(&c.lastZxid, res.Zxid)"},
	{"c.lastZxid = 0", "atomic.StoreInt64(&c.lastZxid, 0)"},
	{"RelativeZxid: c.lastZxid,", "RelativeZxid: atomic.LoadInt64(&c.lastZxid),"},
	{"LastZxidSeen:    c.lastZxid,", "LastZxidSeen:    atomic.LoadInt64(&c.lastZxid),"},
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: zkpatch DIR")
		os.Exit(2)
	}
	if err := write(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "zkpatch:", err)
		os.Exit(1)
	}
}

func write(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	main, err := exec.Command("go", "list", "-m", "-f", "{{.GoVersion}} {{.Dir}}").Output()
	if err != nil {
		return fmt.Errorf("locating the main module: %w", err)
	}
	goVersion, root, _ := strings.Cut(strings.TrimSpace(string(main)), " ")
	if out, err := exec.Command("go", "mod", "download", module).CombinedOutput(); err != nil {
		return fmt.Errorf("go mod download %s: %w\n%s", module, err, out)
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}} {{.Dir}}", module).Output()
	if err != nil {
		return fmt.Errorf("locating %s: %w", module, err)
	}
	version, source, ok := strings.Cut(strings.TrimSpace(string(out)), " ")
	if !ok || source == "" {
		return fmt.Errorf("%s is not in the module cache (run go mod download)", module)
	}
	copyDir := filepath.Join(dir, "mod")
	if err := os.RemoveAll(copyDir); err != nil {
		return err
	}
	if err := copyTree(source, copyDir); err != nil {
		return err
	}
	conn := filepath.Join(copyDir, "conn.go")
	text, err := os.ReadFile(conn)
	if err != nil {
		return err
	}
	patched, err := patch(string(text))
	if err != nil {
		return fmt.Errorf("%s %s: %w", module, version, err)
	}
	if err := os.WriteFile(conn, []byte(patched), 0o644); err != nil {
		return err
	}
	work := fmt.Sprintf("go %s\n\nuse %s\n\nreplace %s %s => ./mod\n", goVersion, root, module, version)
	return os.WriteFile(filepath.Join(dir, "go.work"), []byte(work), 0o644)
}

// patch makes every access to lastZxid atomic.
func patch(text string) (string, error) {
	for _, e := range edits {
		if n := strings.Count(text, e.from); n != 1 {
			return "", fmt.Errorf("conn.go: %q appears %d times, want once; look at the race again for this version", e.from, n)
		}
		text = strings.Replace(text, e.from, e.to, 1)
	}
	if n := strings.Count(text, "c.lastZxid"); n != len(edits) {
		return "", fmt.Errorf("conn.go: %d uses of c.lastZxid, want %d; look at the race again for this version", n, len(edits))
	}
	if !strings.Contains(text, "\t\"sync/atomic\"\n") {
		return "", fmt.Errorf("conn.go does not import sync/atomic")
	}
	return text, nil
}

// copyTree copies the module's files; the cache's copies are read-only, ours are not.
func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		target := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}
