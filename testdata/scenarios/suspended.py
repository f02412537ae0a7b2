"""A9 - a suspended generator and a pending asyncio task hold their locals.

1. GEN = producer(); next(GEN): suspended at its first yield with the local
   `buf` (800 Item objects).
2. TASK = LOOP.create_task(fetch(1)); the loop runs just long enough for fetch
   to build `rows` (500 Item objects) and block in asyncio.sleep(3600).  The
   task stays pending; the loop is not running when the core is taken.  The
   task is also reachable from the loop's timer (LOOP._scheduled) through the
   sleep future's done callback.

Expect:
    pattern: A9
    gc: enabled
    suspect: __main__.GEN (generator producer(), suspended) local buf (list, 800 items)
    chain: __main__.GEN, frame producer(), local buf
    retained: 800 __main__.Item via the generator's local buf
    suspect: __main__.TASK (pending _asyncio.Task, coroutine fetch()) local rows (list, 500 items)
    chain: __main__.TASK, coroutine fetch(), local rows
    retained: 500 __main__.Item via the coroutine's local rows
    garbage: no __main__ objects
"""
import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import oracle  # noqa: E402


class Item:
    def __init__(self, i):
        self.i = i
        self.tags = ["item", str(i)]


def producer():
    buf = [Item(i) for i in range(800)]
    for item in buf:
        yield item


async def fetch(n):
    rows = [Item(i) for i in range(500)]
    await asyncio.sleep(3600)
    return len(rows) + n


GEN = producer()
FIRST = next(GEN)  # Item 0, also in buf

LOOP = asyncio.new_event_loop()
TASK = LOOP.create_task(fetch(1))
LOOP.run_until_complete(asyncio.sleep(0))  # fetch runs up to its await, then the loop stops
print("task done: %s" % TASK.done())

oracle.stop(label="suspended")
