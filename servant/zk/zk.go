// Package zk serves the zk_* calls on the cluster's ZooKeeper, confined to a
// configured root. It knows nothing of peers or the engine.
package zk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
)

var (
	// ErrNotConfigured is returned by New for a Config without servers.
	ErrNotConfigured = errors.New("zk: not configured")
	// ErrNotFound is wrapped by the error Children returns for a missing node.
	ErrNotFound = errors.New("zk: no such node")
	// ErrNotEmpty is wrapped by the error Delete returns for a node that
	// has children: Delete never removes a subtree.
	ErrNotEmpty = errors.New("zk: node has children")
	// ErrDataTooLarge is wrapped by the error Create returns for data
	// longer than MaxDataBytes.
	ErrDataTooLarge = errors.New("zk: data too large")
	// ErrClosed is returned by calls after Close.
	ErrClosed = errors.New("zk: client closed")
)

// Client runs the zk_* calls on one ZooKeeper session. It is safe for
// concurrent use.
//
// Every node it touches is a persistent znode with an open ACL, at or
// below Config.Root; see resolve for how client paths map onto it.
// The session is (re)established in the background by the ZooKeeper
// library: nothing in Client blocks on an unreachable ensemble for longer
// than Config.Timeout, and a Client recovers by itself when the ensemble
// comes back.
type Client struct {
	conn    *zk.Conn
	root    string
	timeout time.Duration
	acl     []zk.ACL
	log     *slog.Logger

	// pending holds one token per call waiting on ZooKeeper (see run).
	pending chan struct{}
	rootOK  atomic.Bool // Root is known to exist
	closed  atomic.Bool

	calls    atomic.Int64
	errs     atomic.Int64
	timeouts atomic.Int64

	// mu guards state, since, server and expired.
	mu      sync.Mutex
	state   zk.State
	since   time.Time
	server  string
	expired int64
}

// New validates cfg and returns a Client whose session is being set up in
// the background: New never waits for ZooKeeper. Root is created (with
// any missing parents, persistent and empty) by the first call that needs
// it. log receives session state changes (library chatter at Debug); nil
// means slog.Default(). It returns ErrNotConfigured when cfg lists no
// servers. Close releases the session.
func New(cfg Config, log *slog.Logger) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("zk: %w", err)
	}
	if !cfg.Configured() {
		return nil, ErrNotConfigured
	}
	if log == nil {
		log = slog.Default()
	}
	c := &Client{
		root:    cfg.Root,
		timeout: cfg.Timeout,
		acl:     zk.WorldACL(zk.PermAll),
		log:     log.With("servant", "zk"),
		pending: make(chan struct{}, maxPending),
		state:   zk.StateDisconnected,
		since:   time.Now(),
		server:  strings.Join(cfg.Servers, ","), // until the library names one
	}
	conn, _, err := zk.Connect(cfg.Servers, cfg.SessionTimeout,
		zk.WithDialer(dial), zk.WithLogger(libLogger{c.log}), zk.WithLogInfo(false),
		zk.WithEventCallback(c.onEvent))
	if err != nil {
		return nil, fmt.Errorf("zk: servers: %w", err)
	}
	c.conn = conn
	return c, nil
}

// Close ends the session; calls in flight fail and later calls answer
// ErrClosed. It may block for a second or two while ZooKeeper is
// unreachable (the library waits to say goodbye). Idempotent.
func (c *Client) Close() {
	if c.closed.Swap(true) {
		return
	}
	c.conn.Close()
}

// Create makes the persistent znode path holding data and answers true,
// or false (and no error) if it already exists, in which case its data
// is left alone. Missing parents are created first, persistent and empty,
// like `mkdir -p`: a PHP caller of zk_create("/app/conf/x") expects it to
// work on a fresh ensemble. Create("/") answers false: the root exists.
func (c *Client) Create(ctx context.Context, path, data string) (bool, error) {
	full, err := c.begin(path)
	if err == nil && len(data) > MaxDataBytes {
		err = fmt.Errorf("%w: %d bytes, at most %d", ErrDataTooLarge, len(data), MaxDataBytes)
	}
	if err != nil {
		return false, c.done(path, err)
	}
	ctx, cancel := c.bound(ctx)
	defer cancel()
	created, err := c.create(ctx, full, []byte(data))
	return created, c.done(path, mayBeApplied(err, "create"))
}

