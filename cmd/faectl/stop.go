package main

import (
	"fmt"
	"net/http"
)

// cmdStop asks the node to drain and exit. It never prompts (CI has no
// stdin): without -yes it refuses.
func cmdStop(e *env, args []string) error {
	fs := e.flagSet("stop")
	yes := fs.Bool("yes", false, "confirm that the node at -admin should stop")
	if err := e.parseFlags(fs, args, false); err != nil {
		return err
	}
	if !*yes {
		fmt.Fprintf(e.errOut, "stop: refusing to stop node %s without -yes\n", e.admin)
		return errUsage
	}
	if _, err := e.adminClient().do(http.MethodPost, "/stop"); err != nil {
		return err
	}
	fmt.Fprintf(e.out, "node %s is stopping: it leaves its cluster, drains its calls and exits\n", e.admin)
	return nil
}
