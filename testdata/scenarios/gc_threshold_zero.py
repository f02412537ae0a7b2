"""B3 (variant) - gc.set_threshold(0): gc "enabled" but never runs by itself.

After imports: gc.collect(); gc.set_threshold(0).  gc.isenabled() stays True,
but a threshold of 0 for generation 0 switches automatic collection off.
2000 Job objects each in a cycle with their context dict
(job.ctx = {"job": job}); 200 kept in JOBS, 1800 dropped.

Expect:
    pattern: B3
    gc: enabled, threshold 0 (automatic collection off)
    unreachable: 1800 __main__.Job + 1800 ctx dicts (1800 cycles)
    reachable: 200 __main__.Job via __main__.JOBS
    report: automatic collection is off (threshold 0); 1800 cycles would be freed by gc.collect()
    garbage: exactly the unreachable objects above
"""
import gc
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import oracle  # noqa: E402

gc.collect()
gc.set_threshold(0)


class Job:
    def __init__(self, jid):
        self.jid = jid
        self.ctx = {"job": self, "attempt": 1}


JOBS = []


def run_jobs():
    for jid in range(2000):
        job = Job(jid)
        if jid % 10 == 0:
            JOBS.append(job)


run_jobs()
print("enabled %s, threshold %s, count %s" % (gc.isenabled(), gc.get_threshold(), gc.get_count()))
oracle.stop(label="gc_threshold_zero")
