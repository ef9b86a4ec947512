"""A bounded load on a faed cluster from Apache Thrift's Python library, run
by the hand-off tests while the cluster changes shape: every call goes to a
node picked at random, as PHP sites spread load.

Usage: /usr/bin/python3 load.py STOPFILE PREFIX SEEDED HELD tcp:HOST:PORT [...]

It prints "ready" once its first call is answered, then until STOPFILE
exists it loops over three calls: kvdb_set of one of its own
keys, kvdb_get of one of the SEEDED keys PREFIXkv-N (whose value must be
PREFIXseed-N), and lock on one of the HELD keys PREFIXheld-N (which must
answer False). It then prints one JSON line: the number of calls, every
failure (op, key, node, error, unix time), the last acknowledged value of
each of its keys, and the keys whose last write failed (either value may be
there). It exits 0 unless it could not run at all.
"""

import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "idl", "gen-py"))

from thrift.protocol import TBinaryProtocol  # noqa: E402
from thrift.transport import TSocket, TTransport  # noqa: E402

from fun.rpc import FunServant  # noqa: E402
from fun.rpc.ttypes import Context  # noqa: E402

OWN_KEYS = 50
PAUSE_S = 0.002  # keeps the load bounded on a 2-core machine


class Node:
    """One node's address and a connection, reopened after a failed call."""

    def __init__(self, addr):
        self.addr = addr
        self.trans = None
        self.client = None

    def get(self):
        if self.client is None:
            host, _, port = self.addr.partition(":")[2].rpartition(":")
            sock = TSocket.TSocket(host, int(port))
            sock.setTimeout(30000)
            self.trans = TTransport.TBufferedTransport(sock)
            self.trans.open()
            self.client = FunServant.Client(TBinaryProtocol.TBinaryProtocol(self.trans))
        return self.client

    def reset(self):
        if self.trans is not None:
            self.trans.close()
        self.trans = self.client = None


def one_call(node, ctx, op, key, want):
    """Runs op on key through node; returns None or what went wrong."""
    c = node.get()
    if op == "kvdb_set":
        return None if c.kvdb_set(ctx, key.encode(), want.encode()) is True else "answered False"
    if op == "kvdb_get":
        got = c.kvdb_get(ctx, key.encode()).decode(errors="replace")
        return None if got == want else "value %r, want %r" % (got, want)
    got = c.lock(ctx, "handoff.py", key)
    return None if got is False else "lock on a held key answered %r (granted twice)" % got


def main():
    stop, prefix, seeded, held = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    nodes = [Node(a) for a in sys.argv[5:]]
    ctx = Context(rid=random.randint(1, 2**63 - 1), reason="handoff_py.load", uid=7)
    own = "%spy-%d-" % (prefix, os.getpid())
    calls, failures, acked, uncertain = 0, [], {}, set()
    seq = 0
    while not os.path.exists(stop):
        seq += 1
        node = random.choice(nodes)
        which = seq % 3
        if which == 0:
            op, key, want = "kvdb_set", own + str(seq % OWN_KEYS), "v%d" % seq
        elif which == 1:
            n = random.randrange(seeded)
            op, key, want = "kvdb_get", "%skv-%d" % (prefix, n), "%sseed-%d" % (prefix, n)
        else:
            op, key, want = "lock", "%sheld-%d" % (prefix, random.randrange(held)), None
        try:
            err = one_call(node, ctx, op, key, want)
        except Exception as e:  # any exception is a failed call
            err = "%s: %s" % (type(e).__name__, getattr(e, "message", None) or e)
            node.reset()
        calls += 1
        if op == "kvdb_set":
            if err is None:
                acked[key] = want
                uncertain.discard(key)
            else:
                uncertain.add(key)
        if err is not None:
            failures.append({"op": op, "key": key, "node": node.addr, "error": err, "time": time.time()})
        if calls == 1:
            print("ready", flush=True)
        time.sleep(PAUSE_S)
    print(json.dumps({"calls": calls, "failures": failures, "acked": acked, "uncertain": sorted(uncertain)}))


if __name__ == "__main__":
    main()
