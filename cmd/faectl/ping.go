package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"

	"github.com/apache/thrift/lib/go/thrift"
)

// defaultThrift is faed's default Thrift TCP listener.
const defaultThrift = "tcp:127.0.0.1:9001"

func cmdPing(e *env, args []string) error {
	fs := e.flagSet("ping")
	addr := fs.String("addr", defaultThrift, "Thrift `address` of the node: tcp:host:port or unix:/path")
	all := fs.Bool("all", false, "ping every member of the cluster of the node at -admin, over TCP")
	if err := e.parseFlags(fs, args, false); err != nil {
		return err
	}
	if *all {
		return e.pingAll()
	}
	r := e.ping(*addr)
	if r.err != nil {
		return fmt.Errorf("ping %s: %w", r.addr, r.err)
	}
	printPings(e.out, []pingResult{r})
	return nil
}

// pingResult is the outcome of one ping.
type pingResult struct {
	addr  string
	reply string
	rtt   time.Duration // of the call alone, not the dial
	err   error
}

// ping calls ping on a new connection to addr. The timeout bounds it from
// dialing to the answer.
func (e *env) ping(addr string) pingResult {
	r := pingResult{addr: addr}
	ctx, cancel := context.WithTimeout(context.Background(), e.timeout)
	defer cancel()
	client, conn, err := dialThrift(ctx, addr)
	if err != nil {
		r.err = err
		return r
	}
	defer conn.Close()
	start := time.Now()
	r.reply, r.err = client.Ping(ctx, &rpc.Context{Rid: start.UnixNano(), Reason: "faectl.ping"})
	r.rtt = time.Since(start)
	return r
}

// pingAll pings every member of the cluster at the same time, prints one
// line each in member order, and fails if any member did not answer.
func (e *env) pingAll() error {
	cs, err := e.adminClient().cluster()
	if err != nil {
		return err
	}
	if len(cs.Members) == 0 {
		return fmt.Errorf("node %s knows no members (stale: %s)", e.admin, staleText(cs))
	}
	results := make([]pingResult, len(cs.Members))
	var wg sync.WaitGroup
	for i, m := range cs.Members {
		wg.Go(func() { results[i] = e.ping(m) })
	}
	wg.Wait()
	printPings(e.out, results)
	failed := 0
	for _, r := range results {
		if r.err != nil {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d members did not answer", failed, len(results))
	}
	return nil
}

// printPings writes one aligned line per result: address, ok or FAIL, the
// round-trip time, and the reply or the error.
func printPings(w io.Writer, results []pingResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range results {
		if r.err != nil {
			fmt.Fprintf(tw, "%s\tFAIL\t-\t%v\n", r.addr, r.err)
			continue
		}
		fmt.Fprintf(tw, "%s\tok\t%v\t%s\n", r.addr, r.rtt.Round(time.Microsecond), r.reply)
	}
	tw.Flush()
}

// dialThrift connects to a faed listener and returns the generated client
// on it, speaking buffered binary. The connection's deadline is ctx's.
func dialThrift(ctx context.Context, addr string) (*rpc.FunServantClient, net.Conn, error) {
	network, address, err := splitListener(addr)
	if err != nil {
		return nil, nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, nil, err
	}
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	trans := thrift.NewStreamTransportRW(conn)
	proto := thrift.NewTBinaryProtocolConf(trans, &thrift.TConfiguration{})
	return rpc.NewFunServantClient(thrift.NewTStandardClient(proto, proto)), conn, nil
}

// splitListener splits a listener address as faed's [engine] listen writes
// it, "tcp:host:port" or "unix:/path", into a network and an address. A bare
// host:port, as members advertise themselves, is TCP.
func splitListener(addr string) (network, address string, err error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok && path != "" {
		return "unix", path, nil
	}
	hostPort := strings.TrimPrefix(addr, "tcp:")
	if _, port, err := net.SplitHostPort(hostPort); err != nil || port == "" {
		return "", "", fmt.Errorf("address %q: want tcp:host:port or unix:/path", addr)
	}
	return "tcp", hostPort, nil
}
