package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/faed/faed/peer"
	"github.com/faed/faed/pool"
)

func cmdMembers(e *env, args []string) error {
	fs := e.flagSet("members")
	if err := e.parseFlags(fs, args, false); err != nil {
		return err
	}
	cs, err := e.adminClient().cluster()
	if err != nil {
		return err
	}
	printMembers(e.out, cs)
	return nil
}

// printMembers writes the node's view of the cluster: who it is, the member
// list's version, whether that may be out of date, the members, and its peers.
func printMembers(w io.Writer, cs *peer.Stats) {
	fmt.Fprintf(w, "node       %s\n", cs.Self)
	fmt.Fprintf(w, "zookeeper  %s\n", orDash(cs.ZooKeeper))
	fmt.Fprintf(w, "members    version %d, %d members\n", cs.MembersVersion, len(cs.Members))
	fmt.Fprintf(w, "stale      %s\n", staleText(cs))
	fmt.Fprintf(w, "received   %d calls from peers\n", cs.Received)
	fmt.Fprintln(w, "\nmembers:")
	for _, m := range cs.Members {
		if m == cs.Self {
			m += "  (this node)"
		}
		fmt.Fprintf(w, "  %s\n", m)
	}
	printPeers(w, cs.Peers)
}

// printPeers writes a table of the calls forwarded to each peer and the
// state of the peer's pool and breaker.
func printPeers(w io.Writer, peers []peer.PeerStats) {
	fmt.Fprintln(w, "\npeers:")
	if len(peers) == 0 {
		fmt.Fprintln(w, "  none")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  PEER\tFORWARDED\tERRORS\tOPEN\tIDLE\tBREAKER")
	for _, p := range peers {
		br := p.Pool.Breaker.State.String()
		if p.Pool.Breaker.State != pool.StateClosed && p.Pool.Breaker.Reason != "" {
			br += ": " + p.Pool.Breaker.Reason
		}
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%s\n", p.Addr, p.Forwarded, p.Errors, p.Pool.Open, p.Pool.Idle, br)
	}
	tw.Flush()
}

// staleText says whether the node's member list may be out of date, and why.
func staleText(cs *peer.Stats) string {
	if !cs.Stale {
		return "no"
	}
	text := "yes"
	if !cs.StaleSince.IsZero() {
		text += fmt.Sprintf(" for %v", time.Since(cs.StaleSince).Round(time.Second))
	}
	if cs.StaleReason != "" {
		text += ": " + cs.StaleReason
	}
	return text
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
