package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/faed/faed/idl/gen-go/fun/rpc"

	"github.com/apache/thrift/lib/go/thrift"
)

// clientBufSize is the client's buffered-transport size: bufio's default,
// which is what a user of thrift.NewTBufferedTransport typically picks.
const clientBufSize = 4096

// endpoint is a parsed "unix:/path.sock" or "tcp:host:port" address.
type endpoint struct {
	network string // "unix" or "tcp"
	address string // socket path or host:port
}

func (e endpoint) String() string { return e.network + ":" + e.address }

// parseEndpoint parses "unix:/path.sock" or "tcp:host:port".
func parseEndpoint(s string) (endpoint, error) {
	network, address, ok := strings.Cut(s, ":")
	if !ok || address == "" {
		return endpoint{}, fmt.Errorf("address %q: want unix:/path.sock or tcp:host:port", s)
	}
	switch network {
	case "unix":
		return endpoint{network, address}, nil
	case "tcp":
		if _, _, err := net.SplitHostPort(address); err != nil {
			return endpoint{}, fmt.Errorf("address %q: %w", s, err)
		}
		return endpoint{network, address}, nil
	}
	return endpoint{}, fmt.Errorf("address %q: unknown network %q", s, network)
}

// parseEndpoints parses a comma-separated list of endpoints.
func parseEndpoints(s string) ([]endpoint, error) {
	var eps []endpoint
	for _, part := range strings.Split(s, ",") {
		ep, err := parseEndpoint(strings.TrimSpace(part))
		if err != nil {
			return nil, err
		}
		eps = append(eps, ep)
	}
	return eps, nil
}

// listen opens a listener on ep, removing a stale unix socket file first.
func listen(ep endpoint) (net.Listener, error) {
	if ep.network == "unix" {
		if err := os.Remove(ep.address); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	return net.Listen(ep.network, ep.address)
}

// wire says how a client frames and encodes its calls.
type wire struct {
	transport string        // "buffered" or "framed"
	protocol  string        // "binary", "compact" or "memcache" (memcached's text protocol)
	timeout   time.Duration // socket read/write timeout; 0 means none
}

func (w wire) validate() error {
	if w.transport != "buffered" && w.transport != "framed" {
		return fmt.Errorf("transport %q: want buffered or framed", w.transport)
	}
	switch w.protocol {
	case "binary", "compact":
	case "memcache":
		if w.transport != "buffered" {
			return fmt.Errorf("protocol memcache: transport %q: want buffered", w.transport)
		}
	default:
		return fmt.Errorf("protocol %q: want binary, compact or memcache", w.protocol)
	}
	return nil
}

// conn is one client connection: the generated FunServant client, or with
// protocol memcache a memcached text-protocol client. It is not safe for
// concurrent use.
type conn struct {
	nc     net.Conn
	client *rpc.FunServantClient // nil on a memcache connection
	mc     *mcConn               // nil on a Thrift connection
}

// dial connects to ep and builds the generated client over a thrift socket
// and a buffered (or framed) transport, the same way for every server kind;
// for protocol memcache it builds a memcached client instead.
func dial(ep endpoint, w wire) (*conn, error) {
	nc, err := net.DialTimeout(ep.network, ep.address, 5*time.Second)
	if err != nil {
		return nil, err
	}
	if w.protocol == "memcache" {
		return &conn{nc: nc, mc: newMcConn(nc, w.timeout)}, nil
	}
	conf := &thrift.TConfiguration{SocketTimeout: w.timeout}
	var trans thrift.TTransport = thrift.NewTBufferedTransport(thrift.NewTSocketFromConnConf(nc, conf), clientBufSize)
	if w.transport == "framed" {
		// Framed over buffered: the frame header and body leave in one write.
		trans = thrift.NewTFramedTransportConf(trans, conf)
	}
	var pf thrift.TProtocolFactory = thrift.NewTBinaryProtocolFactoryConf(conf)
	if w.protocol == "compact" {
		pf = thrift.NewTCompactProtocolFactoryConf(conf)
	}
	iprot, oprot := pf.GetProtocol(trans), pf.GetProtocol(trans)
	return &conn{nc: nc, client: rpc.NewFunServantClient(thrift.NewTStandardClient(iprot, oprot))}, nil
}

// Close closes the connection.
func (c *conn) Close() error { return c.nc.Close() }

// connBroken reports whether err leaves the connection unusable: a transport
// or protocol error, or a reply that does not match the call. A declared
// exception, a server-side TApplicationException, a memcached miss or error
// line, or a value of the wrong size leaves it usable.
func connBroken(err error) bool {
	var se *mcServerError
	if errors.Is(err, errMcMiss) || errors.Is(err, errValueSize) || errors.As(err, &se) {
		return false
	}
	var ae thrift.TApplicationException
	if errors.As(err, &ae) {
		switch ae.TypeId() {
		case thrift.BAD_SEQUENCE_ID, thrift.WRONG_METHOD_NAME, thrift.INVALID_MESSAGE_TYPE_EXCEPTION:
			return true
		}
		return false
	}
	var te thrift.TException
	if errors.As(err, &te) && te.TExceptionType() == thrift.TExceptionTypeCompiled {
		return false
	}
	return true
}
