#!/usr/bin/python3
"""Damage copies of a CPython ELF core for tests/test_damaged.sh.

usage:
  damage.py plan CORE OBJECTS.jsonl LAYOUT.txt [SEED]
      Print the damage cases for CORE, one per line, tab-separated:
          GROUP  NAME  EXPECT  SPEC
      GROUP is trunc, elf or heap.  EXPECT is, for trunc, the exit codes
      allowed without --force ("3", or "0|3" for a cut past every segment);
      for elf and heap, the exit codes allowed when the man page pins them
      down ("3"), "warn" when a successful run must print a warning (a gc
      list is broken), "warn-size" when it must warn of an implausible
      length or capacity, or "-" (any documented code).  SPEC says how to make the
      damaged core from CORE (see apply).  The first line is
          # referrers 0x...
      an intact tracked object (never damaged) for `referrers ADDR`.
      OBJECTS.jsonl is `pyleak-core objects --format=jsonl CORE` and
      LAYOUT.txt `pyleak-core info --layout CORE` of the intact core.
      Same CORE, files and SEED: the same plan.
  damage.py apply CORE OUT SPEC
      Copy CORE to OUT and apply SPEC: operations separated by ';',
          T<n>              truncate to n bytes
          W<off>:<hex>      write the bytes <hex> at file offset <off> (decimal)

Standard library only; x86-64 little-endian ELF64 cores (what gdb's gcore and
the kernel write on this machine).
"""

import json
import mmap
import random
import shutil
import struct
import sys

PT_LOAD = 1
PT_NOTE = 4
NT_PRSTATUS = 1
NT_AUXV = 6
NT_FILE = 0x46494C45

TRUNC_POINTS = 30

# Pointers that point nowhere useful.  Each damage takes one at random.
WILD = [
    0xDEADBEEFDEADBEEF,     # non-canonical
    0x00007FFFFFFF0000,     # canonical, (almost surely) unmapped
    0x0000000000000008,     # near NULL
    0xFFFFFFFFFFFFFFF8,     # wraps on + 8
    0x0000100000000000,     # canonical, unmapped
]

HUGE = [1 << 60, (1 << 63) - 1, 1 << 62, 0xFFFFFFFFFFFFFFFF]


def fail(msg):
    sys.stderr.write("damage.py: %s\n" % msg)
    sys.exit(2)


def hexq(v):
    return struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF).hex()


class Core:
    """The ELF header, program headers and notes of a core, and its memory."""

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            self.data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        d = self.data
        if len(d) < 64 or d[:4] != b"\x7fELF" or d[4] != 2 or d[5] != 1:
            fail("%s: not a little-endian ELF64 file" % path)
        (self.e_type, self.e_machine, _ver, _entry, self.e_phoff, self.e_shoff,
         _flags, _ehsize, self.e_phentsize, self.e_phnum, self.e_shentsize,
         self.e_shnum, _shstrndx) = struct.unpack_from("<HHIQQQIHHHHHH", d, 16)
        self.size = len(d)
        self.phdrs = []
        for i in range(self.e_phnum):
            off = self.e_phoff + i * self.e_phentsize
            p_type, p_flags, p_offset, p_vaddr, _pa, p_filesz, p_memsz, _al = \
                struct.unpack_from("<IIQQQQQQ", d, off)
            self.phdrs.append(dict(index=i, hdr_off=off, type=p_type, offset=p_offset,
                                   vaddr=p_vaddr, filesz=p_filesz, memsz=p_memsz))
        self.loads = sorted((p for p in self.phdrs if p["type"] == PT_LOAD and p["filesz"]),
                            key=lambda p: p["vaddr"])
        self.notes = []
        for p in self.phdrs:
            if p["type"] != PT_NOTE:
                continue
            pos, end = p["offset"], p["offset"] + p["filesz"]
            while pos + 12 <= end:
                namesz, descsz, ntype = struct.unpack_from("<III", d, pos)
                name_off = pos + 12
                desc_off = name_off + ((namesz + 3) & ~3)
                nxt = desc_off + ((descsz + 3) & ~3)
                if nxt > end:
                    break
                self.notes.append(dict(off=pos, namesz=namesz, descsz=descsz, type=ntype,
                                       name=bytes(d[name_off:name_off + namesz]).rstrip(b"\0"),
                                       name_off=name_off, desc_off=desc_off))
                pos = nxt
        self.data_end = max([p["offset"] + p["filesz"] for p in self.phdrs if p["filesz"]] +
                            [self.e_phoff + self.e_phnum * self.e_phentsize])

    def off(self, addr, n=8):
        """File offset of [addr, addr+n) if one PT_LOAD holds all of it."""
        for p in self.loads:
            if p["vaddr"] <= addr and addr + n <= p["vaddr"] + p["filesz"]:
                return p["offset"] + addr - p["vaddr"]
        return None

    def word(self, addr):
        o = self.off(addr)
        if o is None:
            return None
        return struct.unpack_from("<Q", self.data, o)[0]

    def byte(self, addr):
        o = self.off(addr, 1)
        return None if o is None else self.data[o]

    def load_of(self, addr):
        for p in self.loads:
            if p["vaddr"] <= addr < p["vaddr"] + p["filesz"]:
                return p
        return None


