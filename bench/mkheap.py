"""Build a large, realistic CPython heap for bench/run.sh, then wait.

usage: python3 bench/mkheap.py [TARGET_OBJECTS]     (default 2500000)

Builds about TARGET_OBJECTS gc-tracked objects that look like the state of a
long-running service: users with addresses, preference dicts and tag sets;
sessions (__slots__) pointing back at their user (cycles); events (__slots__)
with dict or tuple payloads; per-user callbacks (closures with cells); an org
chart of tree nodes with parent links (more cycles); a few instance dicts made
real by vars(); a recent-activity list of tuples.

Protocol (one line each on stdout, flushed):
    BUILT objects=N frozen=F records=R build_s=S rss_kib=K
        N = len(gc.get_objects()), F = gc.get_freeze_count() (permanent generation)
    READY <pid>                                      then blocks reading stdin
stdin, one command a line, each answered and ended by a line DONE:
    census K    the in-process census (`pyleak-core types`), K times. Per run
                    CENSUS run=I seconds=S get_objects_s=S objects=N bytes=B types=T
                then
                    CENSUSRSS rss_before_kib=K maxrss_kib=K
                    TOP <count> <bytes> <type>   (the 10 largest types of the last run)
    graph K     the in-process object graph and gc analysis (`pyleak-core cycles`),
                K times. Per run
                    GRAPH run=I build_s=S analysis_s=S total_s=S nodes=N tracked=T
                          edges=E extra_refs=X roots=R negative=G unreachable=U
                          rss_before_kib=K peak_kib=K hwm_reset=0|1
Anything else, or EOF, exits with os._exit(0) (tearing down millions of
objects would only waste time).
"""

import gc
import os
import random
import resource
import sys
import time
from array import array
from collections import Counter
from itertools import islice


# --- the classes of the "service" --------------------------------------------

class Address:
    def __init__(self, street, city, zipcode):
        self.street = street
        self.city = city
        self.zipcode = zipcode


class User:
    def __init__(self, uid, name, email, address, tags, prefs):
        self.uid = uid
        self.name = name
        self.email = email
        self.address = address
        self.tags = tags
        self.prefs = prefs
        self.friends = set()
        self.sessions = []
        self.on_change = None


class Session:
    __slots__ = ("sid", "user", "started", "events")

    def __init__(self, sid, user, started):
        self.sid = sid
        self.user = user          # user.sessions -> [session] -> user: a cycle
        self.started = started
        self.events = []


class Event:
    __slots__ = ("kind", "ts", "payload")

    def __init__(self, kind, ts, payload):
        self.kind = kind
        self.ts = ts
        self.payload = payload


class OrgNode:
    def __init__(self, name, parent):
        self.name = name
        self.parent = parent      # parent <-> children: cycles
        self.children = []
        self.members = []
        if parent is not None:
            parent.children.append(self)


def make_callback(user, audit):
    # a closure over two cells: function + closure tuple + 2 cells
    def on_change(field, value):
        audit.append((user.uid, field))
        setattr(user, field, value)
    return on_change


CITIES = ["Lyon", "Oslo", "Porto", "Graz", "Turku", "Gent", "Brno", "Cork"]
TAGS = ["admin", "beta", "trial", "paid", "eu", "us", "mobile", "api", "legacy", "vip"]
KINDS = ["login", "view", "click", "search", "logout", "upload"]


