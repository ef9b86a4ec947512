package testserver

import (
	"bufio"
	"context"
	"io"
	"net"
)

// dial connects to addr with ctx's deadline on both the dial and the connection.
func dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	return c, nil
}

// askLine sends req and returns the first line of the answer, for servers that keep the
// connection open (memcached).
func askLine(ctx context.Context, addr, req string) (string, error) {
	c, err := dial(ctx, addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if _, err := io.WriteString(c, req); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

// askAll sends req and returns everything until the server closes (ZooKeeper's four-letter
// words).
func askAll(ctx context.Context, addr, req string) (string, error) {
	c, err := dial(ctx, addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if _, err := io.WriteString(c, req); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	return string(b), err
}
