package main

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// versionText is what faed -version prints: the version set at build time,
// then what the Go toolchain recorded of the build — its Go version, the
// commit and its time, and whether the tree had uncommitted changes.
func versionText() string {
	var b strings.Builder
	fmt.Fprintf(&b, "faed %s", version)
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b.String()
	}
	fmt.Fprintf(&b, "\ngo: %s", info.GoVersion)
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision", "vcs.time", "vcs.modified", "GOOS", "GOARCH", "-race":
			fmt.Fprintf(&b, "\n%s: %s", s.Key, s.Value)
		}
	}
	return b.String()
}
