"""Demo - a small order-notification service with three leaks (`make demo`).

The service: an EventBus (BUS) to which every open order subscribes a
Handler.on_event bound method; a module-level cache of rendered receipts; and
per-customer Session objects with Request children pointing back at their
session.  It "disables gc for latency".  What goes wrong:
  1. orders are closed without unsubscribing: BUS.listeners grows to 400 bound
     methods, each keeping a Handler with a ~1 KiB payload;
  2. _receipt_cache is keyed by (order id, locale) and never evicted: 300 entries;
  3. closed sessions are dropped, but Session <-> Request is a cycle and gc is
     disabled: 120 sessions (120 Session + 480 Request) wait for a collection.

Expect:
    pattern: A2 + A1 + B1/B3 (demo)
    gc: disabled
    suspect: __main__.BUS.listeners (list, 400 items)
    chain: __main__.BUS.listeners[i].__self__
    retained: 400 __main__.Handler via __main__.BUS.listeners[i].__self__ (each with a 1024-byte bytes payload)
    suspect: __main__._receipt_cache (dict, 300 items)
    chain: __main__._receipt_cache[(order_id, locale)]
    retained: 300 __main__.Receipt
    unreachable: 120 __main__.Session + 480 __main__.Request (120 cycles)
    report: gc is disabled; the 120 session cycles would be freed by gc.collect()
    reachable: 30 __main__.Session via __main__.SESSIONS (open sessions)
"""
import gc
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
        if callback in self.listeners:
            self.listeners.remove(callback)

    def publish(self, event):
        for callback in self.listeners:
            callback(event)


class Handler:
    """Tracks one order until it is closed."""

    def __init__(self, order_id):
        self.order_id = order_id
        self.payload = bytes(1024)  # the order document
        self.events = []

    def on_event(self, event):
        if event.get("order_id") == self.order_id:
            self.events.append(event["type"])


class Receipt:
    def __init__(self, order_id, locale):
        self.order_id = order_id
        self.locale = locale
        self.text = "Receipt #%d (%s)" % (order_id, locale)


class Session:
    def __init__(self, customer):
        self.customer = customer
        self.requests = []

    def request(self, path):
        req = Request(self, path)
        self.requests.append(req)
        return req


class Request:
    def __init__(self, session, path):
        self.session = session  # back pointer: Session <-> Request cycle
        self.path = path


BUS = EventBus()
_receipt_cache = {}
SESSIONS = {}


def render_receipt(order_id, locale):
    key = (order_id, locale)
    if key not in _receipt_cache:
        _receipt_cache[key] = Receipt(order_id, locale)
    return _receipt_cache[key]


def open_order(order_id):
    handler = Handler(order_id)
    BUS.subscribe(handler.on_event)
    BUS.publish({"type": "opened", "order_id": order_id})
    return handler


def close_order(handler):
    BUS.publish({"type": "closed", "order_id": handler.order_id})
    # forgot: BUS.unsubscribe(handler.on_event)


def customer_visit(customer):
    session = SESSIONS.setdefault(customer, Session(customer))
    for path in ("/", "/cart", "/checkout", "/receipt"):
        session.request(path)
    return session


def logout(customer):
    SESSIONS.pop(customer)  # the Session <-> Request cycle remains


def main():
    gc.disable()  # "the collector caused latency spikes"
    for order_id in range(400):
        handler = open_order(order_id)
        if order_id < 300:
            render_receipt(order_id, "en" if order_id % 2 else "de")
        close_order(handler)
    for c in range(150):
        customer_visit("customer-%d" % c)
        if c >= 30:
            logout("customer-%d" % c)
    print("listeners %d, receipts %d, open sessions %d"
          % (len(BUS.listeners), len(_receipt_cache), len(SESSIONS)))


main()
oracle.stop(label="demo_leak")
