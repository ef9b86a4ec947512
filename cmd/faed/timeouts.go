package main

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// checkTimeouts refuses timeouts that contradict each other across
// sections, naming both keys. Every call runs under [engine] call_timeout
// (lowered by a caller's budget), so a wait inside a call that is as long
// as the call itself can never end in an answer:
//   - [servant] forward_retry_wait ≥ call_timeout: an idempotent call
//     whose owner is unreachable would wait past its deadline for the map
//     to change, and retry with nothing left;
//   - [cluster] call_timeout > [engine] call_timeout: a forwarded call
//     promised more time than its caller has;
//   - [cluster.peer_pool] dial_timeout ≥ call_timeout, and
//   - a pool's dial timeout ≥ the deadline of its calls: a call that must
//     open a connection (after a broken one, or to retry) could never get
//     to send its request;
//   - a mongodb pool's connect_timeout ≥ its io_timeout (its call bound)
//     likewise.
//
// A timeout of 0 is off: bounded by the call's deadline alone, it
// contradicts nothing.
//
// The forwarding keys are checked only in a cluster ([cluster] zookeeper
// set): a one-node daemon never forwards, and may lower call_timeout freely.
//
// Not refused: [engine] read_timeout ≥ idle_timeout (the rest of a call may
// well take longer to arrive than a quiet client is kept), and backend read
// timeouts above the call deadline (the deadline ends the call first; the
// read timeout still catches a dead server on a connection no call holds).
func checkTimeouts(c Config) error {
	call := c.Engine.CallTimeout
	errs := checkPoolDials(c, call)
	if len(c.Cluster.ZooKeeper) > 0 { // the cluster's keys matter only in a cluster
		errs = append(errs, checkClusterTimeouts(c, call)...)
	}
	return errors.Join(errs...)
}

// dialWhy is why a dial timeout must stay below its calls' deadline.
const dialWhy = "a call that must open a connection could never send its request"

// checkClusterTimeouts compares the forwarding timeouts with call.
func checkClusterTimeouts(c Config, call time.Duration) []error {
	var errs []error
	if w := c.Servant.ForwardRetryWait; w >= call {
		errs = append(errs, fmt.Errorf("[servant] forward_retry_wait (%s) must be below [engine] call_timeout (%s): the retry of a call whose owner is unreachable would start past its deadline", w, call))
	}
	if pc := c.Cluster.CallTimeout; pc > call { // 0 is off: the call's own deadline
		errs = append(errs, fmt.Errorf("[cluster] call_timeout (%s) must not exceed [engine] call_timeout (%s): a forwarded call would be given more time than its caller has", pc, call))
	}
	if d := c.Cluster.Peer.DialTimeout; d >= call { // 0 is off: the call's deadline bounds the dial
		errs = append(errs, fmt.Errorf("[cluster.peer_pool] dial_timeout (%s) must be below [engine] call_timeout (%s): %s", d, call, dialWhy))
	}
	return errs
}

// checkPoolDials compares each backend pool's dial timeout with the
// deadline its calls run under.
func checkPoolDials(c Config, call time.Duration) []error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(c.Servant.MySQL.Pools)) {
		if d := c.Servant.MySQL.Pools[name].DialTimeout; d >= call { // 0 is off
			errs = append(errs, fmt.Errorf("[servant.mysql.pools.%s] dial_timeout (%s) must be below [engine] call_timeout (%s): %s", name, d, call, dialWhy))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Servant.MongoDB.Pools)) {
		p := c.Servant.MongoDB.Pools[name]
		io, key := call, "[engine] call_timeout"
		if p.IOTimeout != 0 && p.IOTimeout < call { // 0 is off: the call's deadline alone
			io, key = p.IOTimeout, fmt.Sprintf("[servant.mongodb.pools.%s] io_timeout", name)
		}
		if d := p.ConnectTimeout; d >= io {
			errs = append(errs, fmt.Errorf("[servant.mongodb.pools.%s] connect_timeout (%s) must be below %s (%s): %s", name, d, key, io, dialWhy))
		}
	}
	return errs
}
