package faeclient

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A Go program outside this repository requires the module and builds with
// the package, offline: a replace directive to this checkout stands for
// `go get github.com/faed/faed/idl/faeclient`, and the module cache, filled
// by building faed, holds every dependency.
func TestAnOutsideModuleCanRequireIt(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	root := strings.TrimSpace(string(out))
	dir := t.TempDir()
	const main = `package main

import (
	"context"
	"fmt"
	"os"

	"github.com/faed/faed/idl/faeclient"
	"github.com/faed/faed/idl/gen-go/fun/rpc"
)

func main() {
	ctx := context.Background()
	c, err := faeclient.Dial(ctx, faeclient.Config{Addr: os.Args[1]})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	err = c.Call(ctx, func(fs rpc.FunServant) error {
		pong, err := fs.Ping(ctx, faeclient.NewContext(ctx, "user.main"))
		fmt.Println(pong)
		return err
	})
	fmt.Println(err)
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	for _, args := range [][]string{
		{"mod", "init", "example.com/user"},
		{"mod", "edit", "-require", "github.com/faed/faed@v0.0.0", "-replace", "github.com/faed/faed=" + root},
		{"build", "-o", filepath.Join(dir, "user"), "."},
	} {
		cmd := exec.Command("go", args...)
		cmd.Dir, cmd.Env = dir, env
		if out, err := cmd.CombinedOutput(); err != nil {
			if strings.Contains(string(out), "GOPROXY=off") {
				t.Skipf("go %s needs a module the cache lacks, and GOPROXY=off forbids the download (offline):\n%s", strings.Join(args, " "), out)
			}
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	addr := "unix:" + filepath.Join(dir, "none.sock")
	out, err = exec.Command(filepath.Join(dir, "user"), addr).CombinedOutput()
	if !strings.Contains(string(out), "faeclient: dial "+addr) {
		t.Fatalf("the outside program ran: %v, %q; want it to report no faed at its address", err, out)
	}
}
