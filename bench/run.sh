#!/usr/bin/env bash
# Benchmark `pyleak-core types` and `pyleak-core cycles` on the core of a large
# CPython heap, against the same work done inside the live process (a census;
# the object graph and gc's unreachable analysis). See bench/README.md.
#
# usage: bench/run.sh            (from any directory)
#
# Environment:
#   BENCH_PYTHON    interpreter that builds the heap
#                   (default /root/.pyenv/versions/3.12.1/bin/python3)
#   BENCH_OBJECTS   target number of gc-tracked objects (default 2500000)
#   BENCH_RUNS      timed runs of each side; the best counts (default 3)
#   BENCH_REBUILD   1: take a new core even if the cached one is usable
#   BENCH_CALLGRIND afterwards, profile one run under callgrind and print the
#                   top functions: 1 or types: `pyleak-core types`; cycles:
#                   `pyleak-core cycles`; both: each (use a small core:
#                   BENCH_OBJECTS=200000)
#   BENCH_TIME_BIN  GNU time used for peak RSS (default /usr/bin/time); empty:
#                   poll VmHWM in /proc instead
#   BENCH_TIMEOUT   seconds allowed for each wait on the heap process and for
#                   gcore (default 600)

set -euo pipefail
export LC_ALL=C

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
out=bench/out

die() {
    echo "bench: $*" >&2
    exit 1
}
note() {
    echo "bench: $*" >&2
}

[[ -f ./pyleak-core && -x ./pyleak-core ]] ||
    die "$root/pyleak-core is not built; run 'make' in $root first"

python=${BENCH_PYTHON:-/root/.pyenv/versions/3.12.1/bin/python3}
target=${BENCH_OBJECTS:-2500000}
runs=${BENCH_RUNS:-3}
timeout_s=${BENCH_TIMEOUT:-600}
time_bin=${BENCH_TIME_BIN-/usr/bin/time}

posint() { # posint VALUE MIN
    [[ $1 =~ ^[0-9]{1,12}$ ]] && (($1 >= $2))
}
posint "$target" 20000 || die "BENCH_OBJECTS must be an integer >= 20000 (is '$target')"
posint "$runs" 1 || die "BENCH_RUNS must be a positive integer (is '$runs')"
posint "$timeout_s" 1 || die "BENCH_TIMEOUT must be a positive integer (is '$timeout_s')"
case ${BENCH_CALLGRIND:-0} in
    0 | '') cg_cmds=() ;;
    1 | types) cg_cmds=(types) ;;
    cycles) cg_cmds=(cycles) ;;
    both) cg_cmds=(types cycles) ;;
    *) die "BENCH_CALLGRIND must be 0, 1, types, cycles or both (is '$BENCH_CALLGRIND')" ;;
esac
pyexe=$(command -v "$python") || die "interpreter not found: $python (set BENCH_PYTHON)"
pyver=$("$pyexe" -c 'import sys; print(sys.version.split()[0])') || die "$pyexe does not run"
command -v timeout >/dev/null || die "timeout (coreutils) not found"
if [[ -n $time_bin ]]; then
    time_bin=$(command -v "$time_bin") || {
        note "$time_bin not found; peak RSS is polled from /proc/PID/status (VmHWM)"
        time_bin=
    }
fi

stale=$(find cli coredump graph render -name '*.[ch]' -newer ./pyleak-core 2>/dev/null | wc -l)
((stale == 0)) || note "warning: $stale source file(s) are newer than ./pyleak-core; timing the binary as built"

mkdir -p "$out"
# one cached core per (object target, interpreter)
pytag=$(readlink -f "$pyexe" | cksum | cut -d' ' -f1)
core=$out/heap-$target-py$pyver-$pytag.core
meta=${core%.core}.meta
tmpcore=$core.tmp.$$

