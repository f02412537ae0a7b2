"""A8 - a saved exception keeps frames and their locals alive.

parse() builds 1000 Row objects in its local `rows`, then raises for batch 3.
run() stores the exception in the module global LAST_ERROR "for the error
report".  Its __traceback__ holds the frames run -> load -> parse, and the
parse frame holds `rows`.

Expect:
    pattern: A8
    gc: enabled
    suspect: __main__.LAST_ERROR (__main__.BatchError)
    chain: __main__.LAST_ERROR.__traceback__.tb_next.tb_next.tb_frame, frame parse(), local rows
    retained: 1000 __main__.Row via the parse() frame's local rows (list, 1000 items)
    garbage: no __main__ objects
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import oracle  # noqa: E402


class BatchError(Exception):
    pass


class Row:
    def __init__(self, i):
        self.i = i
        self.cells = [i, str(i), float(i)]
        self.raw = bytes(512)  # the source line as read


def parse(batch_no):
    rows = [Row(i) for i in range(1000)]
    if batch_no == 3:
        raise BatchError("batch %d: bad checksum" % batch_no)
    return len(rows)


def load(batch_no):
    return parse(batch_no)


LAST_ERROR = None


def run():
    global LAST_ERROR
    loaded = 0
    for batch_no in range(5):
        try:
            loaded += load(batch_no)
        except BatchError as e:
            LAST_ERROR = e  # kept for a later error report
    print("loaded %d rows; last error: %s" % (loaded, LAST_ERROR))


run()
oracle.stop(label="saved_exception")
