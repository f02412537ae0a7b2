"""Live-gc oracle for the pyleak-core integration scenarios.

A scenario builds a heap, then calls ``oracle.stop(label="...")``.  Run under
tests/mkcore.sh, stop() tells mkcore the heap is ready, blocks while the core
is taken, and then records what the live interpreter knows about that same
heap: every gc-tracked object with its generation, refcount, type and
referents (objects.tsv), the untracked objects they reach (untracked.tsv),
interpreter/gc state (meta.txt), what gc.collect()
would free (garbage.txt) and the permanent generation (permanent.tsv).
The formats and the allowances are described in testdata/README.md.

Protocol (environment set by tests/mkcore.sh):
  PYLEAK_READY_FD  write end of a pipe: we write "READY <pid>\\n", later "DONE\\n"
  PYLEAK_GO_FD     read end of a pipe: mkcore sends one byte once the core exists:
                   "c" = core taken by gcore, record now;
                   "k" = fork a child that aborts (kernel core), then record
  PYLEAK_OUT       output directory

Without PYLEAK_READY_FD/PYLEAK_GO_FD but with PYLEAK_OUT, stop() records at
once (core_mode=none).  With none of them, stop() prints a note and returns.

Works on CPython 3.8-3.13, standard library only.
"""

import gc
import os
import sys
import threading
import time

try:
    import resource  # imported up front so the kernel-core child needs no import
except ImportError:  # pragma: no cover - not on Linux
    resource = None

__all__ = ["stop"]

# 3.12+: immortal objects report a refcount of 0xFFFFFFFF (_Py_IMMORTAL_REFCNT;
# the C test is "(int32_t)ob_refcnt < 0").  Before 3.12 nothing is immortal
# (3.11's deep-frozen static objects start at 999999999 but do change).
_IMMORTAL_MIN = (1 << 31) if sys.version_info >= (3, 12) else None

_HEADER = "# addr gen refcnt type referents\n"


def _type_name(o, cache):
    """'module.qualname' of type(o); cached by id(type) so no type is kept alive."""
    t = type(o)
    k = id(t)
    n = cache.get(k)
    if n is None:
        try:
            n = "%s.%s" % (t.__module__, t.__qualname__)
        except Exception:
            try:
                n = repr(t)
            except Exception:
                n = "?"
        n = n.replace("\t", " ").replace("\n", " ").replace("\r", " ")
        cache[k] = n
    return n


def _clean(s):
    return str(s).replace("\n", " ").replace("\r", " ").replace("\t", " ")


def _write_all(fd, text):
    data = text.encode("utf-8", "backslashreplace")
    while data:
        data = data[os.write(fd, data):]


