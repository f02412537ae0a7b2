#!/usr/bin/env bash
# The batch and comparison commands end to end, on every CPython on the
# machine (tests/pythons.sh; a missing build is a SKIP line, never silent):
#
#   diff    testdata/growth.py is dumped twice with gcore while it grows; its
#           own gc.get_objects() counts per type after each core are the
#           oracle: every type's count_delta in `diff --format=json` must equal
#           counts-2 - counts-1 exactly, and the grown containers must include
#           __main__.BUS.listeners +300 and __main__.CACHE +120 (matched by
#           address: one process).
#   stacks  --format=json parses, and names the main thread's frames.
#   triage  a batch of the two growth cores, a truncated copy, a file that is
#           not a core and (when the zstd tool exists) a zstd-compressed copy,
#           with --jobs 1 and --jobs 3: one record per core in order, the
#           broken ones as error records, the compressed one equal to the
#           plain one, a summary that groups the two growth cores, the same
#           output whatever --jobs; groups that count each signature.
#   timeout the two growth cores with --timeout 0.001: each reader is stopped
#           and gets an error record (exit 11, signature "error: timeout"),
#           the summary groups both; with --timeout 600 the records are the
#           ones triage wrote without it.
#   crash   a kernel core of testdata/crash.py (SIGSEGV in a ctypes call):
#           its record names the signal and has handle() at the crash line.
#   threads the census walks the gc lists in segments on two threads, or
#           one node at a time with PYLEAK_THREADS=1: `objects --format=jsonl`
#           (every node and edge of the graph) and `cycles --format=json` must
#           be byte for byte the same either way.
#
# Prints PASS/FAIL/SKIP lines, then "N passed, M failed"; exit 1 on a failure.

set -u

