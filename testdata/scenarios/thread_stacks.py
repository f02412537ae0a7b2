"""Thread stacks - what `pyleak-core stacks` must show for a stopped service.

Three named threads block at different depths with locals of every simple
kind (int, str, None, bool, float, list, dict, an instance, a closure cell);
one of them is inside a generator it drives; the main thread holds a
suspended generator, a created (never started) one and a pending asyncio
task.  The oracle records every thread's frames (function, file, line,
locals) and every generator's state; test_stacks compares them with what
pyleak-core reads from the core.

Expect:
    gc: enabled
    threads: 4 (MainThread, db-writer, http-1, gen-driver)
    suspect: none required
    garbage: no __main__ objects (garbage_mode=inprocess)
"""
import asyncio
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import oracle  # noqa: E402

READY = threading.Barrier(4)
RELEASE = threading.Event()


class Request:
    def __init__(self, path):
        self.path = path


def commit(batch, retries):
    pending = len(batch)
    label = "commit-%d" % pending
    nothing = None
    flag = True
    ratio = 0.5
    READY.wait()
    RELEASE.wait()
    return label, nothing, flag, ratio


def db_writer():
    batch = [{"row": i} for i in range(10)]
    return commit(batch, retries=3)


def handle(req, depth):
    if depth:
        return handle(req, depth - 1)
    headers = {"host": "example"}
    READY.wait()
    RELEASE.wait()
    return headers


def http_worker(n):
    req = Request("/api/%d" % n)
    counter = n * 7

    def respond():
        return req.path, counter

    handle(req, 2)
    return respond


def ticker(limit):
    count = 0
    while count < limit:
        if count == 2:
            READY.wait()
            RELEASE.wait()
        yield count
        count += 1


def gen_driver():
    total = 0
    for v in ticker(5):
        total += v
    return total


def suspended_gen(items):
    seen = 0
    for it in items:
        seen += 1
        yield it


async def pending(delay):
    note = "waiting"
    await asyncio.sleep(delay)
    return note


THREADS = [
    threading.Thread(target=db_writer, name="db-writer", daemon=True),
    threading.Thread(target=http_worker, args=(3,), name="http-1", daemon=True),
    threading.Thread(target=gen_driver, name="gen-driver", daemon=True),
]
for t in THREADS:
    t.start()

SUSPENDED = suspended_gen(["a", "b", "c"])
next(SUSPENDED)
CREATED = suspended_gen([1, 2])
LOOP = asyncio.new_event_loop()
TASK = LOOP.create_task(pending(3600), name="pending-task")
LOOP.run_until_complete(asyncio.sleep(0))


def main():
    READY.wait()  # every thread is now blocked in RELEASE.wait()
    oracle.stop(label="thread_stacks")


main()
