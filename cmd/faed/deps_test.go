package main

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestDependencyDirection keeps the layout of STYLE.md true, as the Go
// standard library's go/build deps_test does: cmd may import anything;
// servant imports its servant/<x> packages, idl and peer/vbucket (the
// value types of its Router interface); a servant/<x> package
// imports pool only, never a sibling, the engine or peer; peer imports
// pool, idl and peer/vbucket; engine imports pool only (for pool.Secret); the
// Go client idl/faeclient imports the generated stubs only; pool, idl and
// the test harness import nothing of ours. Tests may import more (the
// real-server harness, the IDL).
func TestDependencyDirection(t *testing.T) {
	for _, pkg := range listPackages(t) {
		allowed := allowedImports(strings.TrimPrefix(pkg.ImportPath, module))
		for _, imp := range pkg.Imports {
			ours, found := strings.CutPrefix(imp, module)
			if !found || allowed(ours) {
				continue
			}
			t.Errorf("%s imports %s, against the layout's dependency direction", pkg.ImportPath, imp)
		}
	}
}

// module is our module path, with the slash our package paths continue it by.
const module = "github.com/faed/faed/"

type goPackage struct {
	ImportPath string
	Imports    []string // non-test imports
}

func listPackages(t *testing.T) []goPackage {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

// allowedImports says which of our packages pkg may import; both are paths
// within the module, such as "servant/lock".
func allowedImports(pkg string) func(string) bool {
	const idl = "idl/gen-go/fun/rpc"
	const vbucket = "peer/vbucket"
	only := func(ok ...string) func(string) bool {
		return func(imp string) bool { return slices.Contains(ok, imp) }
	}
	switch {
	case strings.HasPrefix(pkg, "cmd/"):
		return func(string) bool { return true }
	case pkg == "servant":
		// peer/vbucket gives the Router interface its value type
		// (Placement); the rest of peer stays behind that interface.
		return func(imp string) bool { return imp == idl || imp == vbucket || strings.HasPrefix(imp, "servant/") }
	case strings.HasPrefix(pkg, "servant/"):
		return only("pool")
	case pkg == "peer":
		return only("pool", idl, vbucket)
	case pkg == "engine":
		return only("pool")
	case pkg == "idl/faeclient":
		// Other Go programs import it: nothing of the daemon.
		return only(idl)
	default: // pool, idl, scripts/testserver
		return only()
	}
}
