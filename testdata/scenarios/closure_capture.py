"""A3 - closure capture.

1. make_handler() returns a nested function `handle` that memoises into the
   enclosing `cache = {}`: the dict lives in a cell of HANDLE.__closure__ and
   only grows (300 keys).
2. register() appends `lambda x, d=big: None` to CALLBACKS: the default value
   keeps a 1000-float list alive per callback (50 callbacks).

Expect:
    pattern: A3
    gc: enabled
    suspect: __main__.HANDLE.<closure cache> (dict, 300 items)
    chain: __main__.HANDLE.__closure__[0].cell_contents[key]; label it handle.<closure cache>, not __closure__[0]
    retained: 300 __main__.Blob via __main__.HANDLE.<closure cache>
    suspect: __main__.CALLBACKS (list, 50 items)
    chain: __main__.CALLBACKS[i].__defaults__[0]
    retained: 50 builtins.list of 1000 floats via __main__.CALLBACKS[i].__defaults__[0]
    garbage: no __main__ objects
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import oracle  # noqa: E402


class Blob:
    def __init__(self, key):
        self.key = key
        self.data = [key] * 16


def make_handler():
    cache = {}

    def handle(key):
        if key not in cache:
            cache[key] = Blob(key)
        return cache[key]

    return handle


HANDLE = make_handler()
CALLBACKS = []


def register(i):
    big = [float(j + i) for j in range(1000)]
    CALLBACKS.append(lambda x, d=big: None)


def main():
    for key in range(300):
        HANDLE(key)
        HANDLE(key // 2)
    for i in range(50):
        register(i)
    print("cache entries %d, callbacks %d" % (len(HANDLE.__closure__[0].cell_contents), len(CALLBACKS)))


main()
oracle.stop(label="closure_capture")
