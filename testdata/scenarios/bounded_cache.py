"""C - negative control: a bounded cache.

`lookup` is functools.lru_cache(maxsize=128); it is called with 1000
distinct user ids (0..999), so it evicts as it goes and holds exactly the
last 128 results (user ids 872..999).

Expect:
    pattern: C
    gc: enabled
    suspects: none (bounded: maxsize=128 reached, not growing)
    alive: 128 __main__.Profile via __main__.lookup's cache (user ids 872..999)
    garbage: no __main__ objects
"""
import functools
import gc
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import oracle  # noqa: E402


class Profile:
    def __init__(self, user_id):
        self.user_id = user_id
        self.name = "user-%d" % user_id
        self.roles = ["reader"] if user_id % 3 else ["reader", "admin"]


@functools.lru_cache(maxsize=128)
def lookup(user_id):
    return Profile(user_id)


gc.collect()
for uid in range(1000):
    lookup(uid)
    lookup(uid // 2 + 500)  # some hits
print(lookup.cache_info())
oracle.stop(label="bounded_cache")
