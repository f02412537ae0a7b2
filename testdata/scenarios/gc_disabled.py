"""B3 - gc.disable(): cyclic garbage piles up.

After imports: gc.collect(); gc.disable().  3000 Session objects are created,
each in a cycle with its own history list (s.history = [s]); 500 are kept in
SESSIONS, 2500 are dropped and wait for a collection that never comes.

Expect:
    pattern: B3
    gc: disabled
    unreachable: 2500 __main__.Session + 2500 builtins.list (2500 cycles; + 2500 dicts on <= 3.10)
    reachable: 500 __main__.Session via __main__.SESSIONS
    report: gc is disabled; 2500 cycles would be freed by gc.collect()
    garbage: exactly the unreachable objects above
"""
import gc
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import oracle  # noqa: E402

gc.collect()
gc.disable()


class Session:
    def __init__(self, sid):
        self.sid = sid
        self.user = "user%d" % (sid % 97)
        self.history = [self]


SESSIONS = []


def serve():
    for sid in range(3000):
        s = Session(sid)
        s.history.append("login")
        if sid % 6 == 0:
            SESSIONS.append(s)


serve()
print("kept %d sessions, gc count %s" % (len(SESSIONS), gc.get_count()))
oracle.stop(label="gc_disabled")
