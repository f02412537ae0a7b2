"""Mixed real-world heap: standard library (and vendored) code doing ordinary work.

Nobody on the project wrote these types, so this checks that the tool copes
with C extension types, slots, enums, frames of blocked threads, asyncio
internals, and so on -- not a leak pattern.  oracle.stop() is called from
inside main(), so main()'s frame and its locals are on the stack.

Used: asyncio (3 tasks done, 2 pending on a never-set Future, an
asyncio.Queue), sqlite3 (in-memory db, 200 rows fetched), xml.etree
(100-element document parsed), logging (logger with 2 handlers and
formatters, 50 records in a StringIO), re (10 compiled patterns), dataclasses,
enum (Enum and IntFlag), decimal, json, two threads ("mix-waiter-1",
"mix-waiter-2") blocked on Events, collections (deque, OrderedDict,
defaultdict, Counter, namedtuple), functools.partial, property, staticmethod,
classmethod, __slots__ classes.  Optional, when importable (printed to
scenario.log): pip._vendor.requests (a prepared Request, no network),
pip._vendor.rich (a Table rendered to a StringIO),
pip._vendor.packaging.version, and Debian's C extensions yaml and apt_pkg
(only /usr/bin/python3.11).

Expect:
    pattern: none (mixed control)
    gc: enabled
    threads: 3 (MainThread, mix-waiter-1, mix-waiter-2)
    frame: main() on the main thread's stack, locals include db, rows, tree, loop, pending
    alive: main() local rows (list of 200 tuples from sqlite3); 2 pending _asyncio.Task via __main__.PENDING
    alive: 300 __main__.Point (slots) via __main__.POINTS; 100 __main__.Order via __main__.ORDERS
    suspects: none expected beyond ordinary module state
    garbage: no __main__ objects (garbage_mode=inprocess)
"""
import asyncio
import collections
import dataclasses
import decimal
import enum
import functools
import gc
import io
import json
import logging
import os
import re
import sqlite3
import sys
import threading
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import oracle  # noqa: E402

OPTIONAL = collections.OrderedDict()
try:
    from pip._vendor import requests as vendored_requests
    OPTIONAL["requests"] = vendored_requests
except ImportError:
    vendored_requests = None
try:
    from pip._vendor.rich.console import Console as RichConsole
    from pip._vendor.rich.table import Table as RichTable
    OPTIONAL["rich"] = RichConsole
except ImportError:
    RichConsole = RichTable = None
try:
    from pip._vendor.packaging.version import Version
    OPTIONAL["packaging"] = Version
except ImportError:
    Version = None
try:
    import yaml
    OPTIONAL["yaml"] = yaml
except ImportError:
    yaml = None
try:
    import apt_pkg
    OPTIONAL["apt_pkg"] = apt_pkg
except ImportError:
    apt_pkg = None


class Color(enum.Enum):
    RED = 1
    GREEN = 2
    BLUE = 3


class Perm(enum.IntFlag):
    R = 4
    W = 2
    X = 1


@dataclasses.dataclass(frozen=True)
class Sku:
    code: str
    price: decimal.Decimal


@dataclasses.dataclass
class Order:
    order_id: int
    color: Color
    lines: list = dataclasses.field(default_factory=list)

    @property
    def total(self):
        return sum((sku.price * qty for sku, qty in self.lines), decimal.Decimal(0))

    @staticmethod
    def parse_id(text):
        return int(text.split("-")[1])

    @classmethod
    def empty(cls, order_id):
        return cls(order_id, Color.RED)


class Point:
    __slots__ = ("x", "y", "label")

    def __init__(self, x, y, label):
        self.x = x
        self.y = y
        self.label = label


Span = collections.namedtuple("Span", "start end text")

POINTS = []
ORDERS = []
PENDING = []
WAITERS = []
LOG_STREAM = io.StringIO()


def waiter(event, payload):
    event.wait()
    return len(payload)


def start_waiters():
    for i in (1, 2):
        ev = threading.Event()
        t = threading.Thread(target=waiter, args=(ev, [Span(j, j + 1, "w") for j in range(50)]),
                             name="mix-waiter-%d" % i, daemon=True)
        t.start()
        WAITERS.append((t, ev))


def setup_logging():
    logger = logging.getLogger("stdlib_mix.app")
    logger.setLevel(logging.DEBUG)
    h1 = logging.StreamHandler(LOG_STREAM)
    h1.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    h2 = logging.StreamHandler(LOG_STREAM)
    h2.setLevel(logging.WARNING)
    h2.setFormatter(logging.Formatter("!! %(message)s"))
    logger.addHandler(h1)
    logger.addHandler(h2)
    logger.propagate = False
    return logger


def use_sqlite():
    db = sqlite3.connect(":memory:")
    db.execute("create table item (id integer primary key, name text, price real)")
    db.executemany("insert into item values (?, ?, ?)", [(i, "item-%d" % i, i * 1.5) for i in range(200)])
    db.commit()
    rows = db.execute("select id, name, price from item order by id").fetchall()
    return db, rows


