"""A4 - class attribute accumulation.

`Plugin.instances = []` is a class attribute; Plugin.__init__ appends self, so
every plugin ever loaded stays alive as long as the class does, although the
application only keeps the last one.

Expect:
    pattern: A4
    gc: enabled
    suspect: __main__.Plugin.instances (list, 250 items)
    chain: __main__.Plugin.instances[i]
    retained: 250 __main__.Plugin (each with a config dict holding a 32-item list)
    garbage: no __main__ objects
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import oracle  # noqa: E402


class Plugin:
    instances = []  # every Plugin ever created

    def __init__(self, name, config):
        self.name = name
        self.config = config
        self.instances.append(self)

    def run(self, value):
        return value * len(self.config["options"])


def load_plugin(i):
    config = {"name": "plugin-%d" % i, "options": list(range(32)), "enabled": True}
    return Plugin(config["name"], config)


def main():
    total = 0
    for i in range(250):
        plugin = load_plugin(i)  # replaces the previous one: the app thinks it is gone
        total += plugin.run(i)
    print("plugins %d, total %d" % (len(Plugin.instances), total))


main()
oracle.stop(label="class_registry")