def _write_file(path, text, append=False):
    """Write text with os.open/os.write.  No file objects: a closed file object
    left in a variable would still hold references to its (heap) types."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, 0o644)
    try:
        _write_all(fd, text)
    finally:
        os.close(fd)


def _write_rows(fd, objs, gen, stack_id, recorded, skip_id):
    """Write one objects.tsv row per object of ``objs`` to fd; return the row count.

    Refcount arithmetic: while ``sys.getrefcount(o)`` runs, the recording holds
    exactly three references to ``o``: the list ``objs`` (one slot: the
    generation lists are disjoint), the loop variable ``o``, and the call
    argument on the value stack.  So the heap's own count is ``rc - 3``.
    sys.getrefcount itself is also on the value stack (the callable) while it
    runs: one more for that object; and this function, which is running (its
    frame holds it on 3.11+, the caller's value stack on <= 3.10): one more.
    On <= 3.10 this function's frame object also holds its globals (this
    module's dict) and its builtins dict: one more each (3.11+ frames borrow).
    ``stack_id`` is the id of the builtin that
    was on stop()'s value stack at core time and is not any more (os.read
    under gcore, os.abort in the kernel-core child): +1 puts that reference
    back.  Nothing else is held: no object is passed in or aliased here (only
    ids), the referents list and the type are temporaries freed before the
    next row, and the output goes through os.write (a file object would hold
    references to heap types such as _io.TextIOWrapper on 3.12+ or an encoder
    class).  Only instances of static types are created here.
    """
    cache = {}
    getrc_id = id(sys.getrefcount)
    self_id = id(_write_rows)
    if sys.version_info < (3, 11):
        frame = sys._getframe()
        globals_id = id(frame.f_globals)
        builtins_id = id(frame.f_builtins)
        del frame
    else:
        globals_id = builtins_id = 0
    buf = []
    w = buf.append
    n = 0
    for o in objs:
        rc = sys.getrefcount(o)
        oid = id(o)
        if oid == skip_id:
            continue
        if _IMMORTAL_MIN is not None and rc >= _IMMORTAL_MIN:
            rcs = "immortal"
        else:
            rc -= 3
            if oid == getrc_id or oid == self_id or oid == globals_id or oid == builtins_id:
                rc -= 1
            if oid == stack_id:
                rc += 1
            rcs = "%d" % rc
        refs = ",".join(map(hex, map(id, gc.get_referents(o)))) or "-"
        w("0x%x\t%s\t%s\t%s\t%s\n" % (oid, gen, rcs, _type_name(o, cache), refs))
        if recorded is not None:
            recorded.add(oid)
        n += 1
        if len(buf) >= 4096:
            _write_all(fd, "".join(buf))
            del buf[:]
    _write_all(fd, "".join(buf))
    return n


def _write_untracked(path, lists, skip_id):
    """untracked.tsv: every object gc does not track that the objects of
    ``lists`` (the generations) reach through gc.get_referents, directly or
    through other untracked objects: its id, its type, and the id of the
    object it was first reached from.  Written after objects.tsv, whose
    refcounts the references held here would change."""
    is_tracked = gc.is_tracked
    get_referents = gc.get_referents
    cache = {}
    seen = {}
    stack = []

    def reach(x):
        for r in get_referents(x):
            if not is_tracked(r) and id(r) not in seen:
                seen[id(r)] = (r, id(x))
                stack.append(r)

    for objs in lists:
        for o in objs:
            if id(o) != skip_id:
                reach(o)
    while stack:
        reach(stack.pop())
    rows = ["# addr type first_referrer\n"]
    rows.extend("0x%x\t%s\t0x%x\n" % (k, _type_name(v[0], cache), v[1])
                for k, v in seen.items())
    _write_file(path, "".join(rows))
    return len(seen)


def _collect_garbage(out, recorded, meta_path):
    """DEBUG_SAVEALL collect; write the ids of what it frees to garbage.txt."""
    n_before = len(gc.garbage)
    gc.set_debug(gc.DEBUG_SAVEALL)
    gc.collect()
    new = gc.garbage[n_before:]
    unrecorded = 0
    cache = {}
    lines = ["# ids of the objects gc.collect() frees at core time, one per line\n"]
    for x in new:
        lines.append("0x%x\n" % id(x))
        if id(x) not in recorded:
            unrecorded += 1
            sys.stderr.write("oracle: warning: garbage object 0x%x (%s) is not in objects.tsv\n"
                             % (id(x), _type_name(x, cache)))
    _write_file(os.path.join(out, "garbage.txt"), "".join(lines))
    _write_file(meta_path, "garbage_count=%d\ngarbage_unrecorded=%d\n" % (len(new), unrecorded), True)


def _simple_repr(v):
    """The short repr pyleak-core prints, for the values where it is exact."""
    t = type(v)
    if v is None or t is bool:
        return repr(v)
    if t is int and -(1 << 60) < v < (1 << 60):
        return str(v)
    if t is str and len(v) <= 40 and all(" " <= c <= "~" and c not in "'\\" for c in v):
        return "'%s'" % v
    return None


def _frame_row(f, optimized_only=True):
    co = f.f_code
    cells = []
    if co.co_flags & 1:  # CO_OPTIMIZED: locals live in the frame
        for k, v in list(f.f_locals.items()):
            r = _simple_repr(v)
            cells.append(_clean(k) if r is None else "%s=%s" % (_clean(k), r))
    name = getattr(co, "co_qualname", co.co_name)
    return "\t".join([_clean(name), _clean(co.co_filename), str(f.f_lineno)] + cells)


def _gen_state(g):
    for p in ("gi_", "cr_", "ag_"):
        if hasattr(g, p + "frame"):
            break
    if getattr(g, p + "running", False):
        return "running", None
    frame = getattr(g, p + "frame")
    if frame is None:
        return "done", None
    susp = getattr(g, p + "suspended", None)
    if susp is not None:  # 3.11+
        return ("suspended" if susp else "created"), frame
    return ("created" if frame.f_lasti == -1 else "suspended"), frame


def _record_stacks(path):
    """stacks.txt: every thread's frames innermost first (this module's own
    frames left out), and every generator, coroutine and async generator."""
    rows = []
    names = {t.ident: t.name for t in threading.enumerate()}
    here = os.path.abspath(__file__)
    for ident, f in sys._current_frames().items():
        rows.append("thread\t%d\t%s" % (ident, _clean(names.get(ident, ""))))
        while f is not None:
            if os.path.abspath(f.f_code.co_filename) != here:
                rows.append("frame\t" + _frame_row(f))
            f = f.f_back
    # by name: importing types here would leave garbage (its class _C) behind
    kinds = {"generator": "generator", "coroutine": "coroutine",
             "async_generator": "async generator"}
    for o in gc.get_objects():
        t = type(o)
        k = kinds.get(t.__name__) if t.__module__ == "builtins" else None
        if k is None:
            continue
        state, frame = _gen_state(o)
        yf = getattr(o, {"generator": "gi_yieldfrom", "coroutine": "cr_await",
                         "async generator": "ag_await"}[k], None)
        row = "gen\t0x%x\t%s\t%s\t%s\t%s" % (id(o), k, _clean(o.__qualname__), state,
                                              "-" if yf is None else "0x%x" % id(yf))
        rows.append(row if frame is None else row + "\t" + _frame_row(frame))
    _write_file(path, "\n".join(rows) + "\n")


def _settle(timeout=5.0):
    """With other threads alive: wait until each one's innermost frame stays
    at the same instruction for a few polls (blocked), so that the core and
    the stacks recorded after it agree."""
    me = threading.get_ident()
    prev, same = None, 0
    end = time.monotonic() + timeout
    while time.monotonic() < end and same < 3:
        snap = sorted((i, id(f.f_code), f.f_lasti) for i, f in sys._current_frames().items()
                      if i != me)
        same = same + 1 if snap == prev else 0
        prev = snap
        time.sleep(0.02)


def stop(label=""):
    """Block until the core is taken, record the oracle files, exit the process."""
    env = os.environ
    out = env.get("PYLEAK_OUT")
    ready_s = env.get("PYLEAK_READY_FD")
    go_s = env.get("PYLEAK_GO_FD")
    if ready_s is None or go_s is None:
        if out is None:
            sys.stderr.write("oracle.stop(%r): not run under tests/mkcore.sh "
                             "(PYLEAK_READY_FD/PYLEAK_GO_FD/PYLEAK_OUT unset); nothing recorded\n" % label)
            return
        ready_fd = go_fd = -1
    else:
        ready_fd = int(ready_s)
        go_fd = int(go_s)
    out = os.path.abspath(out or ".")
    meta_path = os.path.join(out, "meta.txt")

    if threading.active_count() > 1:
        was_enabled = gc.isenabled()
        gc.disable()           # no collection may run because of our polling
        _settle()
        if was_enabled:
            gc.enable()

    # Everything the recording needs is bound here, before the core, so that
    # nothing it keeps alive is born after the core (an alias made later would
    # add a reference that the core does not have).
    get_objects = gc.get_objects
    read = os.read
    enabled = gc.isenabled()
    pid = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()

    # -- a/b: announce and block.  The heap at this point is what the core holds.
    if ready_fd >= 0:
        os.write(ready_fd, b"READY %d\n" % pid)
        go = read(go_fd, 1)
    else:
        go = b"n"
    # -- c: no gc-tracked allocation happened since the core.  Switch off
    # automatic collection before the first one (gc.disable() allocates nothing),
    # so no collection can run between the core and the snapshot.
    gc.disable()
    core_pid = 0
    core_status = 0
    if go == b"k":
        # Kernel core: the child is a copy of this heap (plus what the
        # after-fork-in-child hooks change).  gc is off in both, so no
        # collection runs in either; the child restores the flag the scenario
        # had before dumping.
        core_pid = os.fork()
        if core_pid == 0:
            try:
                if enabled:
                    gc.enable()
                os.chdir(out)
                if resource is not None:
                    try:
                        resource.setrlimit(resource.RLIMIT_CORE,
                                           (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
                    except (ValueError, OSError):
                        pass
                os.abort()
            finally:
                os._exit(70)
        core_status = os.waitpid(core_pid, 0)[1]
        stack_id = id(os.abort)    # on the child's value stack when it dumped
    elif go == b"c":
        stack_id = id(read)        # on our value stack while gcore ran
    elif go == b"n":
        stack_id = 0
    else:
        sys.stderr.write("oracle.stop: mkcore went away (go byte %r); exiting\n" % (go,))
        os._exit(3)
    counts = gc.get_count()        # the new tuple is in generation 0: skipped below
    # Positional argument: on <= 3.11 the first keyword call of an Argument
    # Clinic function creates its parser's keyword-name tuple, a new object.
    g0 = get_objects(0)            # a result list never contains itself
    g1 = get_objects(1)
    g2 = get_objects(2)
    # ---- from here on, allocations no longer matter ----
    freeze_count = gc.get_freeze_count()

    recorded = set()
    fd = os.open(os.path.join(out, "objects.tsv"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    _write_all(fd, _HEADER)
    n0 = _write_rows(fd, g0, 0, stack_id, recorded, id(counts))
    n1 = _write_rows(fd, g1, 1, stack_id, recorded, 0)
    n2 = _write_rows(fd, g2, 2, stack_id, recorded, 0)
    os.close(fd)
    n_untracked = _write_untracked(os.path.join(out, "untracked.tsv"), (g0, g1, g2), id(counts))
    del g0, g1, g2

    threads = threading.enumerate()
    garbage_mode = "inprocess" if threading.active_count() > 1 else "fork"
    lines = [
        "version=%s" % sys.version.split()[0],
        "hexversion=0x%08x" % sys.hexversion,
        "executable=%s" % os.path.realpath(sys.executable),
        "pid=%d" % pid,
        "gc_enabled=%d" % (1 if enabled else 0),
        "gc_threshold=%d,%d,%d" % gc.get_threshold(),
        "gc_count=%d,%d,%d" % counts,
        "gc_debug=%d" % gc.get_debug(),
        "gc_garbage_len=%d" % len(gc.garbage),
        "gc_freeze_count=%d" % freeze_count,
        "objects=%d" % (n0 + n1 + n2),
        "gen_sizes=%d,%d,%d" % (n0, n1, n2),
        "untracked=%d" % n_untracked,
        "threads=%d" % len(threads),
    ]
    lines.extend(["thread=%s,%s,%s" % (_clean(t.name), getattr(t, "native_id", None), t.ident)
                  for t in threads])
    lines.append("label=%s" % _clean(label))
    lines.append("core_mode=%s" % {b"c": "gcore", b"k": "kernel", b"n": "none"}[go])
    if stack_id:
        lines.append("refcnt_adjusted=0x%x:+1" % stack_id)
    if go == b"k":
        lines.append("core_pid=%d" % core_pid)
        lines.append("core_threads=1")  # a fork child has only the thread that forked
        lines.append("core_signal=%d" % (os.WTERMSIG(core_status) if os.WIFSIGNALED(core_status) else 0))
        lines.append("core_dumped=%d" % (1 if os.WCOREDUMP(core_status) else 0))
        alt = os.path.join(out, "core.%d" % core_pid)
        if not os.path.exists(os.path.join(out, "core")) and os.path.exists(alt):
            os.rename(alt, os.path.join(out, "core"))
    lines.append("garbage_mode=%s" % garbage_mode)
    _write_file(meta_path, "\n".join(lines) + "\n")
    del threads, lines, counts
    # Before any collection below can finish a generator: the stacks.
    _record_stacks(os.path.join(out, "stacks.txt"))

    # -- d: what would gc.collect() free?  A fork child keeps this heap intact
    # for the permanent-generation step below.  With other threads alive a
    # fork child would lose their frames (and free what they hold), so then
    # collect in-process instead (this heap is then altered: done last).
    if garbage_mode == "fork":
        child = os.fork()
        if child == 0:
            code = 1
            try:
                _collect_garbage(out, recorded, meta_path)
                code = 0
            finally:
                sys.stderr.flush()
                os._exit(code)
        st = os.waitpid(child, 0)[1]
        if st != 0:
            sys.stderr.write("oracle: garbage child failed (status %d)\n" % st)
            _write_file(meta_path, "garbage_error=%d\n" % st, True)
    else:
        _collect_garbage(out, recorded, meta_path)

    # -- permanent generation (gc.freeze(); 3.12 also parks immortal objects
    # there).  gc.get_objects() never lists it; gc.unfreeze() appends it to
    # generation 2, so it is what generation 2 gains.
    n_perm = 0
    fd = os.open(os.path.join(out, "permanent.tsv"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    _write_all(fd, _HEADER)
    if gc.get_freeze_count():
        before = set(map(id, get_objects(2)))
        gc.unfreeze()
        perm = get_objects(2)
        perm = [o for o in perm if id(o) not in before]
        n_perm = _write_rows(fd, perm, "p", stack_id, None, 0)
        del perm, before
    os.close(fd)
    _write_file(meta_path, "permanent=%d\n" % n_perm, True)

    # -- e: done.
    sys.stdout.flush()
    sys.stderr.flush()
    if ready_fd >= 0:
        os.write(ready_fd, b"DONE\n")
    os._exit(0)
