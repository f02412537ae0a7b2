"""B5 - an object cycle through its own bound methods.

Widget.__init__ does self.handlers = {"click": self.on_click, "key": self.on_key}:
widget -> handlers dict -> bound method -> widget.  150 widgets live in
WINDOW.widgets; after a gc.collect(), 80 popup widgets are created and dropped:
80 unreachable cycles wait in generation 0 (gc enabled, threshold not reached).

Expect:
    pattern: B5
    gc: enabled (generation 0 count below threshold 0: 700, 2000 on 3.13)
    unreachable: 80 __main__.Widget (80 cycles, each widget + handlers dict + 2 builtins.method)
    chain-in-cycle: Widget.handlers['click'].__self__ is the widget
    reachable: 150 __main__.Widget via __main__.WINDOW.widgets (cycles too, but reachable)
    garbage: exactly the 80 popup cycles
"""
import gc
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import oracle  # noqa: E402


class Widget:
    def __init__(self, name):
        self.name = name
        self.clicks = 0
        self.handlers = {"click": self.on_click, "key": self.on_key}

    def on_click(self, event):
        self.clicks += 1

    def on_key(self, event):
        pass


class Window:
    def __init__(self):
        self.widgets = []


WINDOW = Window()
for i in range(150):
    WINDOW.widgets.append(Widget("button-%d" % i))


def show_popups():
    for i in range(80):
        popup = Widget("popup-%d" % i)
        popup.handlers["click"]("open")  # closed again: dropped, but still a cycle


gc.collect()
show_popups()
print("gc count %s, threshold %s" % (gc.get_count(), gc.get_threshold()))
oracle.stop(label="self_bound_methods")