reuse=0
if [[ ${BENCH_REBUILD:-0} != 1 && -s $core && -s $meta &&
    $core -nt bench/run.sh && $core -nt bench/mkheap.py ]]; then
    reuse=1
fi

heap_pid=
rfd=
wfd=
# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
    local rc=$?
    if [[ -n $heap_pid ]] && kill -0 "$heap_pid" 2>/dev/null; then
        kill -KILL "$heap_pid" 2>/dev/null || true
        wait "$heap_pid" 2>/dev/null || true
    fi
    rm -f "$tmpcore"
    return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
trap '' PIPE

# ---------------------------------------------------------------- the heap

# expect PREFIX: read lines from the heap process until one starts with PREFIX;
# sets $line.
expect() {
    local want=$1 deadline=$((SECONDS + timeout_s)) left
    while :; do
        left=$((deadline - SECONDS))
        ((left > 0)) || die "no '$want' from bench/mkheap.py within ${timeout_s}s (see $out/mkheap.log)"
        if IFS= read -r -t "$left" -u "$rfd" line; then
            [[ $line == "$want"* ]] && return 0
            note "mkheap: $line"
        elif (($? <= 128)); then
            die "bench/mkheap.py exited before '$want': $(tail -n 3 "$out/mkheap.log" 2>/dev/null)"
        fi
    done
}

# kv KEY LINE: the value of KEY=VALUE among the words of LINE
kv() {
    local w words
    read -ra words <<<"$2"
    for w in "${words[@]}"; do
        if [[ $w == "$1="* ]]; then
            printf '%s\n' "${w#*=}"
            return 0
        fi
    done
    die "no $1= in '$2'"
}

note "building about $target gc-tracked objects with $pyexe ($pyver)"
coproc HEAP { exec "$pyexe" bench/mkheap.py "$target" 2>"$out/mkheap.log"; }
# shellcheck disable=SC2153  # HEAP_PID is set by coproc
heap_pid=$HEAP_PID
# private copies: bash closes the coproc's own fds as soon as it exits
exec {rfd}<&"${HEAP[0]}" {wfd}>&"${HEAP[1]}"

expect BUILT
py_objects=$(kv objects "$line")
py_frozen=$(kv frozen "$line")
py_records=$(kv records "$line")
py_build_s=$(kv build_s "$line")
py_rss_kib=$(kv rss_kib "$line")
expect READY
read -r _ gpid <<<"$line"
[[ $gpid =~ ^[0-9]+$ ]] || die "bad READY line '$line'"
note "heap built in ${py_build_s}s: len(gc.get_objects()) = $py_objects ($py_records records, RSS $((py_rss_kib / 1024)) MiB)"

if ((reuse)); then
    note "reusing $core (BENCH_REBUILD=1 takes a new one)"
else
    command -v gdb >/dev/null || die "gdb not found (needed to take the core)"
    note "taking the core of pid $gpid with gdb gcore"
    rm -f "$core" "$meta"
    t0=$EPOCHREALTIME
    st=0
    timeout -k 5 "$timeout_s" gdb -batch -nx -iex 'set debuginfod enabled off' \
        -iex 'set auto-load off' -p "$gpid" -ex "gcore $tmpcore" \
        >"$out/gdb.log" 2>&1 </dev/null || st=$?
    [[ $st -eq 0 && -s $tmpcore ]] ||
        die "gcore failed (status $st): $(grep -v '^[[:space:]]*$' "$out/gdb.log" | tail -n 1)"
    mv -f "$tmpcore" "$core"
    printf 'objects=%s\nrecords=%s\npython=%s\nversion=%s\n' \
        "$py_objects" "$py_records" "$pyexe" "$pyver" >"$meta"
    note "core written in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s"
fi
core_objects=$(sed -n 's/^objects=//p' "$meta")
core_bytes=$(stat -c %s "$core")

# ------------------------------------------------- in-process census (Python)

