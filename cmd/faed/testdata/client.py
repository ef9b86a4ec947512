"""Calls faed through the Python helper idl/python/faeclient.py (the stubs
generated from idl/fun.thrift and Apache Thrift's Python library),
checking every answer.

Usage: /usr/bin/python3 client.py tcp:HOST:PORT|unix:/PATH buffered|framed [WORKER_ID]

Prints "python <network> <transport>: N checks ok" and exits 0, or prints
the first failed check and exits 1. WORKER_ID, when given, is the worker id
faed runs with, checked in decoded ids.
"""

import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "idl", "python"))

import faeclient  # noqa: E402
from faeclient import TApplicationException, TCacheMissed  # noqa: E402

ID_EPOCH_MS = 1388834974657


class Failed(Exception):
    pass


class Checks:
    def __init__(self):
        self.n = 0

    def check(self, ok, what):
        if not ok:
            raise Failed(what)
        self.n += 1

    def raises(self, cls, call, what, mention=""):
        """Checks that call() raises cls with mention in its message."""
        try:
            got = call()
        except Exception as e:  # the wrong class is a failure too
            msg = getattr(e, "message", None) or str(e)
            self.check(isinstance(e, cls), "%s: want %s, got %s: %s" % (what, cls.__name__, type(e).__name__, msg))
            self.check(mention in msg, '%s: message "%s" lacks "%s"' % (what, msg, mention))
            return
        self.check(False, "%s: want %s, got the answer %r" % (what, cls.__name__, got))


def run(c, fae, transport, worker):
    ctx = faeclient.context("client_py.check", uid=7, rid=random.randint(1, 2**63 - 1))
    run_id = "py-%d-%s-" % (os.getpid(), transport)

    pong = fae.ping(ctx)
    # The original's format: ver:<version>, build:<build>, myid:<worker id>, uptime:<duration>.
    m = re.match(r"^ver:\S+, build:\S+, myid:(\d+), uptime:\S+$", pong)
    c.check(m is not None and (worker is None or int(m.group(1)) == worker),
            'ping = "%s", want "ver:..., build:..., myid:%s, uptime:..."' % (pong, "..." if worker is None else worker))
    c.check(fae.noop(-12345) == -12345, "noop(-12345) did not echo")

    ident = fae.id_next(ctx)
    c.check(ident > 0, "id_next = %d, want a positive id" % ident)
    tagged = fae.id_next_with_tag(ctx, 3)
    parts = fae.id_decode(ctx, tagged)
    c.check(len(parts) == 4, "id_decode: want [ms, tag, worker, seq], got %r" % parts)
    ms, tag, w, seq = parts
    c.check(tag == 3, "id_decode(%d): tag %d, want 3" % (tagged, tag))
    want_worker = (tagged >> 12) & 31 if worker is None else worker
    c.check(w == want_worker and w == (tagged >> 12) & 31, "id_decode(%d): worker %d, want %d" % (tagged, w, want_worker))
    c.check(seq == tagged & 4095, "id_decode(%d): sequence %d, want %d" % (tagged, seq, tagged & 4095))
    c.check(ms == (tagged >> 22) + ID_EPOCH_MS, "id_decode(%d): ms %d, want %d" % (tagged, ms, (tagged >> 22) + ID_EPOCH_MS))
    c.check(abs(ms - time.time() * 1000) < 5000, "id_decode(%d): ms %d is not within 5s of now" % (tagged, ms))

    value = b"v\x00\xff\x80 fae"
    lc = run_id + "lc"
    c.check(fae.lc_set(ctx, lc, value) is True, "lc_set: want True")
    c.check(fae.lc_get(ctx, lc) == value, "lc_get: value did not round-trip byte for byte")
    fae.lc_del(ctx, lc)
    c.raises(TCacheMissed, lambda: fae.lc_get(ctx, lc), "lc_get after lc_del", "lc_get")
    c.check(fae.lc_set(ctx, run_id.ljust(250, "k"), b"x") is True, "lc_set with a 250-byte key: want True")

    lk = run_id + "lock"
    c.check(fae.lock(ctx, "client_py", lk) is True, "first lock: want True")
    c.check(fae.lock(ctx, "client_py", lk) is False, "second lock on a held key: want False")
    fae.unlock(ctx, "client_py", lk)
    c.check(fae.lock(ctx, "client_py", lk) is True, "lock after unlock: want True")
    fae.unlock(ctx, "client_py", lk)

    kv = (run_id + "kv").encode()
    c.check(fae.kvdb_set(ctx, kv, value) is True, "kvdb_set: want True")
    c.check(fae.kvdb_get(ctx, kv) == value, "kvdb_get: value did not round-trip byte for byte")
    c.check(fae.kvdb_del(ctx, kv) is True, "kvdb_del of a present key: want True")
    c.raises(TCacheMissed, lambda: fae.kvdb_get(ctx, kv), "kvdb_get after kvdb_del", "kvdb_get")

    # Failures answer a TApplicationException and leave the connection usable.
    c.raises(TApplicationException, lambda: fae.mc_get(ctx, "default", "k"), "mc_get without memcache",
             "servant memcache is not configured")
    c.check(fae.noop(1) == 1, "noop after the mc_get error")
    c.raises(TApplicationException, lambda: fae.id_next_with_tag(ctx, -1), "id_next_with_tag(-1)", "id_next_with_tag")
    c.check(fae.noop(2) == 2, "noop after the bad tag")
    c.raises(TApplicationException, lambda: fae.lc_set(ctx, run_id.ljust(251, "k"), b"x"),
             "lc_set with a 251-byte key", "lc_set")
    c.check(fae.noop(3) == 3, "noop after the long key")


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    addr, transport = argv[1], argv[2]
    worker = int(argv[3]) if len(argv) > 3 else None
    label = "python %s %s" % (addr.partition(":")[0], transport)
    c = Checks()
    try:
        with faeclient.connect(addr, transport) as fae:
            run(c, fae, transport, worker)
    except Failed as e:
        print("%s: FAILED: %s" % (label, e))
        return 1
    except Exception as e:
        print("%s: FAILED: unexpected %s: %s" % (label, type(e).__name__, getattr(e, "message", None) or e))
        return 1
    print("%s: %d checks ok" % (label, c.n))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
