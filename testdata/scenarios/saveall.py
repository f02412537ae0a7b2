"""B4 - gc.set_debug(gc.DEBUG_SAVEALL): collected objects are parked in gc.garbage.

After imports: gc.collect(); gc.set_debug(gc.DEBUG_SAVEALL).  200 Temp pairs
(a.other = b; b.other = a) are dropped, then gc.collect() "frees" them into
gc.garbage.  Then 50 more pairs are dropped and wait for the next collection.

Expect:
    pattern: B4
    gc: enabled, debug DEBUG_SAVEALL (32)
    suspect: gc.garbage (list; 400 __main__.Temp + their dicts on <= 3.10)
    chain: gc.garbage[i]
    retained: 400 __main__.Temp via gc.garbage
    unreachable: 100 __main__.Temp (50 cycles), not yet collected
    garbage: exactly the 100 Temp (+ dicts on <= 3.10); nothing already in gc.garbage
"""
import gc
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import oracle  # noqa: E402

gc.collect()
gc.set_debug(gc.DEBUG_SAVEALL)


class Temp:
    def __init__(self, i):
        self.i = i
        self.other = None


def drop_pairs(n, start):
    for i in range(start, start + n):
        a = Temp(i)
        b = Temp(-i)
        a.other = b
        b.other = a


drop_pairs(200, 0)
found = gc.collect()
drop_pairs(50, 1000)
print("collect found %d, gc.garbage has %d" % (found, len(gc.garbage)))
oracle.stop(label="saveall")