note "in-process census, $runs run(s)"
printf 'census %d\n' "$runs" >&"$wfd"
inproc_best=
inproc_bytes=
while :; do
    expect ""
    case $line in
        CENSUS\ *)
            s=$(kv seconds "$line")
            inproc_bytes=$(kv bytes "$line")
            note "  in-process run $(kv run "$line"): ${s}s (gc.get_objects $(kv get_objects_s "$line")s)"
            if [[ -z $inproc_best ]] || awk -v a="$s" -v b="$inproc_best" 'BEGIN { exit !(a < b) }'; then
                inproc_best=$s
            fi
            ;;
        CENSUSRSS\ *)
            inproc_rss_before=$(kv rss_before_kib "$line")
            inproc_maxrss=$(kv maxrss_kib "$line")
            ;;
        TOP\ *) ;;
        DONE) break ;;
        *) note "mkheap: $line" ;;
    esac
done
[[ -n $inproc_best ]] || die "the in-process census printed no timing"

# ------------------------------------------------ pyleak-core types, cycles

# warm: read the core and libpython into the page cache, untimed. This
# machine's memory manager (kdamond) gives back file pages that nobody read
# for some seconds: during one in-process round (about 10 s, and a large
# heap) a few MB of the cached core go, and the report after it would read
# them back from the disk, one fault at a time.
warm_files=("$core")
for f in "$(dirname "$(readlink -f "$pyexe")")"/../lib/libpython*.so*; do
    [[ -f $f ]] && warm_files+=("$f")
done
warm() {
    cat "${warm_files[@]}" >/dev/null 2>&1 || true
}

# measure NAME OUT CMD...: run CMD with stdout to OUT and stderr to
# $out/NAME.err, after warm; sets m_wall (s), m_rss (KiB)
measure() {
    local name=$1 dest=$2 t0 t1 rc=0 pid k v _ hwm=0
    shift 2
    warm
    if [[ -n $time_bin ]]; then
        t0=$EPOCHREALTIME
        "$time_bin" -f %M -o "$out/time.txt" "$@" >"$dest" 2>"$out/$name.err" || rc=$?
        t1=$EPOCHREALTIME
        m_rss=$(tail -n 1 "$out/time.txt")
    else
        t0=$EPOCHREALTIME
        "$@" >"$dest" 2>"$out/$name.err" &
        pid=$!
        while kill -0 "$pid" 2>/dev/null; do
            while read -r k v _; do
                if [[ $k == VmHWM: ]]; then
                    if ((v > hwm)); then hwm=$v; fi
                    break
                fi
            done <"/proc/$pid/status" 2>/dev/null || true
            sleep 0.005
        done
        wait "$pid" || rc=$?
        t1=$EPOCHREALTIME
        m_rss=$hwm
    fi
    ((rc == 0)) || die "'$*' failed with exit status $rc: $(tail -n 1 "$out/$name.err")"
    m_wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
}

# timed NAME OUT CMD...: BENCH_RUNS runs of measure; sets t_best (s), t_rss (KiB, largest)
timed() {
    local name=$1 i
    t_best=
    t_rss=0
    for ((i = 1; i <= runs; i++)); do
        measure "$@"
        note "  pyleak-core $name run $i: ${m_wall}s, peak RSS $((m_rss / 1024)) MiB"
        if [[ -z $t_best ]] || awk -v a="$m_wall" -v b="$t_best" 'BEGIN { exit !(a < b) }'; then
            t_best=$m_wall
        fi
        if ((m_rss > t_rss)); then t_rss=$m_rss; fi
    done
}

# the binary being timed (other people may rebuild it meanwhile)
bin_when=$(stat -c %y ./pyleak-core | cut -c1-19)
bin_rev=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
bin_dirty=$(git status --porcelain --untracked-files=no -- cli coredump graph render 2>/dev/null | wc -l)
note "pyleak-core: one untimed 'info' run (page cache, totals)"
./pyleak-core info "$core" --format=json >"$out/info.json" 2>"$out/info.err" ||
    die "./pyleak-core info failed (exit $?): $(tail -n 1 "$out/info.err")"
