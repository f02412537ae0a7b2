"""A6 - connection pool whose in-use map never drops failed connections.

Pool.acquire() records the connection in `self.in_use[id(conn)]`;
Pool.release(conn, failed=True) returns early without deleting it.  Every
tenth query fails (i % 10 == 9): 120 of 1200.  The pool starts with 10 free
connections and replaces leaked ones, so at the end all 120 Connection objects
alive are in `in_use` and the free list is empty.

Expect:
    pattern: A6
    gc: enabled
    suspect: __main__.POOL.in_use (dict, 120 items, int keys = id(conn))
    chain: __main__.POOL.in_use[<id>]
    retained: 120 __main__.Connection (each with a 4096-byte bytearray)
    garbage: no __main__ objects
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import oracle  # noqa: E402


class Connection:
    def __init__(self, cid):
        self.cid = cid
        self.buf = bytearray(4096)
        self.state = {"open": True, "queries": []}


class Pool:
    def __init__(self, size):
        self.free = [Connection(i) for i in range(size)]
        self.in_use = {}
        self.created = size

    def _new(self):
        self.created += 1
        return Connection(self.created)

    def acquire(self):
        conn = self.free.pop() if self.free else self._new()
        self.in_use[id(conn)] = conn
        return conn

    def release(self, conn, failed=False):
        if failed:
            conn.state["open"] = False
            return  # bug: neither returned to the pool nor removed from in_use
        del self.in_use[id(conn)]
        self.free.append(conn)


POOL = Pool(10)


def main():
    for i in range(1200):
        conn = POOL.acquire()
        conn.state["queries"].append("SELECT %d" % i)
        POOL.release(conn, failed=(i % 10 == 9))
    print("in use %d, free %d, created %d" % (len(POOL.in_use), len(POOL.free), POOL.created))


main()
oracle.stop(label="conn_pool")
