"""A5 - unbounded lru_cache and a dict keyed by request id.

1. `render` is decorated with functools.lru_cache(maxsize=None): 600 distinct
   paths, so its cache dict holds 600 Page objects (single str argument: the
   cache key is the str itself).
2. The long-lived SERVER keeps every Response in `self.responses[request_id]`
   and never pops them: 350 responses (request ids 100000..100349).

Expect:
    pattern: A5
    gc: enabled
    suspect: __main__.render (functools._lru_cache_wrapper, maxsize=None): cache dict with 600 items
    chain: __main__.render.<lru_cache>[path]
    retained: 600 __main__.Page via __main__.render's cache
    suspect: __main__.SERVER.responses (dict, 350 items)
    chain: __main__.SERVER.responses[request_id]
    retained: 350 __main__.Response via __main__.SERVER.responses
    garbage: no __main__ objects
"""
import functools
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import oracle  # noqa: E402


class Page:
    def __init__(self, path):
        self.path = path
        self.html = "<html><body>%s</body></html>" % path
        self.links = ["%s/%d" % (path, i) for i in range(8)]


@functools.lru_cache(maxsize=None)
def render(path):
    return Page(path)


class Response:
    def __init__(self, request_id, page):
        self.request_id = request_id
        self.page = page
        self.headers = [("content-type", "text/html"), ("x-request-id", str(request_id))]


class Server:
    def __init__(self):
        self.responses = {}  # request id -> Response; nothing ever pops it

    def handle(self, request_id, path):
        response = Response(request_id, render(path))
        self.responses[request_id] = response
        return response


SERVER = Server()


def main():
    for i in range(600):
        render("/item/%d" % i)
    for rid in range(350):
        SERVER.handle(100000 + rid, "/item/%d" % (rid % 50))
    print(render.cache_info(), len(SERVER.responses))


main()
oracle.stop(label="lru_unbounded")
