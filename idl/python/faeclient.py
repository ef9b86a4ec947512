"""A connection to faed for Python code, built on the stubs generated from
idl/fun.thrift (idl/gen-py) and Apache Thrift's Python library (Debian's
python3-thrift).

    import sys; sys.path.insert(0, "/path/to/faed/idl/python")
    import faeclient

    with faeclient.connect("unix:/run/faed/faed.sock") as fae:  # or "tcp:127.0.0.1:9001"
        ctx = faeclient.context("report.nightly", uid=0)
        try:
            row = fae.kvdb_get(ctx, b"report:last")
        except faeclient.TCacheMissed:
            row = None
        fae.kvdb_set(ctx, b"report:last", b"2026-12-02")

A client is a fun.rpc.FunServant.Client: call the IDL methods on it. Answers
come in three kinds, as in the PHP helper: a declared exception
(TCacheMissed, TMongoNotFound, ...) is a normal answer; a
TApplicationException means the call failed in faed (its message names the
call and the cause) and the connection stays usable; a TTransportException
means the connection is gone: connect again. A client serves one thread at
a time.
"""

import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "gen-py"))

from thrift.Thrift import TApplicationException  # noqa: E402,F401 (re-exported)
from thrift.protocol import TBinaryProtocol  # noqa: E402
from thrift.transport import TSocket, TTransport  # noqa: E402
from thrift.transport.TTransport import TTransportException  # noqa: E402,F401 (re-exported)

from fun.rpc import FunServant  # noqa: E402
from fun.rpc.ttypes import Context, TCacheMissed, TMongoNotFound  # noqa: E402,F401 (re-exported)

_process_rid = random.randint(1, 2**63 - 1)


class Client(FunServant.Client):
    """A FunServant client that owns its connection."""

    def __init__(self, transport):
        self.transport = transport
        super().__init__(TBinaryProtocol.TBinaryProtocol(transport))

    def close(self):
        """Closes the connection; safe to call twice."""
        if self.transport.isOpen():
            self.transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def connect(addr, transport="buffered", timeout_ms=5000):
    """Opens a connection to faed at "tcp:host:port" or "unix:/path".

    transport is "buffered" (Thrift's default) or "framed"; faed tells them
    apart on every connection. timeout_ms bounds connecting and each read
    or write. Raises TTransportException if faed cannot be reached, and
    ValueError for a bad address or transport.
    """
    network, _, rest = addr.partition(":")
    if network == "unix" and rest:
        sock = TSocket.TSocket(unix_socket=rest)
    elif network == "tcp" and ":" in rest:
        host, _, port = rest.rpartition(":")
        sock = TSocket.TSocket(host, int(port))
    else:
        raise ValueError('faed address must be "tcp:host:port" or "unix:/path", got "%s"' % addr)
    sock.setTimeout(timeout_ms)
    if transport == "buffered":
        trans = TTransport.TBufferedTransport(sock)
    elif transport == "framed":
        trans = TTransport.TFramedTransport(sock)
    else:
        raise ValueError('transport must be "buffered" or "framed", got "%s"' % transport)
    trans.open()
    return Client(trans)


def context(reason, uid=0, rid=None):
    """Builds the Context every call but noop takes.

    reason says what the caller is doing ("module.action"); uid is the end
    user's id, 0 if none; rid ties faed's log lines of one job together and
    defaults to one random id per process: a long-running worker should
    pass its own per job.
    """
    return Context(rid=_process_rid if rid is None else rid, reason=reason, uid=uid)