// Children returns the names (not paths) of path's children, sorted. A
// missing path answers an error wrapping ErrNotFound.
func (c *Client) Children(ctx context.Context, path string) ([]string, error) {
	full, err := c.begin(path)
	if err != nil {
		return nil, c.done(path, err)
	}
	ctx, cancel := c.bound(ctx)
	defer cancel()
	names, err := c.children(ctx, full)
	return names, c.done(path, err)
}

// Delete removes the znode path and answers true, or false (and no error)
// if it does not exist. A node with children is refused with an error
// wrapping ErrNotEmpty; the root ("/") is refused with ErrBadPath.
func (c *Client) Delete(ctx context.Context, path string) (bool, error) {
	full, err := c.begin(path)
	if err == nil && full == c.root {
		err = fmt.Errorf("%w %q: the root cannot be deleted", ErrBadPath, path)
	}
	if err != nil {
		return false, c.done(path, err)
	}
	ctx, cancel := c.bound(ctx)
	defer cancel()
	deleted, err := c.delete(ctx, full)
	return deleted, c.done(path, mayBeApplied(err, "delete"))
}

// begin counts a call and resolves its path.
func (c *Client) begin(path string) (string, error) {
	c.calls.Add(1)
	if c.closed.Load() {
		return "", ErrClosed
	}
	return resolve(c.root, path)
}

// done counts a failed call and names the client path in its error.
func (c *Client) done(path string, err error) error {
	if err == nil {
		return nil
	}
	c.errs.Add(1)
	if errors.Is(err, ErrTimeout) {
		c.timeouts.Add(1)
	}
	if errors.Is(err, ErrBadPath) || errors.Is(err, ErrClosed) {
		return err // already names the path, or has nothing to do with it
	}
	return fmt.Errorf("path %q: %w", path, err)
}

func (c *Client) create(ctx context.Context, full string, data []byte) (bool, error) {
	if err := c.ensureRoot(ctx); err != nil {
		return false, err
	}
	err := c.createNode(ctx, full, data)
	if errors.Is(err, zk.ErrNoNode) {
		// A parent is missing; make them and try once more. Someone may
		// delete a parent again in between, then the caller sees ErrNoNode.
		if err = c.mkdirs(ctx, parents(full)); err == nil {
			err = c.createNode(ctx, full, data)
		}
	}
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, zk.ErrNodeExists):
		return false, nil
	}
	return false, err
}

func (c *Client) children(ctx context.Context, full string) ([]string, error) {
	if err := c.ensureRoot(ctx); err != nil {
		return nil, err
	}
	names, err := run(ctx, c, func() ([]string, error) {
		names, _, err := c.conn.Children(full)
		return names, err
	})
	if errors.Is(err, zk.ErrNoNode) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if names == nil {
		names = []string{}
	}
	slices.Sort(names)
	return names, nil
}

func (c *Client) delete(ctx context.Context, full string) (bool, error) {
	_, err := run(ctx, c, func() (struct{}, error) {
		return struct{}{}, c.conn.Delete(full, -1)
	})
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, zk.ErrNoNode):
		return false, nil
	case errors.Is(err, zk.ErrNotEmpty):
		return false, ErrNotEmpty
	}
	return false, err
}

// ensureRoot creates Root and its parents unless a call already did.
// Concurrent first calls may all try; creating an existing node is
// harmless. It is not checked again: if an operator deletes Root later,
// Children("/") answers ErrNotFound until a Create makes it again.
func (c *Client) ensureRoot(ctx context.Context) error {
	if c.rootOK.Load() {
		return nil
	}
	if err := c.mkdirs(ctx, append(parents(c.root), c.root)); err != nil {
		return fmt.Errorf("creating root %q: %w", c.root, err)
	}
	c.rootOK.Store(true)
	return nil
}

// mkdirs creates each of the absolute paths, in order, that is missing.
func (c *Client) mkdirs(ctx context.Context, paths []string) error {
	for _, p := range paths {
		if err := c.createNode(ctx, p, nil); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return err
		}
	}
	return nil
}

// createNode creates one persistent node; its parent must exist.
func (c *Client) createNode(ctx context.Context, full string, data []byte) error {
	_, err := run(ctx, c, func() (string, error) {
		return c.conn.Create(full, data, 0, c.acl)
	})
	return err
}

// bound is ctx bounded by Config.Timeout; a Timeout of 0 is off, leaving the
// caller's deadline alone.
func (c *Client) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout == 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.timeout)
}
