package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// cmdReload asks the node to read its configuration file again and apply
// what changed (POST /reload), then prints what it applied and the keys
// that wait for a restart. A file the node refuses is an error carrying its
// reason; the node runs on as it was.
func cmdReload(e *env, args []string) error {
	fs := e.flagSet("reload")
	if err := e.parseFlags(fs, args, false); err != nil {
		return err
	}
	body, err := e.adminClient().do(http.MethodPost, "/reload")
	if err != nil {
		return err
	}
	var answer struct {
		Reload struct {
			Applied []string `json:"applied"`
			Restart []string `json:"restart_needed"`
		} `json:"reload"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return fmt.Errorf("node %s: reading the reload's answer: %w", e.admin, err)
	}
	r := answer.Reload
	if len(r.Applied) == 0 {
		fmt.Fprintf(e.out, "node %s reloaded its configuration: nothing changed\n", e.admin)
	} else {
		fmt.Fprintf(e.out, "node %s reloaded its configuration: applied %s\n", e.admin, strings.Join(r.Applied, ", "))
	}
	if len(r.Restart) > 0 {
		fmt.Fprintf(e.out, "changed but waiting for a restart (running on the old values): %s\n", strings.Join(r.Restart, ", "))
	}
	return nil
}