def use_xml():
    doc = "<catalog>%s</catalog>" % "".join(
        '<book id="b%d"><title>Title %d</title><year>%d</year></book>' % (i, i, 1900 + i) for i in range(100))
    tree = ET.ElementTree(ET.fromstring(doc))
    years = [int(e.text) for e in tree.iter("year")]
    return tree, years


def use_re(text):
    patterns = [re.compile(p) for p in (
        r"\d+", r"[a-z]+-\d+", r"(?P<key>\w+)=(?P<value>\w+)", r"^item", r"\s+", r"b\d+",
        r"(\d{4})-(\d{2})-(\d{2})", r"[A-Z][a-z]+", r"(?i)title", r"\.py$")]
    return patterns, [len(p.findall(text)) for p in patterns]


async def job(n, q):
    await asyncio.sleep(0)
    await q.put(n)
    return n * 2


async def stuck(fut, n):
    buffer = [Span(i, i + n, "pending") for i in range(20)]
    await fut  # never set
    return buffer


def use_asyncio():
    loop = asyncio.new_event_loop()
    q = asyncio.Queue()
    never = loop.create_future()
    done = [loop.create_task(job(i, q)) for i in range(3)]
    PENDING.extend(loop.create_task(stuck(never, i)) for i in range(2))
    loop.run_until_complete(asyncio.gather(*done))
    return loop, q, never, [t.result() for t in done]


def use_optional():
    used = []
    if vendored_requests is not None:
        req = vendored_requests.Request("GET", "http://example.invalid/api",
                                        params={"q": "leak", "page": 2}, headers={"X-Trace": "1"})
        used.append(("requests", req.prepare().url))
    if RichConsole is not None:
        out = io.StringIO()
        console = RichConsole(file=out, width=80, color_system=None)
        table = RichTable(title="orders")
        table.add_column("id")
        table.add_column("color")
        for i in range(5):
            table.add_row(str(i), Color(i % 3 + 1).name)
        console.print(table)
        used.append(("rich", len(out.getvalue())))
    if Version is not None:
        versions = sorted(Version(v) for v in ("1.10", "1.2", "1.2.post1", "2.0rc1", "0.9"))
        used.append(("packaging", str(versions[-1])))
    if yaml is not None:
        data = yaml.safe_load("service: demo\nports: [80, 443]\nlimits: {cpu: 2, mem: 512}\n")
        used.append(("yaml", yaml.safe_dump(data).count("\n")))
    if apt_pkg is not None:
        apt_pkg.init_config()
        apt_pkg.init_system()
        used.append(("apt_pkg", apt_pkg.version_compare("1:2.3-1", "1:2.10-1")))
    return used


def main():
    start_waiters()
    logger = setup_logging()
    db, rows = use_sqlite()
    tree, years = use_xml()
    patterns, counts = use_re(" ".join(name for _, name, _ in rows) + " key=value 2024-01-31 Title")
    loop, queue, never, results = use_asyncio()

    skus = [Sku("sku-%d" % i, decimal.Decimal("%d.%02d" % (i, i % 100))) for i in range(20)]
    for i in range(100):
        order = Order.empty(i) if i % 7 == 0 else Order(i, Color(i % 3 + 1))
        order.lines.extend((skus[(i + k) % 20], k + 1) for k in range(3))
        ORDERS.append(order)
    POINTS.extend(Point(i, -i, "p%d" % i) for i in range(300))
    stats = collections.Counter(o.color.name for o in ORDERS)
    by_color = collections.defaultdict(list)
    for o in ORDERS:
        by_color[o.color].append(o.order_id)
    recent = collections.deque((o.order_id for o in ORDERS), maxlen=25)
    index = collections.OrderedDict((o.order_id, o) for o in ORDERS[:30])
    cheap = functools.partial(sorted, key=lambda o: o.total)
    payload = json.loads(json.dumps({"orders": [o.order_id for o in ORDERS], "stats": stats}))
    perms = [Perm.R | Perm.W, Perm.X, Perm(7)]
    with decimal.localcontext() as ctx:
        ctx.prec = 6
        grand_total = sum((o.total for o in ORDERS), decimal.Decimal(0)) / 3
    for i in range(50):
        logger.info("order %d color %s", i, ORDERS[i].color.name)
    logger.warning("grand total %s", grand_total)
    used = use_optional()
    print("optional: %s" % ", ".join("%s=%s" % u for u in used))
    print("rows %d years %d patterns %s results %s total %s perms %s recent %d index %d cheap %d payload %d"
          % (len(rows), len(years), counts, results, grand_total, perms, len(recent), len(index),
             len(cheap(ORDERS[:10])), len(payload["orders"])))
    print("gc objects %d" % len(gc.get_objects()))
    oracle.stop(label="stdlib_mix")  # main() and its locals stay on the stack
    return db, tree, loop, queue, never, by_color, patterns


main()
