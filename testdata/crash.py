"""A Python service that dies of SIGSEGV in a C call, for `pyleak-core triage`
(tests/test_cli.sh).  The kernel writes the core (ulimit -c unlimited,
kernel.core_pattern "core"); handle() is the Python frame that made the call.

usage: python crash.py
"""
import ctypes
import faulthandler

faulthandler.disable()   # let the kernel see the signal and dump


def handle(request):
    payload = {"request": request}
    return ctypes.memmove(8, 16, 8), payload  # CRASH-LINE: writes to address 8


def serve():
    for i in range(3):
        handle("req-%d" % i)


serve()
