package testserver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// helperDir is the FerretDB helper's module, relative to the repository root.
const helperDir = "scripts/ferretdb"

// ferretdbBuild builds the helper at most once per test binary. It is process-wide on purpose:
// every test in the binary shares the one build.
var ferretdbBuild struct {
	once sync.Once
	path string
	err  error
}

// ferretdbBinary returns the path of the built helper, building it into the user cache dir when
// it is missing or older than its source.
func ferretdbBinary(t testing.TB) string {
	t.Helper()
	goBin := lookBinary(t, "go", "golang-go")
	ferretdbBuild.once.Do(func() {
		began := time.Now()
		var built bool
		ferretdbBuild.path, built, ferretdbBuild.err = buildFerretDB(goBin)
		if built {
			t.Logf("testserver: built FerretDB helper in %v", time.Since(began).Round(time.Millisecond))
		}
	})
	if ferretdbBuild.err != nil {
		t.Fatalf("testserver: FerretDB helper: %v", ferretdbBuild.err)
	}
	return ferretdbBuild.path
}

// buildFerretDB builds the helper unless the cached binary is newer than every source file.
func buildFerretDB(goBin string) (path string, built bool, err error) {
	src, err := findHelper()
	if err != nil {
		return "", false, err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir() // no $HOME or $XDG_CACHE_HOME: build where we can
	}
	dir := filepath.Join(cache, "faed-ferretdb")
	path = filepath.Join(dir, "ferretdb")
	if fresh(path, src) {
		return path, false, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", false, err
	}
	// go test ./... runs several test binaries at once; one builds while the others wait,
	// then find the binary fresh.
	unlock, err := lockFile(filepath.Join(dir, "build.lock"))
	if err != nil {
		return "", false, err
	}
	defer unlock()
	if fresh(path, src) {
		return path, false, nil
	}
	return path, true, goBuild(goBin, src, path)
}

// goBuild builds the module in src into path. It writes a temporary file and renames it, so
// test binaries of several packages building at once never run a half-written binary.
func goBuild(goBin, src, path string) error {
	tmp := path + ".tmp" + strconv.Itoa(os.Getpid())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", tmp, ".")
	cmd.Dir = src
	// The helper is its own module; a go.work above it must not pull it into faed.
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("go build in %s: %v\n%s", src, err, out)
	}
	return os.Rename(tmp, path)
}

// findHelper walks up from the working directory (a package dir under go test) to the
// directory holding scripts/ferretdb/go.mod.
func findHelper() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		src := filepath.Join(dir, helperDir)
		if _, err := os.Stat(filepath.Join(src, "go.mod")); err == nil {
			return src, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New(helperDir + "/go.mod not found above the working directory")
		}
		dir = parent
	}
}

// fresh reports whether the file at bin exists and is newer than every file under src.
func fresh(bin, src string) bool {
	fi, err := os.Stat(bin)
	if err != nil {
		return false
	}
	stale := errors.New("stale")
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if info, err := d.Info(); err != nil || info.ModTime().After(fi.ModTime()) {
			return stale
		}
		return nil
	})
	return err == nil
}
