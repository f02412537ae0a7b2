"""A1 - a module-level cache that only grows.

A request handler registers every request in the module-level list `_cache`
("in flight") and removes it when done, but the removal is skipped on the early
return for pings and when validation raises.  One request in four leaks:
rid % 8 == 0 (ping, 250 of 2000) and rid % 8 == 3 (ValidationError, 250).

Expect:
    pattern: A1
    gc: enabled
    suspect: __main__._cache (list, 500 items)
    chain: __main__._cache[i]
    retained: 500 __main__.Request (each with a 2 KiB body)
    garbage: no __main__ objects
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import oracle  # noqa: E402

_cache = []  # requests in flight; handle() is supposed to remove them when done


class ValidationError(Exception):
    pass


class Request:
    def __init__(self, rid, kind):
        self.rid = rid
        self.kind = kind
        self.headers = {"x-request-id": str(rid), "kind": kind}
        self.body = bytes(2048)


def validate(req):
    if req.rid % 8 == 3:
        raise ValidationError("request %d: bad checksum" % req.rid)


def handle(req):
    _cache.append(req)
    if req.kind == "ping":
        return "pong"  # early return: the remove below is skipped
    validate(req)  # raises for some requests: the remove is skipped too
    result = "ok %d" % req.rid
    _cache.remove(req)
    return result


def main():
    served = failed = 0
    for rid in range(2000):
        kind = "ping" if rid % 8 == 0 else "get"
        try:
            handle(Request(rid, kind))
            served += 1
        except ValidationError:
            failed += 1
    print("served %d, failed %d, in flight %d" % (served, failed, len(_cache)))


main()
oracle.stop(label="cache_growth")
