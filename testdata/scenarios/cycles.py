"""B1 - reference cycles left for the collector, with gc disabled.

gc is disabled right after the imports (after one gc.collect(), so the only
cyclic garbage in the core is this scenario's).  Then:
  - 200 trees (a Node root with 5 Node children, each child.parent = root):
    50 kept in KEPT_TREES, 150 dropped -> 900 Node unreachable;
  - a doubly linked list of 300 DNode (prev/next), dropped -> 300 DNode unreachable;
  - 120 Peer pairs (a.other = b; b.other = a): 20 kept in KEPT_PAIRS, 100 dropped
    -> 200 Peer unreachable.
gc stays disabled, so all of that is still in memory when the core is taken.
(Instance dicts and the children lists are also unreachable; their number
depends on the Python version: managed dicts on 3.11+.)

Expect:
    pattern: B1
    gc: disabled
    unreachable: 900 __main__.Node, 300 __main__.DNode, 200 __main__.Peer (in 150 + 1 + 100 cycles)
    unreachable-lists: 150 children lists (builtins.list) of the dropped trees
    reachable: 300 __main__.Node via __main__.KEPT_TREES, 40 __main__.Peer via __main__.KEPT_PAIRS
    report: gc is disabled; the unreachable cycles above would be freed by gc.collect()
    garbage: exactly the unreachable objects above (and their dicts), nothing else
"""
import gc
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import oracle  # noqa: E402

gc.collect()
gc.disable()


class Node:
    def __init__(self, name, parent=None):
        self.name = name
        self.parent = parent
        self.children = []
        if parent is not None:
            parent.children.append(self)


class DNode:
    def __init__(self, value):
        self.value = value
        self.prev = None
        self.next = None


class Peer:
    def __init__(self, name):
        self.name = name
        self.other = None


def build_tree(i, fanout=5):
    root = Node("root-%d" % i)
    for j in range(fanout):
        Node("child-%d-%d" % (i, j), root)
    return root


def build_list(n):
    head = prev = DNode(0)
    for v in range(1, n):
        node = DNode(v)
        node.prev = prev
        prev.next = node
        prev = node
    return head


def make_pair(i):
    a = Peer("a%d" % i)
    b = Peer("b%d" % i)
    a.other = b
    b.other = a
    return a


KEPT_TREES = [build_tree(i) for i in range(50)]
KEPT_PAIRS = [make_pair(i) for i in range(20)]


def churn():
    trees = [build_tree(i) for i in range(50, 200)]
    chain = build_list(300)
    pairs = [make_pair(i) for i in range(20, 120)]
    return len(trees) + len(pairs) + (chain.next is not None)  # all dropped on return


churn()
oracle.stop(label="cycles")
