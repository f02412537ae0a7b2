"""Two dumps of one growing service, for `pyleak-core diff` (tests/test_cli.sh).

Protocol on stdout/stdin: the program builds its heap, counts its own gc
objects per type into OUT/counts-1.tsv *after* the harness has taken a core
(it prints "READY 1", the harness writes core-1 with gcore and then sends one
byte), grows (300 more listeners on BUS, 120 more CACHE entries, one new
registry list), prints "READY 2", is dumped again, counts again into
counts-2.tsv and exits.  The counts are the oracle: per type, the growth
pyleak-core reports between core-1 and core-2 must be exactly
counts-2 - counts-1.

usage: python growth.py OUTDIR
"""
import gc
import os
import sys


class Listener:
    def __init__(self, i):
        self.i = i
        self.payload = [i, i + 1]


class Bus:
    def __init__(self):
        self.listeners = []


class Entry:
    __slots__ = ("key", "rows")

    def __init__(self, key):
        self.key = key
        self.rows = [key]


BUS = Bus()
CACHE = {}
REGISTRY = {"static": [1, 2, 3]}


def grow(n_listeners, n_cache, start):
    for i in range(start, start + n_listeners):
        BUS.listeners.append(Listener(i))
    for i in range(start, start + n_cache):
        CACHE["k%d" % i] = Entry(i)


def type_name(t):
    return "%s.%s" % (t.__module__, t.__qualname__)


def dump_point(out, n):
    sys.stdout.write("READY %d\n" % n)
    sys.stdout.flush()
    os.read(0, 1)                      # the harness takes the core meanwhile
    objs = gc.get_objects()            # first thing after the core
    frame = sys._getframe()
    skip = set()
    while frame is not None:           # this call's own frames (<= 3.10 objects)
        skip.add(id(frame))
        frame = frame.f_back
    counts = {}
    for o in objs:
        if id(o) in skip:
            continue
        k = type_name(type(o))
        counts[k] = counts.get(k, 0) + 1
    del objs
    with open(os.path.join(out, "counts-%d.tsv" % n), "w") as f:
        for k in sorted(counts):
            f.write("%s\t%d\n" % (k, counts[k]))


def main(out):
    grow(200, 50, 0)
    dump_point(out, 1)
    grow(300, 120, 1000)
    REGISTRY["dynamic"] = [Listener(-1)]
    dump_point(out, 2)


main(sys.argv[1])