class World:
    def __init__(self):
        self.rng = random.Random(12345)
        self.users = {}
        self.by_city = {c: [] for c in CITIES}
        self.recent = []
        self.audit = []
        self.callbacks = []
        self.org_root = OrgNode("root", None)
        self.org_level = [self.org_root]
        self.org_next = []
        self.nrec = 0

    def add_records(self, n):
        rng = self.rng
        users = self.users
        for _ in range(n):
            uid = self.nrec
            self.nrec += 1
            city = CITIES[uid % len(CITIES)]
            addr = Address(f"{uid % 997} Main St", city, f"{10000 + uid % 89999}")
            tags = [TAGS[(uid + k) % len(TAGS)] for k in range(1 + uid % 3)]
            prefs = {"theme": "dark" if uid & 1 else "light",
                     "langs": ["en", "fr"] if uid % 5 else ["de"],
                     "limits": (10, 100)}
            if uid % 4 == 0:
                prefs["quota"] = {"disk": uid % 50, "jobs": [uid % 7, uid % 11]}
            u = User(uid, f"user{uid}", f"user{uid}@example.com", addr, tags, prefs)
            if uid:
                for _f in range(uid % 4):
                    u.friends.add(rng.randrange(uid))
            for s in range(1 + (uid % 3 == 0)):
                sess = Session(uid * 4 + s, u, 1_700_000_000 + uid)
                for e in range(2 + uid % 2):
                    kind = KINDS[(uid + e) % len(KINDS)]
                    if e == 0:
                        payload = {"path": f"/item/{uid % 1000}", "args": [uid, e]}
                    else:
                        payload = (kind, uid, e)   # atomic: untracked after a gc pass
                    sess.events.append(Event(kind, uid + e, payload))
                u.sessions.append(sess)
            if uid % 3 == 0:
                u.on_change = make_callback(u, self.audit)
                self.callbacks.append(u.on_change)
            if uid % 8 == 0:
                vars(u)                            # materialize the instance dict
            if uid % 10 == 0:
                self.recent.append((uid, u, tags))
            if uid % 25 == 0:
                parent = self.org_level[len(self.org_next) // 8 % len(self.org_level)]
                node = OrgNode(f"team{uid}", parent)
                node.members.append(u)
                self.org_next.append(node)
                if len(self.org_next) >= 8 * len(self.org_level):
                    self.org_level, self.org_next = self.org_next, []
            users[uid] = u
            self.by_city[city].append(u)


def tracked():
    return len(gc.get_objects())


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def hwm_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def reset_hwm():
    """Set the peak RSS (VmHWM, hence ru_maxrss) back to the current RSS, so
    that the next peak is the next run's own. Linux >= 4.0; False if refused."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def graph_build():
    """The object graph as `pyleak-core cycles` builds it. Nodes: the objects of
    gc.get_objects() first, then every object reached from them that gc does not
    list (str, int, untracked tuples and dicts ...), added as they are met and
    traversed in turn. Edges: gc.get_referents() (tp_traverse) of every node, in
    CSR form: node i refers to dst[off[i]:off[i + 1]]."""
    nodes = gc.get_objects()
    ntracked = len(nodes)
    index = {id(o): i for i, o in enumerate(nodes)}
    off = array("I", [0])
    dst = array("I")
    get_referents = gc.get_referents
    index_get = index.get
    add_node = nodes.append
    add_edge = dst.append
    end_node = off.append
    n = ntracked
    for o in nodes:               # a list iterator also visits what is appended
        for r in get_referents(o):
            j = index_get(id(r))
            if j is None:
                j = index[id(r)] = n
                add_node(r)
                n += 1
            add_edge(j)
        end_node(len(dst))
    return nodes, ntracked, off, dst


def raw_refcounts(nodes, ntracked):
    getrefcount = sys.getrefcount
    return [getrefcount(o) for o in islice(nodes, ntracked)]


def gc_analysis(nodes, ntracked, off, dst):
    """gc.collect()'s arithmetic over the graph. ext = refcount - references from
    collectable objects (the tracked nodes); ext > 0 are the roots; what they
    reach through tracked objects survives; the rest would be freed."""
    # The references the benchmark holds itself (the nodes list, the loop
    # variable, the call's argument): read from an object that only such a
    # list holds, by the same code.
    extra = raw_refcounts([object()], 1)[0]
    internal = [0] * ntracked
    for d in islice(dst, off[ntracked]):    # tracked nodes come first
        if d < ntracked:
            internal[d] += 1
    ext = [rc - extra - c for rc, c in zip(raw_refcounts(nodes, ntracked), internal)]
    del internal
    stack = [i for i, e in enumerate(ext) if e > 0]
    nroots = len(stack)
    negative = sum(1 for e in ext if e < 0)
    del ext
    alive = bytearray(ntracked)
    for i in stack:
        alive[i] = 1
    pop = stack.pop
    push = stack.append
    while stack:
        s = pop()
        for d in dst[off[s]:off[s + 1]]:
            if d < ntracked and not alive[d]:
                alive[d] = 1
                push(d)
    return extra, nroots, negative, ntracked - alive.count(1)


def graph_run():
    """One in-process equivalent of `pyleak-core cycles`: times and counts."""
    was_enabled = gc.isenabled()
    gc.disable()                  # no collection in the middle of the timing
    reset = reset_hwm()
    before = rss_kib()
    t0 = time.perf_counter()
    nodes, ntracked, off, dst = graph_build()
    t1 = time.perf_counter()
    extra, nroots, negative, unreachable = gc_analysis(nodes, ntracked, off, dst)
    t2 = time.perf_counter()
    peak = hwm_kib()
    res = dict(build_s=f"{t1 - t0:.4f}", analysis_s=f"{t2 - t1:.4f}", total_s=f"{t2 - t0:.4f}",
               nodes=len(nodes), tracked=ntracked, edges=len(dst), extra_refs=extra,
               roots=nroots, negative=negative, unreachable=unreachable,
               rss_before_kib=before, peak_kib=peak, hwm_reset=int(reset))
    del nodes, off, dst
    if was_enabled:
        gc.enable()
    return res


def census():
    """The in-process equivalent of `pyleak-core types`: every gc-tracked
    object, counted and sized per type (keyed by the type object, named once
    per type at the end, as pyleak-core does)."""
    t0 = time.perf_counter()
    objs = gc.get_objects()
    t1 = time.perf_counter()
    counts = Counter()
    sizes = Counter()
    getsizeof = sys.getsizeof
    for o in objs:
        t = type(o)
        counts[t] += 1
        sizes[t] += getsizeof(o)
    by_name = {}
    for t, n in counts.items():
        name = f"{t.__module__}.{t.__qualname__}"
        c, b = by_name.get(name, (0, 0))
        by_name[name] = (c + n, b + sizes[t])
    top = sorted(by_name.items(), key=lambda kv: (-kv[1][1], -kv[1][0], kv[0]))
    t2 = time.perf_counter()
    nobj = len(objs)
    del objs
    return t2 - t0, t1 - t0, nobj, sum(sizes.values()), top


def main():
    target = int(sys.argv[1]) if len(sys.argv) > 1 else 2_500_000
    t0 = time.perf_counter()
    gc.collect()
    gc.disable()                  # build fast; one full collection at the end
    world = World()
    base = tracked()
    calib = 2000
    world.add_records(calib)
    gc.collect()                  # untracks atomic tuples, as a real gc pass would
    per = (tracked() - base) / calib
    remaining = int((target - base) / per) - calib
    step = 50_000
    while remaining > 0:
        world.add_records(min(step, remaining))
        remaining -= step
    gc.collect()
    gc.enable()
    n = tracked()
    build_s = time.perf_counter() - t0
    globals()["WORLD"] = world    # keep everything reachable from a module global
    frozen = gc.get_freeze_count() if hasattr(gc, "get_freeze_count") else 0
    print(f"BUILT objects={n} frozen={frozen} records={world.nrec} build_s={build_s:.2f} "
          f"rss_kib={rss_kib()}", flush=True)
    print(f"READY {os.getpid()}", flush=True)

    while True:
        line = sys.stdin.readline().split()
        if len(line) == 2 and line[0] == "census":
            before = rss_kib()
            top = []
            for i in range(int(line[1])):
                top = None        # do not let the last run's result be counted
                secs, get_s, nobj, nbytes, top = census()
                print(f"CENSUS run={i + 1} seconds={secs:.4f} get_objects_s={get_s:.4f} "
                      f"objects={nobj} bytes={nbytes} types={len(top)}", flush=True)
            maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            print(f"CENSUSRSS rss_before_kib={before} maxrss_kib={maxrss}", flush=True)
            for name, (c, b) in top[:10]:
                print(f"TOP {c} {b} {name}", flush=True)
            top = None
        elif len(line) == 2 and line[0] == "graph":
            for i in range(int(line[1])):
                res = graph_run()
                print(f"GRAPH run={i + 1} " + " ".join(f"{k}={v}" for k, v in res.items()),
                      flush=True)
        else:
            break
        print("DONE", flush=True)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
