package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"

	"github.com/apache/thrift/lib/go/thrift"
)

// startStockServer runs serveStock on a unix socket in a temp dir until the
// test ends. With check false it turns thrift's connectivity check off for
// the rest of the process, so only TestStockNocheck's child process does.
func startStockServer(t *testing.T, w wire, check bool) endpoint {
	t.Helper()
	ep := endpoint{"unix", filepath.Join(t.TempDir(), "stock.sock")}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveStock(ctx, []endpoint{ep}, w, 100, check) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serveStock: %v", err)
		}
	})
	if err := waitReady(ep, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	return ep
}

func TestStockWithGeneratedClient(t *testing.T) {
	for _, w := range []wire{
		{transport: "buffered", protocol: "binary"},
		{transport: "framed", protocol: "compact"},
	} {
		t.Run(w.transport+" "+w.protocol, func(t *testing.T) {
			ep := startStockServer(t, w, true)
			if thrift.ServerConnectivityCheckInterval <= 0 {
				t.Fatal("thrift's connectivity check is off for -serve stock")
			}
			c, err := dial(ep, w)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			checkStockCalls(t, c.client)
		})
	}
}

// stock-nocheck changes a thrift package variable that the processor's
// goroutines read unsynchronised, so it is tested in a child process.
func TestStockNocheck(t *testing.T) {
	const env = "FAEBENCH_TEST_NOCHECK_CHILD"
	if os.Getenv(env) == "1" {
		w := wire{transport: "buffered", protocol: "binary"}
		ep := startStockServer(t, w, false)
		if thrift.ServerConnectivityCheckInterval != 0 {
			t.Fatalf("connectivity check interval %v, want 0", thrift.ServerConnectivityCheckInterval)
		}
		c, err := dial(ep, w)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		checkStockCalls(t, c.client)
		t.Log("child checks passed")
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestStockNocheck$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "child checks passed") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func checkStockCalls(t *testing.T, c *rpc.FunServantClient) {
	ctx := context.Background()
	rc := &rpc.Context{Rid: 1, Reason: "test", UID: 2}
	if x, err := c.Noop(ctx, 7); err != nil || x != 7 {
		t.Fatalf("noop = %d, %v; want 7", x, err)
	}
	if s, err := c.Ping(ctx, rc); err != nil || s != "pong" {
		t.Fatalf("ping = %q, %v", s, err)
	}
	if v, err := c.LcGet(ctx, rc, "k"); err != nil || len(v) != 100 {
		t.Fatalf("lc_get = %d bytes, %v; want 100", len(v), err)
	}
	_, err := c.LcSet(ctx, rc, "k", []byte("v"))
	var ae thrift.TApplicationException
	if !errors.As(err, &ae) || ae.TypeId() != thrift.INTERNAL_ERROR || connBroken(err) {
		t.Fatalf("lc_set err = %v, want an internal error that keeps the connection", err)
	}
	if s, err := c.Ping(ctx, rc); err != nil || s != "pong" {
		t.Fatalf("ping after an error = %q, %v", s, err)
	}
}
