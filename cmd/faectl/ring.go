package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"faed/peer"
)

// defaultSamples is how many synthetic keys ring places to estimate each
// member's share of the hash space. The ring's points are private to package
// peer, so faectl measures the ring the way traffic sees it, through Owner.
// With 100,000 keys a share is within ±0.5 percentage points of the true
// arc length (three standard errors).
const defaultSamples = 100_000

func cmdRing(e *env, args []string) error {
	fs := e.flagSet("ring")
	keys := fs.String("keys", "", "comma-separated `keys` whose owners to show")
	vnodes := fs.Int("vnodes", 0, "virtual nodes per member `n` (default: the node's [cluster] virtual_nodes from /config)")
	samples := fs.Int("samples", defaultSamples, "`n` synthetic keys placed to estimate each member's share")
	if err := e.parseFlags(fs, args, false); err != nil {
		return err
	}
	if *samples < 1 || *vnodes < 0 {
		fmt.Fprintln(e.errOut, "ring: -samples must be positive and -vnodes not negative")
		return errUsage
	}
	a := e.adminClient()
	cs, err := a.cluster()
	if err != nil {
		return err
	}
	if *vnodes == 0 {
		if *vnodes, err = a.virtualNodes(); err != nil {
			return fmt.Errorf("%w (pass -vnodes to skip reading /config)", err)
		}
	}
	r := peer.NewRing(cs.Members, *vnodes, cs.RingVersion)
	printRing(e.out, r, *vnodes, *samples)
	printRingOwners(e.out, r, splitKeys(*keys))
	return nil
}

// printRing writes each member's share of n synthetic keys.
func printRing(w io.Writer, r *peer.Ring, vnodes, n int) {
	fmt.Fprintf(w, "ring version %d: %d members, %d virtual nodes each\n", r.Version, len(r.Members), vnodes)
	fmt.Fprintf(w, "share of the hash space, estimated by placing %d synthetic keys:\n", n)
	counts := shares(r, n)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  MEMBER\tKEYS\tSHARE")
	for _, m := range r.Members {
		fmt.Fprintf(tw, "  %s\t%d\t%.2f%%\n", m, counts[m], 100*float64(counts[m])/float64(n))
	}
	tw.Flush()
}

// shares places the keys "faectl-sample-0" … "faectl-sample-<n-1>" on r and
// counts them by owner.
func shares(r *peer.Ring, n int) map[string]int {
	counts := make(map[string]int, len(r.Members))
	buf := make([]byte, 0, 32)
	for i := range n {
		buf = strconv.AppendInt(append(buf[:0], "faectl-sample-"...), int64(i), 10)
		counts[r.Owner(string(buf))]++
	}
	return counts
}

// printRingOwners writes the owner of each key.
func printRingOwners(w io.Writer, r *peer.Ring, keys []string) {
	if len(keys) == 0 {
		return
	}
	fmt.Fprintln(w, "\nowners:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  KEY\tOWNER")
	for _, k := range keys {
		fmt.Fprintf(tw, "  %s\t%s\n", k, r.Owner(k))
	}
	tw.Flush()
}

// splitKeys splits a -keys value at commas, dropping empty keys. Spaces
// belong to a key: a key may be " a".
func splitKeys(s string) []string {
	var keys []string
	for k := range strings.SplitSeq(s, ",") {
		if k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}
