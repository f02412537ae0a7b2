#!/usr/bin/env python3
"""Write the seed corpora under fuzz/corpus/ (small files, committed).

The ELF cores are crafted by hand with struct, from the kernel's layouts, so
that the seeds do not depend on the parser they feed. Run from anywhere:
    python3 fuzz/mkseeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
EM_X86_64, EM_AARCH64 = 62, 183
PT_LOAD, PT_NOTE = 1, 4
NT_PRSTATUS, NT_PRPSINFO, NT_AUXV, NT_SIGINFO, NT_FILE = 1, 3, 6, 0x53494749, 0x46494c45
PF_R, PF_W, PF_X = 4, 2, 1


def note(name, ntype, desc):
    nb = name.encode() + b"\0" if name is not None else b""
    out = struct.pack("<III", len(nb), len(desc), ntype)
    out += nb + b"\0" * (-len(nb) % 4)
    out += desc + b"\0" * (-len(desc) % 4)
    return out


def prstatus(size, sig, pid, regs):
    d = bytearray(size)
    struct.pack_into("<h", d, 12, sig)
    struct.pack_into("<i", d, 32, pid)
    for i, r in enumerate(regs):
        if 112 + 8 * i + 8 <= size:
            struct.pack_into("<Q", d, 112 + 8 * i, r)
    return bytes(d)


def prpsinfo(pid, fname, args):
    d = bytearray(136)
    struct.pack_into("<Iii", d, 16, 1000, pid, 1)
    d[40:40 + len(fname)] = fname[:16]
    d[56:56 + len(args)] = args[:80]
    return bytes(d)


def siginfo(signo, addr):
    d = bytearray(128)
    struct.pack_into("<iiiiQ", d, 0, signo, 0, 1, 0, addr)
    return bytes(d)


def nt_file(entries, page=4096):
    out = struct.pack("<QQ", len(entries), page)
    for start, end, pgoff, _ in entries:
        out += struct.pack("<QQQ", start, end, pgoff)
    for *_, name in entries:
        out += name.encode() + b"\0"
    return out


def auxv(pairs):
    return b"".join(struct.pack("<QQ", t, v) for t, v in pairs + [(0, 0)])


def core(phdrs, machine=EM_X86_64, phnum=None, shdr_count=None, cut=None):
    """phdrs: list of (type, flags, vaddr, memsz, data, filesz or None)."""
    n = len(phdrs)
    off = 64 + 56 * n
    body = b""
    table = b""
    for ptype, flags, vaddr, memsz, data, filesz in phdrs:
        off16 = (off + 15) & ~15
        body += b"\0" * (off16 - off)
        off = off16
        fs = len(data) if filesz is None else filesz
        table += struct.pack("<IIQQQQQQ", ptype, flags, off, vaddr, 0, fs, memsz, 4096 if ptype == PT_LOAD else 4)
        body += data
        off += len(data)
    shoff = 0
    shdrs = b""
    if shdr_count is not None:   # PN_XNUM: the real count in section 0's sh_info
        shoff = off
        shdrs = struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, shdr_count, 0, 0)
    ehdr = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    ehdr += struct.pack("<HHIQQQIHHHHHH", 4, machine, 1, 0, 64 if n else 0, shoff, 0, 64, 56,
                        n if phnum is None else phnum, 64, 1 if shdrs else 0, 0)
    img = ehdr + table + body + shdrs
    return img if cut is None else img[:cut]


def notes_x86(extra_files=None):
    regs = list(range(0x1000, 0x1000 + 27))
    files = extra_files or [
        (0x400000, 0x401000, 0, "/usr/bin/python3.11"),
        (0x401000, 0x403000, 1, "/usr/bin/python3.11"),
        (0x7f0000000000, 0x7f0000002000, 0, "/usr/lib/x86_64-linux-gnu/libc.so.6"),
    ]
    return (note("CORE", NT_PRSTATUS, prstatus(336, 11, 4242, regs)) +
            note("CORE", NT_PRSTATUS, prstatus(336, 0, 4243, regs)) +
            note("CORE", NT_PRPSINFO, prpsinfo(4242, b"python3", b"python3 leak.py")) +
            note("CORE", NT_SIGINFO, siginfo(11, 0xdeadbeef)) +
            note("CORE", NT_AUXV, auxv([(9, 0x401040), (6, 4096), (3, 0x400040)])) +
            note("CORE", NT_FILE, nt_file(files)) +
            note("LINUX", 0x202, b"\0" * 16))


def data(n, seed=1):
    return bytes(((i * 131) ^ (i >> 8) ^ seed) & 0xff for i in range(n))


def write(target, name, blob):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(blob)


def elfcore_seeds():
    nt = notes_x86()
    load = (PT_LOAD, PF_R | PF_W, 0x7f0000010000, 256, data(256), None)
    write("fuzz_elfcore", "x86_64-minimal", core([(PT_NOTE, 0, 0, 0, nt, None), load]))
    regs = list(range(0x2000, 0x2000 + 34))
    nt64 = (note("CORE", NT_PRSTATUS, prstatus(392, 6, 77, regs)) +
            note("CORE", NT_AUXV, auxv([(9, 0x5555)])) +
            note("CORE", NT_FILE, nt_file([(0x5555000, 0x5556000, 0, "/bin/python3")])))
    write("fuzz_elfcore", "aarch64", core([(PT_NOTE, 0, 0, 0, nt64, None), load], machine=EM_AARCH64))
    # memory past the end of the file: truncated
    full = core([(PT_NOTE, 0, 0, 0, nt, None), (PT_LOAD, PF_R | PF_W, 0x10000, 4096, data(512), 4096)])
    write("fuzz_elfcore", "truncated-load", full)
    # notes cut in the middle
    img = core([load, (PT_NOTE, 0, 0, 0, nt, None)])
    write("fuzz_elfcore", "notes-cut", img[:len(img) - len(nt) // 2])
    # NT_FILE whose names run off the end of the note
    files = nt_file([(0x1000, 0x2000, 0, "/a"), (0x2000, 0x3000, 1, "/b")])[:-3]
    write("fuzz_elfcore", "nt-file-cut", core([(PT_NOTE, 0, 0, 0, note("CORE", NT_FILE, files), None), load]))
    # overlapping and empty segments, memsz < filesz, a wrapping one
    segs = [(PT_NOTE, 0, 0, 0, nt, None),
            (PT_LOAD, PF_R, 0x20000, 128, data(128, 2), None),
            (PT_LOAD, PF_R | PF_W, 0x20040, 128, data(128, 3), None),
            (PT_LOAD, PF_R, 0x30000, 0, b"", None),
            (PT_LOAD, PF_R, 0x40000, 16, data(64, 4), None),
            (PT_LOAD, PF_R, 0xfffffffffffff000, 0x2000, data(32, 5), None)]
    write("fuzz_elfcore", "overlapping", core(segs))
    # PN_XNUM: the program header count lives in section header 0
    write("fuzz_elfcore", "pn-xnum", core([(PT_NOTE, 0, 0, 0, nt, None), load], phnum=0xffff, shdr_count=2))
    # damaged notes: sizes that run past the segment
    bad = struct.pack("<III", 5, 0xfffffff0, NT_PRSTATUS) + b"CORE\0\0\0\0" + b"\0" * 32
    write("fuzz_elfcore", "bad-note", core([(PT_NOTE, 0, 0, 0, bad, None), load]))
    write("fuzz_elfcore", "zstd", b"\x28\xb5\x2f\xfd" + b"\0" * 16)
    write("fuzz_elfcore", "elf32", b"\x7fELF\x01\x01\x01" + b"\0" * 45)


def addrspace_seeds():
    # op 0 add: addr(sel, off16), mode, len16, [src], [slice off16]
    def addr(sel, off):
        return bytes([sel]) + struct.pack("<H", off)

    def add(sel, off, mode, ln, extra=b""):
        return b"\0" + addr(sel, off) + bytes([mode]) + struct.pack("<H", ln) + extra

    def read(sel, off, ln, core=False):
        return bytes([2 if core else 1]) + addr(sel, off) + struct.pack("<H", ln)

    def ptr(sel, off, ln):
        return b"\3" + addr(sel, off) + bytes([ln])

    def cstr(sel, off, mx):
        return b"\5" + addr(sel, off) + struct.pack("<H", mx)

    def find(sel, off):
        return b"\6" + addr(sel, off)

    prog = (add(1, 0, 1, 64, struct.pack("<H", 0)) +          # input slice
            add(1, 32, 2, 256, struct.pack("<H", 100)) +      # pattern, overlapping
            add(1, 400, 0, 64) +                              # hole
            add(1, 600, 0x22, 128, b"\1" + struct.pack("<H", 7)) +  # file-backed pattern
            read(1, 0, 300) + read(1, 16, 8) + read(1, 600, 16, True) + read(1, 590, 40) +
            ptr(1, 8, 8) + ptr(1, 60, 16) + cstr(1, 0, 200) + cstr(1, 620, 40) +
            find(1, 70) + find(1, 420) + b"\7")
    write("fuzz_addrspace", "basic", prog)
    top = (add(4, 0xff00, 2, 0xff, struct.pack("<H", 0)) +   # up to UINT64_MAX - 0x100
           add(4, 0xffff, 0x10, 0) + struct.pack("<Q", 0) +  # zero-length at the very end
           read(4, 0xfff0, 0x20) + cstr(4, 0xffe0, 100) + ptr(4, 0xfff8, 8) + find(4, 0xfffe))
    write("fuzz_addrspace", "top-of-space", top)
    many = b"".join(add(2, 16 * i, 2, 24, struct.pack("<H", i)) for i in range(20))
    many += read(2, 0, 400) + cstr(2, 3, 600) + b"\7"
    write("fuzz_addrspace", "many-ranges", many)


def escape_seeds():
    def e(quote, ln, maxc, s):
        return bytes([quote]) + struct.pack("<H", ln) + bytes([maxc]) + s
    write("fuzz_escape", "plain", e(0, 200, 0, b"hello world"))
    write("fuzz_escape", "quotes", e(1, 100, 40, b"it's \"quoted\" \\ back\\slash\n\t\r"))
    write("fuzz_escape", "entities", e(2, 300, 0, b"&amp; &#1; &#x41; & &lt &a1; &;"))
    write("fuzz_escape", "controls", e(0, 120, 0, bytes(range(0, 32)) + b"\x7f\xc2\x80\xc2\x9f\xc2\xa0"))
    write("fuzz_escape", "bad-utf8", e(0, 500, 0, b"\xff\xfe\xc0\xaf\xe0\x80\x80\xed\xa0\x80\xed\xbf\xbf"
                                                   b"\xf4\x90\x80\x80\xe2\x82\xef\xbf\xbe\xef\xbf\xbf\xf0\x9f\x98\x80"))
    write("fuzz_escape", "cut", e(1, 10, 3, "żółw … 🐢 abcdef".encode()))
    write("fuzz_escape", "tiny", e(2, 3, 0, b"'\"\\x"))
    write("fuzz_escape", "null-src", e(0xfc, 20, 0, b"ignored"))


def heap_seeds():
    def patch(kind, where, idx, off, val):
        return bytes([kind | where << 3]) + struct.pack("<I", idx)[:3] + struct.pack("<IQ", off, val)
    write("fuzz_heap", "none-text", b"\x00")
    write("fuzz_heap", "none-json-pictures", b"\x0d")
    write("fuzz_heap", "refcnt-type", b"\x04" + patch(1, 0, 5, 16, 0xff) + patch(5, 0, 9, 24, 77))
    write("fuzz_heap", "huge-size", b"\x05" + patch(2, 0, 40, 32, 0) + patch(2, 1, 41, 40, 3))
    write("fuzz_heap", "self-loop", b"\x06" + patch(3, 0, 100, 16, 1) + patch(4, 0, 101, 24, 0x1234))
    write("fuzz_heap", "type-wild", b"\x07" + patch(6, 2, 3, 8, 0x10) + patch(0, 2, 7, 24, 0x41414141))
    write("fuzz_heap", "runtime", b"\x1c" + patch(4, 2, 0x7fffff, 0, 0x55) + patch(7, 3, 1, 12345, 0x80))
    write("fuzz_heap", "fresh-objects", b"\x11" + patch(5, 0, 300, 8, 1234) + patch(1, 1, 301, 16, 0xfe) +
          patch(6, 0, 302, 24, 0x1000))


if __name__ == "__main__":
    elfcore_seeds()
    addrspace_seeds()
    escape_seeds()
    heap_seeds()