read -r pl_objects pl_bytes pl_permanent pl_damaged pl_warnings < <("$pyexe" -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(d["objects"], d["bytes"], d["gc"].get("permanent", 0), int(bool(d["damaged"])), len(d["warnings"]))
' "$out/info.json") || die "cannot parse $out/info.json"
if ((pl_damaged || pl_warnings)); then
    note "pyleak-core reports a damaged heap or warnings:"
    head -n 5 "$out/info.err" >&2
fi

# ----------- in-process graph + gc analysis (Python), rounds with the report

# The report's target is a ratio of two timings: each round times one
# in-process graph build and analysis, then one report, so that both sides
# of the ratio are timed in the same spell of a machine whose speed drifts.
note "in-process graph and gc analysis, each followed by a pyleak-core report: $runs round(s)"
gr_line=        # the GRAPH line of the best (lowest total) run
gr_best=
gr_rss_delta=0  # the largest peak - RSS before, over the runs (KiB)
rp_best=
rp_rss=0
rounds=         # "in-process/report" per round
for ((round = 1; round <= runs; round++)); do
    printf 'graph 1\n' >&"$wfd"
    s=
    while :; do
        expect ""
        case $line in
            GRAPH\ *)
                s=$(kv total_s "$line")
                d=$(($(kv peak_kib "$line") - $(kv rss_before_kib "$line")))
                note "  in-process graph round $round: ${s}s (build $(kv build_s "$line")s," \
                    "analysis $(kv analysis_s "$line")s), $(kv nodes "$line") nodes," \
                    "$(kv edges "$line") edges, peak RSS +$((d / 1024)) MiB"
                if [[ -z $gr_best ]] || awk -v a="$s" -v b="$gr_best" 'BEGIN { exit !(a < b) }'; then
                    gr_best=$s
                    gr_line=$line
                fi
                if ((d > gr_rss_delta)); then gr_rss_delta=$d; fi
                ;;
            DONE) break ;;
            *) note "mkheap: $line" ;;
        esac
    done
    [[ -n $s ]] || die "the in-process graph printed no timing"
    measure report /dev/null ./pyleak-core "$core"
    note "  pyleak-core report round $round: ${m_wall}s, peak RSS $((m_rss / 1024)) MiB"
    if [[ -z $rp_best ]] || awk -v a="$m_wall" -v b="$rp_best" 'BEGIN { exit !(a < b) }'; then
        rp_best=$m_wall
    fi
    if ((m_rss > rp_rss)); then rp_rss=$m_rss; fi
    rounds+="${rounds:+ }$s/$m_wall"
done
[[ -n $gr_best ]] || die "the in-process graph printed no timing"
gr_build_s=$(kv build_s "$gr_line")
gr_analysis_s=$(kv analysis_s "$gr_line")
gr_nodes=$(kv nodes "$gr_line")
gr_tracked=$(kv tracked "$gr_line")
gr_edges=$(kv edges "$gr_line")
gr_extra_refs=$(kv extra_refs "$gr_line")
gr_roots=$(kv roots "$gr_line")
gr_negative=$(kv negative "$gr_line")
gr_unreachable=$(kv unreachable "$gr_line")
gr_hwm_reset=$(kv hwm_reset "$gr_line")
if ((gr_negative)); then
    note "warning: $gr_negative object(s) with refcount below their internal references in process" \
        "(extra_refs=$gr_extra_refs is wrong?)"
fi

printf 'quit\n' >&"$wfd"
exec {rfd}<&- {wfd}>&-
wait "$heap_pid" 2>/dev/null || true
heap_pid=

note "pyleak-core: $runs timed 'types' runs"
timed types "$out/types.txt" ./pyleak-core types "$core"
pl_best=$t_best
pl_rss=$t_rss

