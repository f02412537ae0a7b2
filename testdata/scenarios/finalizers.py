"""B2 - cycles through instances of a class with __del__.

Resource defines __del__.  Since Python 3.4 (PEP 442) such cycles are
collectable: the collector runs __del__ once and frees them -- but only when
it runs.  gc stays enabled here; the scenario calls gc.collect() and then
creates few enough objects that no automatic collection happens before the
core:
  - 40 Resource in 20 reachable pairs (LIVE, created before the collect);
  - 60 pairs dropped after the collect -> 120 Resource unreachable, waiting in
    generation 0.
(A legacy C tp_del, which would make a cycle uncollectable and land it in
gc.garbage, cannot be made from Python code; gc.garbage is empty.)

Expect:
    pattern: B2
    gc: enabled (generation 0 count below threshold 0: 700, 2000 on 3.13)
    unreachable: 120 __main__.Resource (60 cycles), all with __del__ (tp_finalize), collectable, not uncollectable
    reachable: 40 __main__.Resource via __main__.LIVE
    gc.garbage: empty
    garbage: exactly the 120 Resource (+ their dicts and handle lists)
"""
import gc
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import oracle  # noqa: E402


class Resource:
    closed = 0

    def __init__(self, name):
        self.name = name
        self.peer = None
        self.handle = [name, 0]

    def __del__(self):
        Resource.closed += 1


def pair(i):
    a = Resource("r%da" % i)
    b = Resource("r%db" % i)
    a.peer = b
    b.peer = a
    return a


LIVE = [pair(i) for i in range(20)]


def churn():
    for i in range(60):
        pair(100 + i)  # dropped at once: an unreachable cycle with finalizers


gc.collect()
churn()
print("gc count after churn: %s, threshold %s" % (gc.get_count(), gc.get_threshold()))
oracle.stop(label="finalizers")
