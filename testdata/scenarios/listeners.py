"""A2 - listener registry: bound methods keep their __self__ alive.

Each session subscribes `handler.on_event` to the module-level event bus.
Closing a session should unsubscribe it, but only one session in five is
closed properly (n % 5 == 0); the other 400 bound methods stay in the list and
keep their Handler (with a 1 KiB bytearray payload) alive.

Expect:
    pattern: A2
    gc: enabled
    suspect: __main__.BUS.listeners (list, 400 items)
    chain: __main__.BUS.listeners[i].__self__
    retained: 400 __main__.Handler via __main__.BUS.listeners[i].__self__ (each with a 1024-byte bytearray)
    garbage: no __main__ objects
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import oracle  # noqa: E402


class EventBus:
    def __init__(self):
        self.listeners = []

    def subscribe(self, callback):
        self.listeners.append(callback)

    def unsubscribe(self, callback):
        self.listeners.remove(callback)  # bound methods compare equal by (__func__, __self__)

    def publish(self, event):
        for callback in list(self.listeners):
            callback(event)


class Handler:
    def __init__(self, n):
        self.n = n
        self.payload = bytearray(1024)
        self.seen = 0

    def on_event(self, event):
        self.seen += 1


BUS = EventBus()


def open_session(n):
    handler = Handler(n)
    BUS.subscribe(handler.on_event)
    return handler


def close_session(handler, forget):
    if forget:
        return  # bug: the early exit skips the unsubscribe
    BUS.unsubscribe(handler.on_event)


def main():
    for n in range(500):
        handler = open_session(n)
        BUS.publish({"type": "tick", "n": n})
        close_session(handler, forget=(n % 5 != 0))
    print("listeners: %d" % len(BUS.listeners))


main()
oracle.stop(label="listeners")