note "pyleak-core: one untimed 'cycles --format=json' run (counts), then $runs timed 'cycles' runs"
./pyleak-core cycles "$core" --format=json >"$out/cycles.json" 2>"$out/cycles.err" ||
    die "./pyleak-core cycles failed (exit $?): $(tail -n 1 "$out/cycles.err")"
read -r cy_unreachable cy_cycles < <("$pyexe" -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(d["unreachable"], len(d["cycles"]))
' "$out/cycles.json") || die "cannot parse $out/cycles.json"
timed cycles /dev/null ./pyleak-core cycles "$core"
cy_best=$t_best
cy_rss=$t_rss

note "pyleak-core: $runs timed runs each of stacks --tasks, diff (the core against itself) and triage"
# where the report's time goes: one more run with each step's wall time
PYLEAK_TIMING=1 ./pyleak-core "$core" >/dev/null 2>"$out/steps.err" ||
    die "pyleak-core report failed: $(tail -n 1 "$out/steps.err")"
steps=$(awk '$1 == "timing:" && $4 == "s" { printf "%s%s %s s", sep, $2, $3; sep = ", " }' "$out/steps.err")
graph_size=$(awk '$1 == "timing:" && $2 == "(graph:" { sub(/^timing: \(graph: /, ""); sub(/\)$/, ""); print }' "$out/steps.err")
# and how much of it the kernel took: system time and minor page faults
faults=$(awk '$1 == "timing:" && $4 == "s" && $10 > 0 { printf "%s%s %s s/%dk", sep, $2, $8, ($10 + 500) / 1000; sep = ", " }' "$out/steps.err")
timed stacks /dev/null ./pyleak-core stacks --tasks "$core"
st_best=$t_best
st_rss=$t_rss
timed diff /dev/null ./pyleak-core diff "$core" "$core"
df_best=$t_best
df_rss=$t_rss
timed triage /dev/null ./pyleak-core triage "$core"
tr_best=$t_best
tr_rss=$t_rss

# ------------------------------------------------------------------ report

rss_how="VmHWM polled every 5 ms: a lower bound"
[[ -z $time_bin ]] || rss_how="$time_bin -f %M"

echo
if [[ $(stat -c %y ./pyleak-core | cut -c1-19) != "$bin_when" ]]; then
    note "warning: ./pyleak-core was rebuilt during the benchmark (it was built $bin_when)"
fi
echo "pyleak-core benchmark: $pyexe ($pyver), $(nproc) CPU(s), best of $runs"
echo "  (./pyleak-core built $bin_when; sources at $bin_rev + $bin_dirty modified file(s))"
echo
echo "census (pyleak-core types)"
awk -v py_objects="$py_objects" -v core_objects="$core_objects" -v pl_objects="$pl_objects" \
    -v core_bytes="$core_bytes" -v pl_best="$pl_best" -v pl_rss="$pl_rss" \
    -v inproc_best="$inproc_best" -v pl_bytes="$pl_bytes" -v pl_permanent="$pl_permanent" -v py_frozen="$py_frozen" -v inproc_bytes="$inproc_bytes" \
    -v inproc_before="$inproc_rss_before" -v inproc_max="$inproc_maxrss" \
    -v rss_how="$rss_how" -v reuse="$reuse" '
function mib(b) { return sprintf("%.1f MiB", b / 1048576) }
function row(k, v) { printf "  %-44s %s\n", k, v }
BEGIN {
    row("objects, len(gc.get_objects()) in process", py_objects)
    row("objects, in the core (pyleak-core)", pl_objects \
        sprintf("   (%d of them in the permanent generation;", pl_permanent))
    row("", sprintf("gc.get_objects() omits it, gc.get_freeze_count() = %d)", py_frozen))
    if (core_objects != py_objects)
        row("", sprintf("(the cached core is of a heap of %d)", core_objects))
    row("core size", mib(core_bytes) (reuse ? "   (cached)" : ""))
    row("pyleak-core types: wall time", sprintf("%.3f s", pl_best))
    row("pyleak-core types: peak RSS", mib(pl_rss * 1024) "   (" rss_how ")")
    row("in-process census: time", sprintf("%.3f s", inproc_best))
    row("ratio in-process / pyleak-core", sprintf("%.2fx", inproc_best / pl_best))
    row("pyleak-core RSS per object beyond core size", \
        sprintf("%.1f B", (pl_rss * 1024 - core_bytes) / pl_objects))
    row("objects/second, pyleak-core types", sprintf("%.2f M/s", pl_objects / pl_best / 1e6))
    row("objects/second, in-process census", sprintf("%.2f M/s", py_objects / inproc_best / 1e6))
    print ""
    row("bytes: pyleak-core / sys.getsizeof sum", sprintf("%d / %d", pl_bytes, inproc_bytes))
    row("in-process: RSS before census / peak", mib(inproc_before * 1024) " / " mib(inproc_max * 1024))
}'
echo
echo "graph (pyleak-core cycles: object graph, gc arithmetic, unreachable set, cycles)"
awk -v pl_objects="$pl_objects" -v core_bytes="$core_bytes" -v cy_best="$cy_best" -v cy_rss="$cy_rss" \
    -v cy_unreachable="$cy_unreachable" -v cy_cycles="$cy_cycles" \
    -v gr_best="$gr_best" -v gr_build="$gr_build_s" -v gr_analysis="$gr_analysis_s" \
    -v gr_nodes="$gr_nodes" -v gr_tracked="$gr_tracked" -v gr_edges="$gr_edges" \
    -v gr_extra="$gr_extra_refs" -v gr_roots="$gr_roots" -v gr_negative="$gr_negative" \
    -v gr_unreachable="$gr_unreachable" -v gr_rss_delta="$gr_rss_delta" -v gr_reset="$gr_hwm_reset" \
    -v rss_how="$rss_how" '
function mib(b) { return sprintf("%.1f MiB", b / 1048576) }
function row(k, v) { printf "  %-44s %s\n", k, v }
function verdict(ok) { return ok ? "PASS" : "MISS" }
BEGIN {
    row("nodes, in process", sprintf("%d   (%d gc objects + %d untracked objects they reach)", \
        gr_nodes, gr_tracked, gr_nodes - gr_tracked))
    row("edges, in process (gc.get_referents)", gr_edges)
    row("roots / unreachable, in process", sprintf("%d / %d   (refcount - %d held by the bench; %d negative)", \
        gr_roots, gr_unreachable, gr_extra, gr_negative))
    row("unreachable / cycles, pyleak-core", sprintf("%d / %d", cy_unreachable, cy_cycles))
    row("pyleak-core cycles: wall time", sprintf("%.3f s", cy_best))
    row("pyleak-core cycles: peak RSS", mib(cy_rss * 1024) "   (" rss_how ")")
    row("in-process: graph build", sprintf("%.3f s", gr_build))
    row("in-process: gc analysis", sprintf("%.3f s", gr_analysis))
    row("in-process: total", sprintf("%.3f s", gr_best))
    row("in-process: peak RSS - RSS before", mib(gr_rss_delta * 1024) \
        (gr_reset ? "   (ru_maxrss, reset before each run)" : "   (ru_maxrss, not reset: may be low)"))
    ratio = gr_best / cy_best
    row("ratio in-process / pyleak-core", sprintf("%.2fx", ratio))
    beyond = (cy_rss * 1024 - core_bytes) / pl_objects
    row("pyleak-core RSS per object beyond core size", sprintf("%.1f B   (%.1f B per in-process node)", \
        beyond, (cy_rss * 1024 - core_bytes) / gr_nodes))
    row("nodes+edges/second, pyleak-core cycles", sprintf("%.2f M/s", (gr_nodes + gr_edges) / cy_best / 1e6))
    row("nodes+edges/second, in process", sprintf("%.2f M/s", (gr_nodes + gr_edges) / gr_best / 1e6))
    print ""
    row("target: in-process / pyleak-core >= 10x", sprintf("%s   (%.2fx)", verdict(ratio >= 10), ratio))
    row("target: peak RSS <= core + 100 B/object", sprintf("%s   (%s <= %s + %s: %.1f B/object)", \
        verdict(cy_rss * 1024 <= core_bytes + 100 * pl_objects), mib(cy_rss * 1024), mib(core_bytes), \
        mib(100 * pl_objects), beyond))
}'

echo
echo "report and the other commands (each against the in-process graph build and analysis)"
awk -v pl_objects="$pl_objects" -v core_bytes="$core_bytes" -v gr_best="$gr_best" \
    -v rp_best="$rp_best" -v rp_rss="$rp_rss" -v st_best="$st_best" -v st_rss="$st_rss" \
    -v df_best="$df_best" -v df_rss="$df_rss" -v tr_best="$tr_best" -v tr_rss="$tr_rss" \
    -v rss_how="$rss_how" -v steps="$steps" -v faults="$faults" -v graph_size="$graph_size" \
    -v rounds="$rounds" '
function mib(b) { return sprintf("%.1f MiB", b / 1048576) }
function row(k, v) { printf "  %-44s %s\n", k, v }
function verdict(ok) { return ok ? "PASS" : "MISS" }
function cmd(name, t, rss) {
    row(name, sprintf("%.3f s, peak RSS %s (%.1f B/object beyond the core), %.2fx", t, \
        mib(rss * 1024), (rss * 1024 - core_bytes) / pl_objects, gr_best / t))
}
BEGIN {
    cmd("report (roots, dominators, suspects)", rp_best, rp_rss)
    nr = split(rounds, rr, " ")
    line = ""
    for (i = 1; i <= nr; i++) {
        split(rr[i], ab, "/")
        line = line sprintf("%s%.2fx", i > 1 ? " " : "", ab[1] / ab[2])
    }
    row("  each round (in-process then report)", line)
    row("  its steps (PYLEAK_TIMING, one run)", steps)
    row("  system time/page faults of the steps", faults)
    row("  its graph", graph_size)
    cmd("stacks --tasks", st_best, st_rss)
    cmd("diff CORE CORE (two analyses)", df_best, df_rss)
    cmd("triage CORE (one child process)", tr_best, tr_rss)
    print ""
    row("target: report >= 10x the in-process graph", sprintf("%s   (%.2fx)", verdict(gr_best / rp_best >= 10), \
        gr_best / rp_best))
    row("target: report RSS <= core + 100 B/object", sprintf("%s   (%s <= %s)", \
        verdict(rp_rss * 1024 <= core_bytes + 100 * pl_objects), mib(rp_rss * 1024), \
        mib(core_bytes + 100 * pl_objects)))
}'

for cmd in "${cg_cmds[@]}"; do
    command -v valgrind >/dev/null || die "valgrind not found"
    cg=$out/callgrind-$cmd-$target.out
    note "callgrind: one 'pyleak-core $cmd' run (slow: ~50x)"
    valgrind --tool=callgrind --callgrind-out-file="$cg" ./pyleak-core "$cmd" "$core" \
        >/dev/null 2>"$out/callgrind-$cmd.log" || die "valgrind failed: $(tail -n 1 "$out/callgrind-$cmd.log")"
    echo
    echo "callgrind, pyleak-core $cmd ($cg), exclusive instruction counts:"
    callgrind_annotate "$cg" 2>/dev/null | sed -n '/^Ir/,$p' | sed -n '1,25p'
    echo
    echo "inclusive:"
    callgrind_annotate --inclusive=yes "$cg" 2>/dev/null | sed -n '/^Ir/,$p' | sed -n '1,25p'
done
