// Command faectl is the operators' tool for faed nodes: it pings them over
// Thrift and reads a node's admin HTTP server for stats, members and the
// vbucket map, asks for a rebalance or a drain, or asks the node to stop. It keeps no state, and every network call
// it makes is bounded by -timeout.
//
// Usage:
//
//	faectl [-admin host:port] [-timeout 3s] [-token-file file] command [flags]
//
//	faectl ping [-addr tcp:host:port|unix:/path]   ping one node over Thrift
//	faectl ping -all                               ping every member of -admin's cluster
//	faectl members                                 members, members version, staleness, peers
//	faectl map [-keys k1,k2]                       vbuckets per node, rebalance, who owns keys
//	faectl rebalance | drain NODE                  move vbuckets now / off NODE
//	faectl degrade [-read-only] -reason R S[:POOL] switch a backend pool degraded; no args: list
//	faectl undegrade S[:POOL]                      lift that switch
//	faectl stats [-json] [-top n]                  engine stats summary, or the raw JSON
//	faectl top [-interval 1s] [-n rounds] [-top n] a live screen: calls/s, errors/s per call
//	faectl reload                                  apply the node's configuration file again
//	faectl stop -yes                               stop the node (POST /stop)
//
// The global flags may also follow the command's name. When the node has an
// [http] token, give it with -token-file (a file holding it) or in the
// FAED_ADMIN_TOKEN environment variable (-token-file wins); faectl sends it
// as "Authorization: Bearer <token>" on every admin request. There is no
// flag taking the token itself: other users could read it in ps. The exit
// status is 0 on success, 1 when the command failed and 2 for a bad command
// line.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Defaults of the global flags: faed's default admin address, and a bound on
// each network call that a healthy node on a LAN meets easily.
const (
	defaultAdmin   = "127.0.0.1:9002"
	defaultTimeout = 3 * time.Second
)

// tokenEnv names the environment variable holding the admin token.
const tokenEnv = "FAED_ADMIN_TOKEN"

// errUsage marks a bad command line. The message and usage have already been
// printed when it is returned.
var errUsage = errors.New("usage")

// env is one invocation: the global options and where output goes.
type env struct {
	admin   string        // admin HTTP address of the node, host:port
	timeout time.Duration // bound on each network call
	// tokenFile is -token-file; token is the admin token read from it, or
	// from $FAED_ADMIN_TOKEN, "" for none.
	tokenFile string
	token     string
	out       io.Writer
	errOut    io.Writer
}

// command is one sub-command of faectl.
type command struct {
	name    string
	summary string
	run     func(e *env, args []string) error
}

var commands = []command{
	{"ping", "ping a node (or with -all every member) over Thrift", cmdPing},
	{"members", "show the cluster's members, members version, staleness and peers", cmdMembers},
	{"map", "show the vbucket map: vbuckets per node, balance, the rebalance in progress, the owners of -keys", cmdMap},
	{"rebalance", "ask the coordinator to rebalance the vbuckets now", cmdRebalance},
	{"drain", "move every vbucket off NODE (it stays a member): drain NODE", cmdDrain},
	{"degrade", "list the operator's degrade switches, or switch SERVANT[:POOL] degraded (-read-only: writes only) -reason R", cmdDegrade},
	{"undegrade", "lift the degrade switch on SERVANT[:POOL]", cmdUndegrade},
	{"shards", "show the MySQL shard map, or lock -reason R VBUCKET, flip VBUCKET SHARD, unlock VBUCKET", cmdShards},
	{"stats", "show a node's stats summary, or with -json the raw /stats", cmdStats},
	{"top", "a live screen of a node: calls/s, errors/s and latency per call, every -interval", cmdTop},
	{"reload", "reload the node's configuration file: POST /reload", cmdReload},
	{"stop", "stop the node: POST /stop, only with -yes", cmdStop},
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run executes one command line and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	e := &env{admin: defaultAdmin, timeout: defaultTimeout, out: stdout, errOut: stderr}
	fs := e.flagSet("faectl")
	fs.Usage = func() { printUsage(stderr, fs) }
	if err := e.parseFlags(fs, args, true); err != nil {
		return e.exitCode(err)
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	for _, c := range commands {
		if c.name == fs.Arg(0) {
			return e.exitCode(c.run(e, fs.Args()[1:]))
		}
	}
	fmt.Fprintf(stderr, "faectl: unknown command %q\n", fs.Arg(0))
	fs.Usage()
	return 2
}

// exitCode prints err, if it has not been printed yet, and maps it to the
// exit status.
func (e *env) exitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintln(e.errOut, "faectl:", err)
	return 1
}

// flagSet returns a flag set that already holds the global flags, with their
// current values as defaults, so they may also follow a command's name.
func (e *env) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.errOut)
	fs.StringVar(&e.admin, "admin", e.admin, "admin HTTP `address` of the node")
	fs.DurationVar(&e.timeout, "timeout", e.timeout, "bound on each network call")
	fs.StringVar(&e.tokenFile, "token-file", e.tokenFile, "`file` holding the node's [http] token; without it, $"+tokenEnv+" is the token")
	return fs
}

// parseFlags parses args into fs. Unless moreArgs, arguments left over are
// a usage error.
func (e *env) parseFlags(fs *flag.FlagSet, args []string, moreArgs bool) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	switch {
	case !moreArgs && fs.NArg() > 0:
		fmt.Fprintf(e.errOut, "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
	case e.timeout <= 0:
		fmt.Fprintf(e.errOut, "%s: -timeout must be positive, got %v\n", fs.Name(), e.timeout)
	default:
		return e.loadToken()
	}
	fs.Usage()
	return errUsage
}

// loadToken reads the admin token from -token-file, or else from the
// environment.
func (e *env) loadToken() error {
	if e.tokenFile == "" {
		e.token = strings.TrimSpace(os.Getenv(tokenEnv))
		return nil
	}
	b, err := os.ReadFile(e.tokenFile)
	if err != nil {
		return fmt.Errorf("-token-file: %w", err)
	}
	if e.token = strings.TrimSpace(string(b)); e.token == "" {
		return fmt.Errorf("-token-file: %s is empty", e.tokenFile)
	}
	return nil
}

func printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "usage: faectl [-admin host:port] [-timeout d] [-token-file file] command [flags]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nglobal flags (also accepted after the command):")
	fs.PrintDefaults()
	fmt.Fprintf(w, "\nA node with an [http] token needs it: -token-file, or $%s.\n", tokenEnv)
	fmt.Fprintln(w, "Run \"faectl command -h\" for a command's flags.")
}
