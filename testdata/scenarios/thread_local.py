"""A7 - a waiting thread with a big local.

Thread "worker-1" builds `local_data` (2000 Record objects), signals that it is
ready, then blocks on an Event that is never set.  The main thread calls
oracle.stop() at module level.  The root is the thread's frame, not a global.

Expect:
    pattern: A7
    gc: enabled
    threads: 2 (MainThread, worker-1)
    suspect: <thread worker-1> worker() local local_data (list, 2000 items)
    chain: thread worker-1, frame worker(), local local_data
    retained: 2000 __main__.Record (each with a fields dict holding a tags list)
    garbage: no __main__ objects (garbage_mode=inprocess)
"""
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import oracle  # noqa: E402


class Record:
    def __init__(self, i):
        self.i = i
        self.fields = {"id": i, "tags": ["a", "b", str(i)]}


def worker(ready, release):
    local_data = [Record(i) for i in range(2000)]
    ready.set()
    release.wait()  # never set: the thread sleeps here with local_data alive
    return len(local_data)


def start():
    ready = threading.Event()
    release = threading.Event()
    t = threading.Thread(target=worker, args=(ready, release), name="worker-1", daemon=True)
    t.start()
    if not ready.wait(30):
        raise SystemExit("worker-1 did not start")


start()
oracle.stop(label="thread_local")
