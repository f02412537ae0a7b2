"""B6 - gc.freeze(): frozen objects are never examined again.

CONFIG (500 Entry) is built at "start-up", then gc.collect(), then 50 Entry
pairs are dropped (unreachable cycles), then gc.freeze() moves everything into
the permanent generation: the 50 frozen cycles can never be collected.  After
the freeze, 150 more Entry go to LATER and 30 more pairs are dropped: those
are in the normal generations and collectable.
The frozen objects are not in gc.get_objects(): the oracle lists them in
permanent.tsv.

Expect:
    pattern: B6
    gc: enabled, gc.get_freeze_count() > 0 (everything alive at the freeze)
    frozen: 500 __main__.Entry via __main__.CONFIG, and 100 __main__.Entry in 50 unreachable cycles (never collected)
    reachable: 150 __main__.Entry via __main__.LATER (not frozen)
    unreachable: 60 __main__.Entry (30 cycles), created after the freeze, collectable
    garbage: exactly the 60 post-freeze Entry (+ dicts on <= 3.10); none of the frozen ones
"""
import gc
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import oracle  # noqa: E402


class Entry:
    def __init__(self, key):
        self.key = key
        self.peer = None


def drop_pairs(n, start):
    for i in range(start, start + n):
        a = Entry(i)
        b = Entry(-i)
        a.peer = b
        b.peer = a


CONFIG = [Entry(i) for i in range(500)]
gc.collect()
drop_pairs(50, 1000)
gc.freeze()
LATER = [Entry(i) for i in range(150)]
drop_pairs(30, 2000)
print("frozen %d, count %s" % (gc.get_freeze_count(), gc.get_count()))
oracle.stop(label="frozen")