srcdir=${PYLEAK_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
builddir=${PYLEAK_BUILDDIR:-$PWD}
bin=${PYLEAK_CORE:-$builddir/pyleak-core}
[[ -x $bin ]] || { echo "SKIP test_cli: pyleak-core not built ($bin)"; exit 77; }
command -v gdb >/dev/null || { echo "SKIP test_cli: gdb not found"; exit 77; }
py3=$(command -v python3) || { echo "SKIP test_cli: python3 not found (JSON checks)"; exit 77; }

T=$(mktemp -d "${TMPDIR:-/tmp}/pyleak-cli.XXXXXX") || exit 77
pid=
cleanup() {
    [[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

npass=0
nfail=0
pass() { echo "PASS $1"; npass=$((npass + 1)); }
fail() { echo "FAIL $1: $2"; nfail=$((nfail + 1)); }

# growth PYTHON DIR: run testdata/growth.py, gcore it at each READY.
growth() {
    local python=$1 dir=$2 line n
    mkdir -p "$dir"
    coproc G { exec "$python" "$srcdir/testdata/growth.py" "$dir" 2>"$dir/stderr"; }
    pid=$G_PID
    for n in 1 2; do
        if ! read -r -t 60 line <&"${G[0]}" || [[ $line != "READY $n" ]]; then
            echo "growth.py did not reach READY $n: $(tail -1 "$dir/stderr")"
            return 1
        fi
        if ! (cd "$dir" && timeout -k 5 120 gdb -batch -nx -p "$pid" -ex "gcore core-$n") \
            >"$dir/gdb-$n.log" 2>&1 </dev/null; then
            echo "gcore failed (see $dir/gdb-$n.log)"
            return 1
        fi
        printf 'g' >&"${G[1]}"
    done
    wait "$pid"
    local st=$?
    pid=
    [[ $st -eq 0 ]] || { echo "growth.py exited with $st: $(tail -1 "$dir/stderr")"; return 1; }
}

check_diff() {
    local name=$1 python=$2 dir=$3 out
    if ! out=$("$bin" diff "$dir/core-1" "$dir/core-2" "$python" --format=json 2>"$dir/diff.err"); then
        fail "diff $name" "exit $?: $(head -1 "$dir/diff.err")"
        return
    fi
    printf '%s\n' "$out" >"$dir/diff.json"
    local why
    if why=$("$py3" - "$dir" <<'EOF'
import json, sys
d = sys.argv[1]
diff = json.load(open(d + "/diff.json"))
def counts(n):
    c = {}
    for line in open("%s/counts-%d.tsv" % (d, n)):
        k, v = line.rstrip("\n").split("\t")
        c[k] = int(v)
    return c
c1, c2 = counts(1), counts(2)
want = {k: c2.get(k, 0) - c1.get(k, 0) for k in set(c1) | set(c2)}
want = {k: v for k, v in want.items() if v}
got = {r["type"]: r["count_delta"] for r in diff["types"] if r["count_delta"]}
bad = sorted(set(want) | set(got), key=str)
bad = ["%s: pyleak-core %+d, gc %+d" % (k, got.get(k, 0), want.get(k, 0))
       for k in bad if got.get(k, 0) != want.get(k, 0)]
if bad:
    sys.exit("type deltas differ from the live gc: " + "; ".join(bad[:5]))
if want.get("__main__.Listener") != 301:
    sys.exit("oracle: expected 301 new Listener objects, gc says %s" % want.get("__main__.Listener"))
grew = {c["path"]: c for c in diff["containers"]}
for path, delta in (("__main__.BUS.listeners", 300), ("__main__.CACHE", 120)):
    c = grew.get(path)
    if not c or c["delta"] != delta or c["matched_by"] != "address":
        sys.exit("container %s: expected +%d matched by address, got %r" % (path, delta, c))
if not diff["same_process"]:
    sys.exit("same_process is false for two dumps of one process")
EOF
    ); then
        pass "diff $name: type deltas equal the live gc's, listeners +300, cache +120"
    else
        fail "diff $name" "$why"
    fi
    if "$bin" diff "$dir/core-1" "$dir/core-2" "$python" | grep -q '__main__.BUS.listeners +300'; then
        pass "diff $name: text names __main__.BUS.listeners +300"
    else
        fail "diff $name" "text output lacks '__main__.BUS.listeners +300'"
    fi
}

check_stacks() {
    local name=$1 python=$2 dir=$3
    if "$bin" stacks "$dir/core-2" "$python" --format=json --locals --tasks >"$dir/stacks.json" \
        2>"$dir/stacks.err" && "$py3" - "$dir/stacks.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
fr = [f["function"] for t in s["threads"] for f in t["frames"]]
assert "dump_point" in fr and "main" in fr, fr
main = [f for t in s["threads"] for f in t["frames"] if f["function"] == "main"][0]
assert main["locals"] == {"out": main["locals"]["out"]} and main["locals"]["out"].startswith("'"), main
EOF
    then
        pass "stacks $name: JSON with dump_point() and main(out=...)"
    else
        fail "stacks $name" "$(head -1 "$dir/stacks.err") (see $dir/stacks.json)"
    fi
}

check_triage() {
    local name=$1 python=$2 dir=$3 cores=() zst=
    head -c 100000 "$dir/core-1" >"$dir/truncated.core"
    printf 'not a core\n' >"$dir/text.core"
    cores=("$dir/core-1" "$dir/truncated.core" "$dir/core-2" "$dir/text.core")
    if command -v zstd >/dev/null; then
        zstd -q -3 "$dir/core-2" -o "$dir/core-2.zst" && zst="$dir/core-2.zst" && cores+=("$zst")
    else
        echo "SKIP triage $name: zstd core: the zstd tool is not installed"
    fi
    "$bin" triage "${cores[@]}" --exe "$python" --format=jsonl --jobs 1 >"$dir/t1.jsonl" 2>"$dir/t1.err"
    local rc1=$?
    "$bin" triage "${cores[@]}" --exe "$python" --format=jsonl --jobs 3 >"$dir/t3.jsonl" 2>"$dir/t3.err"
    local rc3=$?
    if [[ $rc1 -ne 0 || $rc3 -ne 0 ]]; then
        fail "triage $name" "exit $rc1 / $rc3: $(head -1 "$dir/t1.err")"
        return
    fi
    if ! cmp -s "$dir/t1.jsonl" "$dir/t3.jsonl"; then
        fail "triage $name" "--jobs 1 and --jobs 3 differ"
        return
    fi
    local why
    if why=$("$py3" - "$dir/t1.jsonl" "${cores[@]}" <<'EOF' 2>&1
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
cores = sys.argv[2:]
recs, summ = rows[:-1], rows[-1]["summary"]
assert [r["path"] for r in recs] == cores, [r["path"] for r in recs]
ok = {r["path"]: r for r in recs}
for bad in (cores[1], cores[3]):
    assert "error" in ok[bad] and ok[bad]["exit_code"] == 3, ok[bad]
for good in (cores[0], cores[2]):
    r = ok[good]
    assert "error" not in r and r["heap"]["objects"] > 0, r
    assert r["thread"]["frames"][0]["function"] == "dump_point", r["thread"]
if len(cores) == 5:
    a, b = dict(ok[cores[2]]), dict(ok[cores[4]])
    a.pop("path"); b.pop("path")
    assert a == b, "zstd record differs from the plain one: %r / %r" % (a, b)
assert summ["cores"] == len(cores) and summ["errors"] == 2, summ
groups = {g["signature"]: g["count"] for g in summ["groups"]}
want = {}
for r in recs:
    want[r["signature"]] = want.get(r["signature"], 0) + 1
assert groups == want, (groups, want)
assert max(groups.values()) >= 2, groups
EOF
    ); then
        pass "triage $name: ${#cores[@]} cores in order, 2 error records, grouped${zst:+, zstd core read}"
    else
        fail "triage $name" "$(tail -1 <<<"$why")"
    fi
}

# timeout NAME PYTHON DIR: --timeout stops a reader and the batch goes on.
# A reader cannot finish in 1 ms: before it writes anything it loads
# libpython's DWARF, tens of milliseconds on any machine this runs on.
check_timeout() {
    local name=$1 python=$2 dir=$3 why
    local cores=("$dir/core-1" "$dir/core-2")
    "$bin" triage "${cores[@]}" --exe "$python" --format=jsonl --jobs 2 --timeout 0.001 \
        >"$dir/to.jsonl" 2>"$dir/to.err" || { fail "timeout $name" "exit $?: $(head -1 "$dir/to.err")"; return; }
    "$bin" triage "${cores[@]}" --exe "$python" --format=jsonl --timeout 600 \
        >"$dir/tl.jsonl" 2>"$dir/tl.err" || { fail "timeout $name" "exit $?: $(head -1 "$dir/tl.err")"; return; }
    if why=$("$py3" - "$dir/to.jsonl" "$dir/tl.jsonl" "$dir/t1.jsonl" "${cores[@]}" <<'EOF' 2>&1
import json, sys
load = lambda f: [json.loads(l) for l in open(f)]
stopped, late, plain = load(sys.argv[1]), load(sys.argv[2]), load(sys.argv[3])
cores = sys.argv[4:]
assert [r["path"] for r in stopped[:-1]] == cores, stopped
for r in stopped[:-1]:
    assert r["exit_code"] == 11 and r["signature"] == "error: timeout", r
    assert "--timeout=0.001 s" in r["error"], r["error"]
summ = stopped[-1]["summary"]
assert summ["errors"] == 2 and summ["groups"] == [
    {"signature": "error: timeout", "count": 2, "cores": cores}], summ
byp = {r["path"]: r for r in plain[:-1]}
for r in late[:-1]:
    assert r == byp[r["path"]], (r, byp[r["path"]])
EOF
    ); then
        pass "timeout $name: stopped readers get error records; a long --timeout changes nothing"
    else
        fail "timeout $name" "$(tail -1 <<<"$why")"
    fi
}

# crash PYTHON DIR: a kernel core of testdata/crash.py (SIGSEGV), checked in
# a triage record: signal, fatal, handle() at the crash line on the stack.
check_threads() {
    local name=$1 python=$2 dir=$3 t
    for t in 1 2; do
        # the report (retained sizes, suspects) with PYLEAK_TIMING on the
        # second run: the step lines go to stderr only
        if ! PYLEAK_THREADS=$t "$bin" objects --format=jsonl "$dir/core-2" "$python" \
            >"$dir/objects-$t.jsonl" 2>"$dir/threads.err" ||
            ! PYLEAK_THREADS=$t "$bin" cycles --format=json "$dir/core-2" "$python" \
                >"$dir/cycles-$t.json" 2>>"$dir/threads.err" ||
            ! PYLEAK_THREADS=$t PYLEAK_TIMING=$((t - 1)) "$bin" --format=json "$dir/core-2" "$python" \
                >"$dir/report-$t.json" 2>"$dir/timing-$t.err"; then
            fail "threads $name" "PYLEAK_THREADS=$t: $(head -1 "$dir/threads.err" "$dir/timing-$t.err")"
            return
        fi
    done
    local steps
    steps=$(grep -cE '^timing: [a-z]+ +[0-9.]+ s +user +[0-9.]+ sys +[0-9.]+ +faults +[0-9]+ +peak +[0-9]+ MiB$' \
        "$dir/timing-2.err")
    if [[ ! -s $dir/objects-1.jsonl ]]; then
        fail "threads $name" "empty objects export"
    elif ! cmp -s "$dir/objects-1.jsonl" "$dir/objects-2.jsonl" ||
        ! cmp -s "$dir/cycles-1.json" "$dir/cycles-2.json"; then
        fail "threads $name" "PYLEAK_THREADS=1 and 2 differ (see $dir/objects-*.jsonl)"
    elif ! cmp -s "$dir/report-1.json" "$dir/report-2.json"; then
        fail "threads $name" "the report differs with PYLEAK_THREADS=1 and 2 (see $dir/report-*.json)"
    elif grep -q "^timing:" "$dir/timing-1.err" || ((steps != 9)); then
        fail "threads $name" "PYLEAK_TIMING: $steps step lines, not 9 (see $dir/timing-2.err)"
    elif ! why=$("$py3" - "$dir/objects-1.jsonl" "$dir/report-1.json" <<'EOF' 2>&1
import json, sys
# the report's types: count/bytes of the gc objects and untracked_count/
# untracked_bytes, against every node of the objects export
tally = {}
for line in open(sys.argv[1]):
    o = json.loads(line)
    t = tally.setdefault(o["type"], [0, 0, 0, 0])
    k = 0 if o["tracked"] else 2
    t[k] += 1
    t[k + 1] += o["size"]
types = json.load(open(sys.argv[2]))["types"]
assert any(r["untracked_count"] for r in types), "no type has untracked objects"
for r in types:
    got = [r["count"], r["bytes"], r["untracked_count"], r["untracked_bytes"]]
    want = tally.get(r["type"], [0, 0, 0, 0])
    assert got == want, "%s: report says %s, the objects export %s" % (r["type"], got, want)
EOF
    ); then
        fail "threads $name" "report types: $(tail -1 <<<"$why")"
    else
        pass "threads $name: the same graph and report from one thread and from two ($(wc -l <"$dir/objects-1.jsonl") nodes)"
    fi
    rm -f "$dir"/objects-*.jsonl "$dir"/report-*.json
}

check_crash() {
    local name=$1 python=$2 dir=$3 pattern line
    pattern=$(cat /proc/sys/kernel/core_pattern 2>/dev/null) || pattern=
    if [[ $pattern != core && $pattern != core.%p ]]; then
        echo "SKIP crash $name: kernel.core_pattern is '$pattern', not 'core'"
        return
    fi
    mkdir -p "$dir/crash"
    { (cd "$dir/crash" && ulimit -c unlimited && exec "$python" "$srcdir/testdata/crash.py") \
        >/dev/null 2>&1; } 2>/dev/null
    local core
    core=$(find "$dir/crash" -name 'core*' | head -1)
    if [[ -z $core ]]; then
        fail "crash $name" "no kernel core written in $dir/crash"
        return
    fi
    line=$(grep -n 'CRASH-LINE' "$srcdir/testdata/crash.py" | cut -d: -f1)
    "$bin" triage "$core" --exe "$python" --format=jsonl >"$dir/crash.jsonl" 2>"$dir/crash.err"
    local why
    if why=$("$py3" - "$dir/crash.jsonl" "$line" <<'EOF' 2>&1
import json, sys
r = json.loads(open(sys.argv[1]).readline())
assert r.get("signal_name") == "SIGSEGV" and r["fatal"], r
fr = r["thread"]["frames"]
h = [f for f in fr if f["function"] == "handle"]
assert h and h[0]["line"] == int(sys.argv[2]) and h[0]["file"].endswith("crash.py"), fr
assert r["signature"].startswith("SIGSEGV in "), r["signature"]
EOF
    ); then
        pass "crash $name: SIGSEGV record with handle() at crash.py:$line"
    else
        fail "crash $name" "$(tail -1 <<<"$why")"
    fi
    rm -rf "$dir/crash"
}

mapfile -t targets < <(bash "$srcdir/tests/pythons.sh")
((${#targets[@]})) || { echo "FAIL: no CPython build found"; exit 1; }
for t in "${targets[@]}"; do
    name=${t%%$'\t'*}
    python=${t#*$'\t'}
    dir=$T/$name
    if ! why=$(growth "$python" "$dir"); then
        fail "growth cores $name" "$why"
        continue
    fi
    check_diff "$name" "$python" "$dir"
    check_stacks "$name" "$python" "$dir"
    check_triage "$name" "$python" "$dir"
    check_timeout "$name" "$python" "$dir"
    check_threads "$name" "$python" "$dir"
    check_crash "$name" "$python" "$dir"
    rm -f "$dir"/core-* "$dir"/*.core
done

echo "$npass passed, $nfail failed"
[[ $nfail -eq 0 ]]
