"""C - negative control: the weakref-based fixes of the A patterns.

100 Subject objects are held strongly only by ACTIVE.  Everything else refers
to them weakly: 100 Observer with weakref.ref, 50 weakref.proxy in PROXIES, a
WeakValueDictionary BY_NAME, a WeakSet SEEN, 20 weakref.finalize (callback
args do not include the subject).  100 more "temporary" Subjects were
registered the same way (100 more Observers in OBSERVERS, now holding dead
weakrefs; one more finalize, which ran) and dropped: they are freed.  TREE is an
85-node tree (fanout 4, depth 3) whose parent pointers are weakref.ref, so it
has no cycles.

Expect:
    pattern: C
    gc: enabled
    suspects: none (no leak)
    alive: 100 __main__.Subject, each with exactly one strong referrer (__main__.ACTIVE[i]); 0 temporary Subject
    alive: 200 __main__.Observer via __main__.OBSERVERS (100 with dead weakrefs): expected, not a leak
    weak-edges: weakref.ref / proxy / KeyedRef / WeakSet / finalize do not keep any Subject alive
    reachable: 85 __main__.TreeNode via __main__.TREE (acyclic: parent pointers are weak)
    garbage: no __main__ objects
"""
import gc
import os
import sys
import weakref

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import oracle  # noqa: E402


class Subject:
    def __init__(self, name):
        self.name = name
        self.data = list(range(20))


class Observer:
    def __init__(self, subject):
        self.subject_ref = weakref.ref(subject)
        self.events = 0

    def notify(self):
        subject = self.subject_ref()
        if subject is not None:
            self.events += 1


class TreeNode:
    def __init__(self, label, parent=None):
        self.label = label
        self._parent = weakref.ref(parent) if parent is not None else None
        self.children = []
        if parent is not None:
            parent.children.append(self)

    @property
    def parent(self):
        return self._parent() if self._parent is not None else None


CLOSED = []


def _closed(name):
    CLOSED.append(name)


def build_tree(parent, depth, fanout=4):
    if depth == 0:
        return
    for i in range(fanout):
        build_tree(TreeNode("%s.%d" % (parent.label, i), parent), depth - 1)


gc.collect()  # import-time garbage is not this scenario's

ACTIVE = [Subject("s%d" % i) for i in range(100)]
OBSERVERS = [Observer(s) for s in ACTIVE]
PROXIES = [weakref.proxy(s) for s in ACTIVE[:50]]
BY_NAME = weakref.WeakValueDictionary((s.name, s) for s in ACTIVE)
SEEN = weakref.WeakSet(ACTIVE)
FINALIZERS = [weakref.finalize(s, _closed, s.name) for s in ACTIVE[:20]]


def temporary_subjects():
    temps = [Subject("tmp%d" % i) for i in range(100)]
    for t in temps:
        OBSERVERS.append(Observer(t))
        BY_NAME[t.name] = t
        SEEN.add(t)
    weakref.finalize(temps[0], _closed, temps[0].name)
    return len(temps)  # all 100 die here


temporary_subjects()
TREE = TreeNode("root")
build_tree(TREE, 3)
for o in OBSERVERS:
    o.notify()
del o
print("alive in BY_NAME %d, SEEN %d, closed %s, proxy name %s"
      % (len(BY_NAME), len(SEEN), CLOSED, PROXIES[0].name))
oracle.stop(label="weakref_fixed")
