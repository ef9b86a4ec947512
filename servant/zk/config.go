package zk

import (
	"fmt"
	"strings"
	"time"
)

// Config holds the [servant.zk] section of faed's TOML file.
type Config struct {
	// Servers lists the ZooKeeper ensemble as "host:port" ("host" alone
	// means port 2181). Empty means the servant is not configured and its
	// calls are refused. Default empty.
	Servers []string `toml:"servers"`

	// Root is the only subtree clients may touch: a client's "/a/b" is
	// Root+"/a/b". It must be absolute and clean (no trailing slash, no
	// "." or ".." or empty segments), must not be "/" and must not lie
	// under /zookeeper. Keep the cluster's own nodes outside it (see
	// Contains). Default "/fae/zk".
	Root string `toml:"root"`

	// SessionTimeout is the ZooKeeper session timeout asked for; the
	// server may clamp it to its own bounds. Default 10s; at least 1s: 0 is
	// refused (a ZooKeeper session needs a timeout).
	SessionTimeout time.Duration `toml:"session_timeout"`

	// Timeout bounds each call, from entry to answer, including the wait
	// for a connection. Default 3s; 0: off, only the call's deadline bounds
	// it; otherwise at least 1ms.
	Timeout time.Duration `toml:"timeout"`
}

// DefaultConfig returns the documented defaults (the TOML file is decoded on top of it).
func DefaultConfig() Config {
	return Config{Root: "/fae/zk", SessionTimeout: 10 * time.Second, Timeout: 3 * time.Second}
}

// Configured reports whether any server is listed. A valid Config that is
// not configured is normal: the node simply does not serve zk_* calls.
func (c Config) Configured() bool { return len(c.Servers) > 0 }

// Validate returns an error naming the bad key, e.g.
// `root: must be absolute, got "fae/zk"`.
func (c Config) Validate() error {
	for i, s := range c.Servers {
		if s == "" || strings.ContainsAny(s, " \t\r\n,") {
			return fmt.Errorf("servers[%d]: must be one host:port, got %q", i, s)
		}
	}
	if err := checkRoot(c.Root); err != nil {
		return fmt.Errorf("root: %w", err)
	}
	if c.SessionTimeout < time.Second {
		return fmt.Errorf("session_timeout: must be at least 1s, got %s: a ZooKeeper session needs a timeout", c.SessionTimeout)
	}
	if c.Timeout != 0 && c.Timeout < time.Millisecond {
		return fmt.Errorf("timeout: must be 0 (off) or at least 1ms, got %s", c.Timeout)
	}
	return nil
}

// Contains reports whether the znode at the absolute path p is inside
// Root (Root itself included), that is, reachable by clients. The wiring
// uses it to refuse a configuration whose cluster root clients could
// touch.
func (c Config) Contains(p string) bool {
	return p == c.Root || strings.HasPrefix(p, c.Root+"/")
}

// checkRoot says what is wrong with root, or nil.
func checkRoot(root string) error {
	switch {
	case !strings.HasPrefix(root, "/"):
		return fmt.Errorf("must be absolute, got %q", root)
	case root == "/":
		return fmt.Errorf("must not be \"/\": clients would reach the whole tree")
	case strings.HasSuffix(root, "/"):
		return fmt.Errorf("must not end in a slash, got %q", root)
	case root == "/zookeeper" || strings.HasPrefix(root, "/zookeeper/"):
		return fmt.Errorf("must not lie under /zookeeper, got %q", root)
	}
	for _, seg := range strings.Split(root[1:], "/") {
		if err := checkSegment(seg); err != nil {
			return fmt.Errorf("%q: %w", root, err)
		}
	}
	return nil
}
