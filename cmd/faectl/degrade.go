package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// switchJSON is one operator switch as GET /degrade lists it.
type switchJSON struct {
	Name   string    `json:"name"`
	Mode   string    `json:"mode"`
	Reason string    `json:"reason"`
	Who    string    `json:"who"`
	Since  time.Time `json:"since"`
}

// cmdDegrade lists the switches in force, or switches SERVANT[:POOL]
// degraded (every call refused at once) or, with -read-only, read-only.
func cmdDegrade(e *env, args []string) error {
	fs := e.flagSet("degrade")
	readOnly := fs.Bool("read-only", false, "refuse writes only; reads go on")
	reason := fs.String("reason", "", "why: shown with every refused call, /stats and /metrics (required)")
	who := fs.String("who", os.Getenv("USER"), "who switches, shown beside the reason")
	if err := e.parseFlags(fs, args, true); err != nil {
		return err
	}
	switch fs.NArg() {
	case 0:
		return listSwitches(e)
	case 1:
	default:
		fmt.Fprintln(e.errOut, "degrade: name one SERVANT or SERVANT:POOL (memcache, mysql, mongodb)")
		return errUsage
	}
	if *reason == "" {
		fmt.Fprintln(e.errOut, "degrade: say why with -reason: the switch holds until faectl undegrade")
		return errUsage
	}
	mode := "degraded"
	if *readOnly {
		mode = "read_only"
	}
	return setSwitch(e, fs.Arg(0), mode, *reason, *who)
}

// cmdUndegrade lifts the switch on SERVANT[:POOL].
func cmdUndegrade(e *env, args []string) error {
	fs := e.flagSet("undegrade")
	who := fs.String("who", os.Getenv("USER"), "who lifts the switch, for the log")
	if err := e.parseFlags(fs, args, true); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(e.errOut, "undegrade: name one SERVANT or SERVANT:POOL")
		return errUsage
	}
	return setSwitch(e, fs.Arg(0), "off", "", *who)
}

func setSwitch(e *env, target, mode, reason, who string) error {
	name, pool, _ := strings.Cut(target, ":")
	q := url.Values{"servant": {name}, "pool": {pool}, "mode": {mode}, "reason": {reason}, "who": {who}}
	if _, err := e.adminClient().do(http.MethodPost, "/degrade?"+q.Encode()); err != nil {
		return err
	}
	if mode == "off" {
		fmt.Fprintf(e.out, "%s: switch lifted\n", target)
	} else {
		fmt.Fprintf(e.out, "%s: %s (%s)\n", target, mode, reason)
	}
	return nil
}

func listSwitches(e *env) error {
	body, err := e.adminClient().do(http.MethodGet, "/degrade")
	if err != nil {
		return err
	}
	var got struct {
		Switches []switchJSON `json:"switches"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		return fmt.Errorf("node %s: GET /degrade: %w", e.admin, err)
	}
	if len(got.Switches) == 0 {
		fmt.Fprintln(e.out, "no degrade switch in force")
		return nil
	}
	for _, s := range got.Switches {
		fmt.Fprintf(e.out, "%-24s %-9s since %s by %s: %s\n", s.Name, s.Mode, s.Since.Format(time.RFC3339), cmp.Or(s.Who, "?"), s.Reason)
	}
	return nil
}
