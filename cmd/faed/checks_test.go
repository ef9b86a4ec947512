package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faed/faed/pool"
	"github.com/faed/faed/scripts/testserver"
)

func TestWithin(t *testing.T) {
	tests := []struct {
		name, p, root string
		want          bool
	}{
		{"itself", "/fae", "/fae", true},
		{"child", "/fae/cluster", "/fae", true},
		{"grandchild", "/fae/cluster/members", "/fae", true},
		{"parent", "/fae", "/fae/cluster", false},
		{"sibling sharing a prefix", "/fae-x", "/fae", false},
		{"prefix without a slash", "/fae/clusterx", "/fae/cluster", false},
		{"sibling", "/fae/zk", "/fae/cluster", false},
		{"everything is within the root", "/fae/cluster", "/", true},
		{"root within root", "/", "/", true},
		{"trailing slash", "/fae/cluster/", "/fae", true},
		{"dot-dot resolved", "/fae/zk/../cluster", "/fae/cluster", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := within(tt.p, tt.root); got != tt.want {
				t.Fatalf("within(%q, %q) = %v, want %v", tt.p, tt.root, got, tt.want)
			}
		})
	}
}

func TestCheckZKRoots(t *testing.T) {
	tests := []struct {
		name                  string
		zkRoot, clusterRoot   string
		zkServant, inACluster bool
		refused               bool
	}{
		{"apart", "/fae/zk", "/fae/cluster", true, true, false},
		{"equal", "/fae/cluster", "/fae/cluster", true, true, true},
		{"zk root contains the cluster root", "/fae", "/fae/cluster", true, true, true},
		{"zk root inside the cluster root", "/fae/cluster/apps", "/fae/cluster", true, true, true},
		{"cluster root is /", "/apps", "/", true, true, true},
		{"sharing a prefix only", "/fae-x", "/fae", true, true, false},
		{"default cluster root", "/fae", "", true, true, true},
		{"no zk servant", "/fae", "/fae/cluster", false, true, false},
		{"no cluster", "/fae", "/fae/cluster", true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultConfig()
			c.Servant.ZK.Root, c.Cluster.Root = tt.zkRoot, tt.clusterRoot
			if tt.zkServant {
				c.Servant.ZK.Servers = []string{"127.0.0.1:2181"}
			}
			if tt.inACluster {
				c.Cluster.ZooKeeper, c.Cluster.Advertise = []string{"127.0.0.1:2181"}, "127.0.0.1:9001"
			}
			err := checkZKRoots(c)
			if (err != nil) != tt.refused {
				t.Fatalf("checkZKRoots = %v, want refused=%v", err, tt.refused)
			}
			if err != nil && (!strings.Contains(err.Error(), "[servant.zk] root") || !strings.Contains(err.Error(), "[cluster] root")) {
				t.Fatalf("the error names not both keys: %v", err)
			}
			if err := c.Validate(); (err != nil) != tt.refused {
				t.Fatalf("Validate = %v, want refused=%v", err, tt.refused)
			}
		})
	}
}

// overlappingRoots is a zk servant whose clients could reach the cluster's
// own znodes; no ZooKeeper needs to run, faed must refuse before dialing.
const overlappingRoots = `
[servant.zk]
servers = ["127.0.0.1:1"]
root = "/fae"
[cluster]
zookeeper = ["127.0.0.1:1"]
root = "/fae/cluster"
advertise = "{{TCP}}"
`

func TestCheckRefusesOverlappingZKRoots(t *testing.T) {
	path := filepath.Join(t.TempDir(), "faed.toml")
	os.WriteFile(path, []byte(strings.ReplaceAll(overlappingRoots, "{{TCP}}", "127.0.0.1:9001")), 0o644)
	out, err := exec.Command(testserver.FaedBinary(t), "-check", path).CombinedOutput()
	if exitCode(err) != 1 || !strings.Contains(string(out), `[servant.zk] root "/fae" and [cluster] root "/fae/cluster"`) {
		t.Fatalf("faed -check: %v, %s; want status 1 naming both roots", err, out)
	}
}

func TestStartRefusesOverlappingZKRoots(t *testing.T) {
	d := testserver.NewFaed(t, t.TempDir())
	d.WriteConfig(t, overlappingRoots)
	d.Launch(t)
	select {
	case <-d.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("faed still running 15s after starting on overlapping zk roots")
	}
	err := d.Err()
	if log := d.Log.String(); exitCode(err) != 1 || !strings.Contains(log, "[servant.zk] root") || !strings.Contains(log, "[cluster] root") {
		t.Fatalf("faed exit: %v, log %q; want status 1 naming both keys", err, log)
	}
}

// exitCode is the exit status in err from exec, 0 for nil, -1 otherwise.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		return ee.ExitCode()
	}
	return -1
}

func TestCheckRefusesPublicAdminWithoutToken(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("0123456789abcdef0123\n"), 0o600)
	tests := []struct {
		name, toml string
		ok         bool
		mention    string
	}{
		{"public without token", "[http]\nlisten = \"0.0.0.0:9002\"\n", false, `[http] listen: "0.0.0.0:9002" is not a loopback address, so token or token_file must be set`},
		{"public with token", "[http]\nlisten = \"0.0.0.0:9002\"\ntoken = \"0123456789abcdef0123\"\n", true, "ok"},
		{"public with token_file", "[http]\nlisten = \"0.0.0.0:9002\"\ntoken_file = \"" + tokenFile + "\"\n", true, "ok"},
		{"both", "[http]\ntoken = \"0123456789abcdef0123\"\ntoken_file = \"" + tokenFile + "\"\n", false, "[http] token, token_file"},
		{"short token", "[http]\ntoken = \"letmein\"\n", false, "[http] token: want at least 16"},
		{"missing token_file", "[http]\ntoken_file = \"" + filepath.Join(dir, "nope") + "\"\n", false, "[http] token_file:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "faed.toml")
			os.WriteFile(path, []byte(tt.toml), 0o644)
			out, err := exec.Command(testserver.FaedBinary(t), "-check", path).CombinedOutput()
			if (err == nil) != tt.ok || !strings.Contains(string(out), tt.mention) {
				t.Fatalf("faed -check: err %v, output %q; want ok=%v mentioning %q", err, out, tt.ok, tt.mention)
			}
			if strings.Contains(string(out), "0123456789abcdef0123") {
				t.Fatalf("faed -check printed the token: %s", out)
			}
		})
	}
}

func TestEffectiveConfigMasksToken(t *testing.T) {
	c := defaultConfig()
	c.HTTP.Token = "0123456789abcdef-secret"
	out := string(c.effective())
	if strings.Contains(out, "0123456789abcdef-secret") || !strings.Contains(out, `token = "`+pool.Masked+`"`) {
		t.Fatalf("effective config shows the token or lacks its mask:\n%s", out)
	}
}