def read_layout(path):
    lay = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2:
                try:
                    lay[parts[0]] = int(parts[1].split(":")[0])
                except ValueError:
                    pass
    return lay


def read_objects(path):
    objs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                o = json.loads(line)
                o["a"] = int(o["addr"], 16)
                objs.append(o)
    return objs


class Planner:
    def __init__(self, core, objs, lay, seed):
        self.c = core
        self.lay = lay
        self.rng = random.Random(seed)
        self.objs = objs
        self.by_addr = {o["a"]: o for o in objs}
        self.gc = [o for o in objs if o.get("tracked") and o.get("gen") in (0, 1, 2)
                   and core.off(o["a"] - 16, 16 + 24) is not None]
        self.gcset = {o["a"] for o in self.gc}
        self.used = set()
        self.cases = []
        # the object `referrers` asks about: an intact list held by a global
        lists = [o for o in self.gc if o["type"] == "builtins.list" and o.get("ext_refs", 0) == 0]
        self.keep = (lists or self.gc)[0]["a"] if (lists or self.gc) else 0
        self.used.add(self.keep)

    # ---------------------------------------------------------------- helpers

    def L(self, name, default):
        v = self.lay.get(name, -1)
        return default if v is None or v < 0 else v

    def add(self, group, name, expect, ops):
        self.cases.append((group, name, expect, ";".join(ops)))

    def w(self, addr, value):
        o = self.c.off(addr)
        if o is None:
            raise LookupError("0x%x not in the core" % addr)
        return "W%d:%s" % (o, hexq(value))

    def wb(self, off, raw):
        return "W%d:%s" % (off, raw.hex())

    def wild(self):
        return self.rng.choice(WILD)

    def pick(self, n, pred=lambda o: True, fresh=True):
        pool = [o for o in self.gc if pred(o) and (not fresh or o["a"] not in self.used)]
        got = self.rng.sample(pool, min(n, len(pool)))
        for o in got:
            self.used.add(o["a"])
        return got

    def of_type(self, t):
        return lambda o: o["type"] == t

    def gc_ok(self, o):
        """The 16 bytes before o are its PyGC_Head: both links lead to
        tracked objects (interior node of a generation list)."""
        a = o["a"]
        nxt, prv = self.c.word(a - 16), self.c.word(a - 8)
        return (nxt is not None and prv is not None and nxt + 16 in self.gcset
                and (prv & ~3) + 16 in self.gcset)

    def heap_case(self, name, fn, expect="-"):
        try:
            ops = fn()
        except LookupError:
            ops = []
        if ops:
            self.add("heap", name, expect, ops)

    # ------------------------------------------------------------ truncation

    def truncation(self):
        c = self.c
        pts = {}

        def at(label, n):
            if 0 < n < c.size and n not in pts.values():
                pts[label] = n
        at("in e_ident", 5)
        at("in the ELF header", 40)
        at("at the end of the ELF header", 64)
        k = c.e_phentsize or 56
        at("in program header 0", c.e_phoff + 20)
        at("in program header %d" % (c.e_phnum // 2), c.e_phoff + (c.e_phnum // 2) * k + 37)
        at("in the last program header", c.e_phoff + (c.e_phnum - 1) * k + 8)
        at("after the program headers", c.e_phoff + c.e_phnum * k)
        for n in c.notes[:1]:
            at("in the first note header", n["off"] + 6)
            at("in the first note name", n["name_off"] + 2)
        for n in c.notes:
            if n["type"] == NT_PRSTATUS:
                at("in NT_PRSTATUS", n["desc_off"] + n["descsz"] // 2)
                break
        for n in c.notes:
            if n["type"] == NT_FILE:
                at("in NT_FILE count", n["desc_off"] + 4)
                at("in NT_FILE entries", n["desc_off"] + 16 + 24 * 3 + 5)
                at("in NT_FILE file names", n["desc_off"] + n["descsz"] - 9)
                break
        notes = [p for p in c.phdrs if p["type"] == PT_NOTE]
        if notes:
            at("at the last byte of the notes", notes[0]["offset"] + notes[0]["filesz"] - 1)
        # the segment holding most tracked objects, and the one holding _PyRuntime-ish data
        counts = {}
        for o in self.gc:
            p = c.load_of(o["a"])
            if p:
                counts[p["index"]] = counts.get(p["index"], 0) + 1
        if counts:
            heap = c.phdrs[max(counts, key=counts.get)]
            at("in the busiest heap segment, first word", heap["offset"] + 3)
            at("in the middle of the busiest heap segment", heap["offset"] + heap["filesz"] // 2)
            at("at the end of the busiest heap segment", heap["offset"] + heap["filesz"] - 8)
        if c.loads:
            first = min(p["offset"] for p in c.loads)
            at("in the first PT_LOAD", first + 100)
        if c.data_end < c.size:
            at("past every segment (section headers)", c.data_end + 10)
        at("one byte short", c.size - 1)
        # the rest: spread evenly over the file, jittered
        spread = TRUNC_POINTS - len(pts)
        for i in range(max(spread, 0)):
            lo = c.size * i // max(spread, 1)
            hi = c.size * (i + 1) // max(spread, 1)
            at("at %d/%d of the file" % (i + 1, spread), self.rng.randrange(max(lo, 1), max(hi, 2)))
        for label, n in sorted(pts.items(), key=lambda kv: kv[1]):
            expect = "3" if n < c.data_end else "0|3"
            self.add("trunc", "truncated %s (%d of %d bytes)" % (label, n, c.size), expect,
                     ["T%d" % n])

    # ------------------------------------------------- ELF header, phdrs, notes

    def elf(self):
        c, rng = self.c, self.rng
        add = self.add
        ph = c.e_phoff

        def eh(field_off, fmt, value):
            return self.wb(field_off, struct.pack(fmt, value))
        # the program header table cannot be read: "cannot be read" (3)
        add("elf", "e_phnum = 0", "3", [eh(56, "<H", 0)])
        # PN_XNUM: the real count is section 0's sh_info (0 in gcore's cores)
        sh_info = None
        if c.e_shnum and c.e_shoff + 64 <= c.size:
            sh_info = struct.unpack_from("<I", c.data, c.e_shoff + 44)[0]
        add("elf", "e_phnum = 0xffff (PN_XNUM, section 0 sh_info %s)" % sh_info,
            "3" if not sh_info or sh_info != c.e_phnum else "-", [eh(56, "<H", 0xFFFF)])
        add("elf", "e_phnum = 60000", "3", [eh(56, "<H", 60000)])
        add("elf", "e_phoff = 2^63", "3", [eh(32, "<Q", 1 << 63)])
        add("elf", "e_phoff = 2^64-8 (offset + size wraps)", "3", [eh(32, "<Q", (1 << 64) - 8)])
        add("elf", "e_phoff = file size - 30", "3", [eh(32, "<Q", c.size - 30)])
        add("elf", "e_phentsize = 0", "3", [eh(54, "<H", 0)])
        add("elf", "e_phentsize = 0xffff", "3", [eh(54, "<H", 0xFFFF)])
        add("elf", "e_machine = RISC-V (unsupported machine)", "3", [eh(18, "<H", 243)])
        add("elf", "e_ident class = ELFCLASS32", "3", [self.wb(4, b"\x01")])
        add("elf", "e_type = ET_EXEC (not a core)", "3", [eh(16, "<H", 2)])
        # scrambled program header entries
        for n in (1, 3):
            idx = sorted(rng.sample(range(c.e_phnum), n))
            ops = [self.wb(ph + i * c.e_phentsize, bytes(rng.getrandbits(8) for _ in range(56)))
                   for i in idx]
            add("elf", "program headers %s filled with random bytes" % ",".join(map(str, idx)),
                "-", ops)
        counts = {}
        for o in self.gc:
            p = c.load_of(o["a"])
            if p:
                counts[p["index"]] = counts.get(p["index"], 0) + 1
        if counts:
            hp = c.phdrs[max(counts, key=counts.get)]
            base = hp["hdr_off"]
            add("elf", "heap PT_LOAD p_filesz = 2^62", "-", [eh(base + 32, "<Q", 1 << 62)])
            add("elf", "heap PT_LOAD p_offset = 2^63", "-", [eh(base + 8, "<Q", 1 << 63)])
            add("elf", "heap PT_LOAD p_offset + p_filesz wraps", "-",
                [eh(base + 8, "<Q", (1 << 64) - 4096)])
            add("elf", "heap PT_LOAD p_memsz < p_filesz", "-", [eh(base + 40, "<Q", 8)])
            other = [p for p in c.loads if p is not hp]
            if other:
                o = rng.choice(other)
                add("elf", "heap PT_LOAD p_vaddr overlaps another PT_LOAD", "-",
                    [eh(base + 16, "<Q", o["vaddr"] + 8)])
            add("elf", "heap PT_LOAD p_type = PT_NULL", "-", [eh(base, "<I", 0)])
        for p in c.phdrs:
            if p["type"] == PT_NOTE:
                base = p["hdr_off"]
                add("elf", "PT_NOTE p_filesz = 2^62", "-", [eh(base + 32, "<Q", 1 << 62)])
                add("elf", "PT_NOTE p_offset = file size - 8", "-", [eh(base + 8, "<Q", c.size - 8)])
                seg = p
                break
        else:
            seg = None
        # notes
        if c.notes:
            n0 = c.notes[0]
            add("elf", "first note namesz = 0xffffffff", "-", [eh(n0["off"], "<I", 0xFFFFFFFF)])
            add("elf", "first note descsz = 0xfffffff0", "-", [eh(n0["off"] + 4, "<I", 0xFFFFFFF0)])
        for n in c.notes:
            if n["type"] == NT_PRSTATUS:
                add("elf", "NT_PRSTATUS descsz = 4", "-", [eh(n["off"] + 4, "<I", 4)])
                break
        for n in c.notes:
            if n["type"] == NT_AUXV:
                raw = bytes(rng.getrandbits(8) for _ in range(min(n["descsz"], 128)))
                add("elf", "NT_AUXV scrambled", "-", [self.wb(n["desc_off"], raw)])
                break
        for n in c.notes:
            if n["type"] != NT_FILE:
                continue
            d = n["desc_off"]
            count = struct.unpack_from("<Q", c.data, d)[0]
            add("elf", "NT_FILE count = 2^60", "-", [eh(d, "<Q", 1 << 60)])
            add("elf", "NT_FILE count = 2^58+1 (count*24 wraps)", "-",
                [eh(d, "<Q", (1 << 64) // 24 + 1)])
            add("elf", "NT_FILE page_size = 0", "-", [eh(d + 8, "<Q", 0)])
            add("elf", "NT_FILE page_size = 2^63", "-", [eh(d + 8, "<Q", 1 << 63)])
            ops = []
            for i in rng.sample(range(count), min(4, count)):
                e = d + 16 + 24 * i
                ops += [eh(e, "<Q", rng.getrandbits(64)), eh(e + 8, "<Q", rng.getrandbits(64)),
                        eh(e + 16, "<Q", HUGE[rng.randrange(len(HUGE))])]
            add("elf", "NT_FILE 4 entries with random start/end/offset", "-", ops)
            names = d + 16 + 24 * count
            nb = bytes(c.data[names:d + n["descsz"]])
            add("elf", "NT_FILE names without NUL terminators", "-",
                [self.wb(names, nb.replace(b"\0", b"A"))])
            add("elf", "NT_FILE type changed to NT_PRSTATUS", "-", [eh(n["off"] + 8, "<I", NT_PRSTATUS)])
            break
        if seg and seg["filesz"] > 256:
            ops = []
            for _ in range(3):
                at = seg["offset"] + rng.randrange(seg["filesz"] - 64)
                ops.append(self.wb(at, bytes(rng.getrandbits(8) for _ in range(64))))
            add("elf", "note segment: 3 runs of 64 random bytes", "-", ops)
            add("elf", "note segment all 0xff", "-", [self.wb(seg["offset"], b"\xff" * seg["filesz"])])

    # ------------------------------------------------------------------- heap

    def heap(self):
        c, rng = self.c, self.rng
        L = self.L
        ob_refcnt, ob_type, ob_size = L("ob_refcnt", 0), L("ob_type", 8), L("ob_size", 16)
        list_items, list_alloc = L("list_items", 24), L("list_allocated", 32)
        tuple_items = L("tuple_items", 24)
        dict_used, dict_keys, dict_values = L("dict_used", 16), L("dict_keys", 32), L("dict_values", 40)
        is_list, is_tuple, is_dict = (self.of_type("builtins.list"), self.of_type("builtins.tuple"),
                                      self.of_type("builtins.dict"))

        def nonempty_list(o):
            return is_list(o) and (c.word(o["a"] + ob_size) or 0) > 0 and \
                c.word(o["a"] + list_items) is not None and \
                c.off(c.word(o["a"] + list_items)) is not None

        def nonempty_tuple(o):
            return is_tuple(o) and 0 < (c.word(o["a"] + ob_size) or 0) < 1000

        def plain_dict(o):
            if not is_dict(o) or c.word(o["a"] + dict_values) != 0:
                return False
            k = c.word(o["a"] + dict_keys)
            return k is not None and c.off(k, 48) is not None and (c.word(o["a"] + dict_used) or 0) > 0

        def each(objs, fn):
            ops = []
            for o in objs:
                ops += fn(o)
            if not objs:
                raise LookupError("no object")
            return ops

        H = self.heap_case
        W = self.w
        types = [o for o in self.objs if o["type"] == "builtins.type" or o["type"].endswith("Meta")]
        H("ob_type = wild pointer (5 objects)",
          lambda: each(self.pick(5), lambda o: [W(o["a"] + ob_type, self.wild())]))
        H("ob_type = the object itself (5 objects)",
          lambda: each(self.pick(5), lambda o: [W(o["a"] + ob_type, o["a"])]))
        H("ob_type = NULL (5 objects)",
          lambda: each(self.pick(5), lambda o: [W(o["a"] + ob_type, 0)]))
        H("ob_type = a list, not a type (5 objects)",
          lambda: each(self.pick(5), lambda o: [W(o["a"] + ob_type, self.keep)]))
        H("ob_type = real type + 3 (misaligned, 5 objects)",
          lambda: each(self.pick(5), lambda o: [W(o["a"] + ob_type, int(o["type_addr"], 16) + 3)]))
        H("ob_type of every tracked object in 1 of 50 = wild",
          lambda: each(self.pick(len(self.gc) // 50), lambda o: [W(o["a"] + ob_type, self.wild())]))
        H("ob_refcnt = 2^62 (20 objects)",
          lambda: each(self.pick(20), lambda o: [W(o["a"] + ob_refcnt, 1 << 62)]))
        H("ob_refcnt = -1 (20 objects)",
          lambda: each(self.pick(20), lambda o: [W(o["a"] + ob_refcnt, -1)]))
        H("ob_refcnt = -2^63 (20 objects)",
          lambda: each(self.pick(20), lambda o: [W(o["a"] + ob_refcnt, 1 << 63)]))
        H("ob_refcnt = 0 (20 objects)",
          lambda: each(self.pick(20), lambda o: [W(o["a"] + ob_refcnt, 0)]))
        # lists
        H("list ob_size = 2^60 (3 lists)",
          lambda: each(self.pick(3, nonempty_list), lambda o: [W(o["a"] + ob_size, 1 << 60)]))
        H("list ob_size = -1 (3 lists)",
          lambda: each(self.pick(3, nonempty_list), lambda o: [W(o["a"] + ob_size, -1)]))
        H("list ob_size = 2^61, allocated = 2^61 (3 lists)",
          lambda: each(self.pick(3, nonempty_list),
                       lambda o: [W(o["a"] + ob_size, 1 << 61), W(o["a"] + list_alloc, 1 << 61)]),
          "warn-size")
        H("list allocated = 2^62 (size x 8 wraps, 3 lists)",
          lambda: each(self.pick(3, nonempty_list), lambda o: [W(o["a"] + list_alloc, 1 << 62)]),
          "warn-size")
        H("list allocated = -1 (3 lists)",
          lambda: each(self.pick(3, nonempty_list), lambda o: [W(o["a"] + list_alloc, -1)]),
          "warn-size")
        H("list ob_item = wild pointer (3 lists)",
          lambda: each(self.pick(3, nonempty_list), lambda o: [W(o["a"] + list_items, self.wild())]))
        H("list ob_item = the list itself (3 lists)",
          lambda: each(self.pick(3, nonempty_list), lambda o: [W(o["a"] + list_items, o["a"])]))
        H("list items = wild pointers (3 lists)",
          lambda: each(self.pick(3, nonempty_list),
                       lambda o: [W(c.word(o["a"] + list_items) + 8 * i, self.wild())
                                  for i in range(min(3, c.word(o["a"] + ob_size)))]))
        H("list contains itself (3 lists, item 0)",
          lambda: each(self.pick(3, nonempty_list),
                       lambda o: [W(c.word(o["a"] + list_items), o["a"])]))

        def pair():
            a, b = self.pick(2, nonempty_list)
            return [W(c.word(a["a"] + list_items), b["a"]), W(c.word(b["a"] + list_items), a["a"])]
        H("two lists contain each other", lambda: pair() if len(
            [o for o in self.gc if nonempty_list(o) and o["a"] not in self.used]) >= 2 else [])
        # tuples
        H("tuple ob_size = 2^60 (3 tuples)",
          lambda: each(self.pick(3, nonempty_tuple), lambda o: [W(o["a"] + ob_size, 1 << 60)]),
          "warn-size")
        H("tuple ob_size = -1 (3 tuples)",
          lambda: each(self.pick(3, nonempty_tuple), lambda o: [W(o["a"] + ob_size, -1)]))
        H("tuple contains itself (3 tuples, item 0)",
          lambda: each(self.pick(3, nonempty_tuple), lambda o: [W(o["a"] + tuple_items, o["a"])]))
        H("tuple items = wild pointers (3 tuples)",
          lambda: each(self.pick(3, nonempty_tuple), lambda o: [W(o["a"] + tuple_items, self.wild())]))
        # dicts
        H("dict ma_used = 2^60 (3 dicts)",
          lambda: each(self.pick(3, plain_dict), lambda o: [W(o["a"] + dict_used, 1 << 60)]))
        H("dict ma_used = -1 (3 dicts)",
          lambda: each(self.pick(3, plain_dict), lambda o: [W(o["a"] + dict_used, -1)]))
        H("dict ma_keys = wild pointer (3 dicts)",
          lambda: each(self.pick(3, plain_dict), lambda o: [W(o["a"] + dict_keys, self.wild())]))
        H("dict ma_keys = the dict itself (3 dicts)",
          lambda: each(self.pick(3, plain_dict), lambda o: [W(o["a"] + dict_keys, o["a"])]))
        H("dict ma_values = wild pointer (3 dicts)",
          lambda: each(self.pick(3, plain_dict), lambda o: [W(o["a"] + dict_values, self.wild())]))
        H("dict keys dk_nentries = 2^60 (3 dicts)",
          lambda: each(self.pick(3, plain_dict),
                       lambda o: [W(c.word(o["a"] + dict_keys) + L("dk_nentries", 24), 1 << 60)]))

        def dk_size(o):
            k = c.word(o["a"] + dict_keys)
            if self.lay.get("dk_log2_size", -1) >= 0:
                o1 = c.off(k + self.lay["dk_log2_size"], 2)
                return ["W%d:%s" % (o1, bytes([63, 66]).hex())]   # log2 size, log2 index bytes
            return [W(k + L("dk_size", 8), 1 << 60)]
        H("dict keys table size = 2^60 / log2 size = 63 (3 dicts)",
          lambda: each(self.pick(3, plain_dict), dk_size))

        def dict_self(o):
            """Set the value of the first used entry to the dict itself."""
            a = o["a"]
            k = c.word(a + dict_keys)
            if self.lay.get("dk_log2_size", -1) >= 0:          # 3.11+
                log2 = c.byte(k + self.lay["dk_log2_size"])
                ib = c.byte(k + self.lay["dk_log2_index_bytes"])
                kind = c.byte(k + self.lay["dk_kind"])
                size, ibytes = 1 << log2, 1 << ib
                entries = k + L("dk_indices", 32) + ibytes
                esz, vo = ((L("sizeof_du_entry", 16), L("due_value", 8)) if kind
                           else (L("sizeof_dk_entry", 24), L("dke_value", 16)))
                ko = L("due_key", 0) if kind else L("dke_key", 8)
            else:
                size = c.word(k + L("dk_size", 8))
                isz = 1 if size <= 0xFF else 2 if size <= 0xFFFF else 4 if size <= 0xFFFFFFFF else 8
                entries = k + L("dk_indices", 40) + size * isz
                esz, vo, ko = L("sizeof_dk_entry", 24), L("dke_value", 16), L("dke_key", 8)
            n = c.word(k + L("dk_nentries", 24))
            for i in range(min(n or 0, size)):
                e = entries + i * esz
                if c.word(e + ko) and c.word(e + vo):
                    return [W(e + vo, a)]
            raise LookupError("empty dict")
        H("dict contains itself as a value (3 dicts)",
          lambda: each(self.pick(3, plain_dict), dict_self))

        # gc list links: the 16 bytes before the object (PyGC_Head)
        def links(n, fn):
            return each(self.pick(n, self.gc_ok), fn)
        H("_gc_next = wild pointer (3 objects)",
          lambda: links(3, lambda o: [W(o["a"] - 16, self.wild())]), "warn")
        H("_gc_next = NULL (1 object)",
          lambda: links(1, lambda o: [W(o["a"] - 16, 0)]), "warn")
        H("_gc_next = its own PyGC_Head (1 object)",
          lambda: links(1, lambda o: [W(o["a"] - 16, o["a"] - 16)]), "warn")
        H("_gc_next = middle of the next object (misaligned, 1 object)",
          lambda: links(1, lambda o: [W(o["a"] - 16, c.word(o["a"] - 16) + 12)]), "warn")
        H("_gc_prev = wild pointer (3 objects)",
          lambda: links(3, lambda o: [W(o["a"] - 8, self.wild())]))

        def back_link(steps):
            """Walk `steps` nodes on from a node A and point that node's
            _gc_next back at A: a ring that never returns to the head."""
            for _ in range(50):
                a = self.pick(1, self.gc_ok)[0]
                cur, ok = a["a"], True
                for _ in range(steps):
                    nxt = c.word(cur - 16)
                    if nxt is None or nxt + 16 not in self.gcset:
                        ok = False
                        break
                    cur = nxt + 16
                if ok:
                    self.used.add(cur)
                    return [W(cur - 16, a["a"] - 16)]
            raise LookupError("no long enough run")
        H("gc list cycle: node 40 on points back at node 0 (no way back to the head)",
          lambda: back_link(40), "warn")
        H("gc list cycle: node 1 points back at node 0",
          lambda: back_link(1), "warn")
        H("gc list cycle: node 2000 on points back at node 0",
          lambda: back_link(2000), "warn")

        def two_lists():
            """A node X of generation 2 and a node Y of another generation
            linked to each other (X._gc_next = Y, Y._gc_prev = X, Y's flag
            bits kept): Y is on both lists, and each list's own links still
            agree where they were written; the break is at Y's old
            predecessor, whose _gc_next still points at Y."""
            for other in (0, 1):
                xs = self.pick(1, lambda o: o.get("gen") == 2 and self.gc_ok(o))
                ys = self.pick(1, lambda o: o.get("gen") == other and self.gc_ok(o))
                if xs and ys:
                    x, y = xs[0]["a"] - 16, ys[0]["a"] - 16
                    return [W(x, y), W(y + 8, x | (c.word(y + 8) & 3))]
            raise LookupError("no two generations")
        H("one object on two lists (a generation 2 node and a younger one linked both ways)",
          two_lists, "warn")

        # generation heads: follow _gc_next from a tracked object until it leaves the objects
        def heads():
            found = []
            for gen in (0, 2):
                objs = [o for o in self.gc if o.get("gen") == gen and self.gc_ok(o)]
                if not objs:
                    continue
                cur = objs[0]["a"] - 16
                for _ in range(len(self.gc) + 2):
                    nxt = c.word(cur)
                    if nxt is None:
                        break
                    if nxt + 16 not in self.gcset:
                        found.append(nxt)
                        break
                    cur = nxt
            return found

        hs = heads()
        if hs:
            H("generation head _gc_next = wild pointer",
              lambda: [W(hs[0], self.wild())], "warn")
            # the ring does not close: head._gc_prev is not the last node
            H("generation head _gc_next = the head itself (_gc_prev left)",
              lambda: [W(hs[0], hs[0])], "warn")
            H("generation head _gc_prev = wild pointer",
              lambda: [W(hs[-1] + 8, self.wild())], "warn")
            if len(hs) > 1:
                H("generation 2 head _gc_next = generation 0 head (lists cross)",
                  lambda: [W(hs[1], hs[0])])
        # type objects
        tlist = [o for o in self.objs if o["type"] == "builtins.list"]
        list_type = int(tlist[0]["type_addr"], 16) if tlist else 0
        node_types = [o for o in types if o.get("tracked") and c.off(o["a"] + 400) is not None]
        if list_type and c.off(list_type + 400) is not None:
            H("builtins.list type: tp_basicsize = 2^60",
              lambda: [W(list_type + L("tp_basicsize", 32), 1 << 60)])
            H("builtins.list type: tp_itemsize = 2^60",
              lambda: [W(list_type + L("tp_itemsize", 40), 1 << 60)])
            H("builtins.list type: tp_name = wild, tp_flags = ~0",
              lambda: [W(list_type + L("tp_name", 24), self.wild()),
                       W(list_type + L("tp_flags", 168), (1 << 64) - 1)])
            H("builtins.list type: tp_traverse = wild, tp_mro = wild",
              lambda: [W(list_type + L("tp_traverse", 184), self.wild()),
                       W(list_type + L("tp_mro", 344), self.wild())])
            H("builtins.list type: ob_type = itself",
              lambda: [W(list_type + ob_type, list_type)])
        if node_types:
            H("heap types: tp_basicsize = -1, tp_dictoffset = 2^60 (3 types)",
              lambda: each(self.rng.sample(node_types, min(3, len(node_types))),
                           lambda o: [W(o["a"] + L("tp_basicsize", 32), -1),
                                      W(o["a"] + L("tp_dictoffset", 288), 1 << 60)]))
            H("heap types: tp_mro, tp_bases, ht_qualname = wild (3 types)",
              lambda: each(self.rng.sample(node_types, min(3, len(node_types))),
                           lambda o: [W(o["a"] + L("tp_mro", 344), self.wild()),
                                      W(o["a"] + L("tp_bases", 336), self.wild()),
                                      W(o["a"] + L("ht_qualname", 872), self.wild())]))

        # word soup: random words inside tracked objects
        def soup(n, seed):
            r = random.Random(seed)
            pool = [o for o in self.gc if o["a"] not in self.used]
            addrs = [o["a"] for o in self.gc]
            ops = []
            for o in r.sample(pool, min(n, len(pool))):
                size = max(16, min(int(o.get("size", 16)) - 16, 512))
                at = o["a"] + 8 * r.randrange(size // 8)
                kind = r.randrange(4)
                v = (o["a"] if kind == 0 else r.choice(addrs) if kind == 1
                     else r.choice(WILD) if kind == 2 else r.choice(HUGE))
                try:
                    ops.append(W(at, v))
                except LookupError:
                    pass
            return ops
        for i in range(2):
            s = rng.getrandbits(32)
            H("300 words in tracked objects = self/other/wild/huge (soup seed %d)" % s,
              lambda s=s: soup(300, s))
        # whole pages
        counts = {}
        for o in self.gc:
            p = c.load_of(o["a"])
            if p:
                counts[p["index"]] = counts.get(p["index"], 0) + 1
        if counts:
            hp = c.phdrs[max(counts, key=counts.get)]
            pages = hp["filesz"] // 4096
            pg = rng.randrange(pages)
            self.add("heap", "heap page %d of %d zeroed" % (pg, pages), "-",
                     [self.wb(hp["offset"] + pg * 4096, b"\0" * 4096)])
            pg = rng.randrange(pages)
            self.add("heap", "heap page %d of %d filled with 0xff" % (pg, pages), "-",
                     [self.wb(hp["offset"] + pg * 4096, b"\xff" * 4096)])


def plan(argv):
    if len(argv) not in (3, 4):
        fail("usage: damage.py plan CORE OBJECTS.jsonl LAYOUT.txt [SEED]")
    core = Core(argv[0])
    objs = read_objects(argv[1])
    lay = read_layout(argv[2])
    seed = int(argv[3]) if len(argv) == 4 else 1
    if not objs:
        fail("%s: no objects" % argv[1])
    p = Planner(core, objs, lay, seed)
    p.truncation()
    p.elf()
    p.heap()
    out = sys.stdout
    out.write("# referrers 0x%x\n" % p.keep)
    for group, name, expect, spec in p.cases:
        out.write("%s\t%s\t%s\t%s\n" % (group, name, expect, spec))


def apply(argv):
    if len(argv) != 3:
        fail("usage: damage.py apply CORE OUT SPEC")
    src, dst, spec = argv
    shutil.copyfile(src, dst)
    with open(dst, "r+b") as f:
        for op in spec.split(";"):
            if not op:
                continue
            if op[0] == "T":
                f.truncate(int(op[1:]))
            elif op[0] == "W":
                off, raw = op[1:].split(":", 1)
                f.seek(int(off))
                f.write(bytes.fromhex(raw))
            else:
                fail("bad operation %r" % op)


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("plan", "apply"):
        fail("usage: damage.py plan|apply ...  (see the docstring)")
    (plan if sys.argv[1] == "plan" else apply)(sys.argv[2:])


if __name__ == "__main__":
    main()
