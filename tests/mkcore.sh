#!/usr/bin/env bash
# Run one scenario under one interpreter, take a core of it at oracle.stop(),
# and collect the live-gc oracle files next to it.
#
# usage: tests/mkcore.sh PYTHON SCENARIO.py OUTDIR [--kernel]
#
#   default    gdb attaches and writes OUTDIR/core (gcore); gdb output in OUTDIR/gdb.log
#   --kernel   the scenario forks a child that aborts; the kernel writes the core
#              (needs kernel.core_pattern to be a plain file name such as "core")
#
# Produces in OUTDIR: core, objects.tsv, meta.txt, garbage.txt, permanent.tsv,
# scenario.log (scenario stdout+stderr) and, with gcore, gdb.log.
# Formats: testdata/README.md.  Exit 0 on success; otherwise one line
# "mkcore: <scenario> under <python>: <reason>" on stderr and exit 1.
#
# Environment: PYLEAK_MKCORE_TIMEOUT (seconds for each wait, default 120).

set -euo pipefail

usage() {
    echo "usage: $0 PYTHON SCENARIO.py OUTDIR [--kernel]" >&2
    exit 2
}
[[ $# -eq 3 || ( $# -eq 4 && $4 == --kernel ) ]] || usage

python=$1
scenario=$2
outdir=$3
mode=gcore
[[ $# -eq 4 ]] && mode=kernel
timeout_s=${PYLEAK_MKCORE_TIMEOUT:-120}

pid=
tmpdir=
ready_r=
go_w=

# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
    local rc=$?
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        # the scenario runs in its own session: kill it with any fork children
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    [[ -n $ready_r ]] && exec {ready_r}<&-
    [[ -n $go_w ]] && exec {go_w}>&-
    [[ -n $tmpdir ]] && rm -rf "$tmpdir"
    return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
trap '' PIPE    # a write to a dead scenario must fail, not kill us

fail() {
    echo "mkcore: $scenario under $python: $*" >&2
    exit 1
}

# last non-empty line of scenario.log, for failure messages
log_tail() {
    local t
    t=$(grep -v '^[[:space:]]*$' "$outdir/scenario.log" 2>/dev/null | tail -n 1 | cut -c1-200) || true
    [[ -n $t ]] && printf '; scenario.log: %s' "$t"
    return 0
}

pyexe=$python
[[ -x $pyexe ]] || pyexe=$(command -v "$python" 2>/dev/null) || fail "interpreter not found"
[[ -f $scenario ]] || fail "no such scenario file"
mkdir -p "$outdir" || fail "cannot create $outdir"
outdir=$(cd "$outdir" && pwd -P)
scenario_abs=$(cd "$(dirname "$scenario")" && pwd -P)/$(basename "$scenario")
command -v setsid >/dev/null || fail "setsid (util-linux) not found"
if [[ $mode == gcore ]]; then
    command -v gdb >/dev/null || fail "gdb not found"
else
    pattern=$(cat /proc/sys/kernel/core_pattern 2>/dev/null) || pattern=
    case $pattern in
        core | core.%p) ;;
        *) fail "--kernel needs kernel.core_pattern 'core' (is '$pattern')" ;;
    esac
fi

rm -f "$outdir"/core "$outdir"/core.[0-9]* "$outdir"/objects.tsv "$outdir"/meta.txt \
    "$outdir"/garbage.txt "$outdir"/permanent.tsv "$outdir"/scenario.log "$outdir"/gdb.log

# Two FIFOs.  The scenario gets only the write end of "ready" and the read end
# of "go"; we keep only the other ends, so each side sees EOF when the other dies.
tmpdir=$(mktemp -d "${TMPDIR:-/tmp}/mkcore.XXXXXX")
mkfifo "$tmpdir/ready" "$tmpdir/go"
exec {rw1}<>"$tmpdir/ready" {rw2}<>"$tmpdir/go"   # O_RDWR: the opens below do not block
# shellcheck disable=SC2094  # one end each, on purpose
exec {ready_r}<"$tmpdir/ready" {ready_w}>"$tmpdir/ready"
# shellcheck disable=SC2094
exec {go_r}<"$tmpdir/go" {go_w}>"$tmpdir/go"
exec {rw1}>&- {rw2}>&-

(
    if [[ $mode == kernel ]]; then
        ulimit -S -c unlimited 2>/dev/null || ulimit -S -c "$(ulimit -H -c)"
    else
        ulimit -S -c 0    # a crash must not leave a kernel core where ours goes
    fi
    cd "$outdir"
    export PYLEAK_READY_FD=$ready_w PYLEAK_GO_FD=$go_r PYLEAK_OUT=$outdir PYLEAK_CORE_MODE=$mode
    export PYTHONDONTWRITEBYTECODE=1    # leave no __pycache__ in the source tree
    exec setsid "$pyexe" "$scenario_abs"
) >"$outdir/scenario.log" 2>&1 </dev/null {ready_r}<&- {go_w}>&- &
pid=$!
exec {ready_w}>&- {go_r}<&-

# wait_line WANT: read lines from the scenario until one starts with WANT.
# Sets $line.  Returns 1 on EOF (scenario gone), 2 on timeout.
wait_line() {
    local want=$1 deadline=$((SECONDS + timeout_s)) rc
    while :; do
        rc=0
        IFS= read -r -t 1 -u "$ready_r" line || rc=$?
        if [[ $rc -eq 0 ]]; then
            [[ $line == "$want"* ]] && return 0
            continue
        fi
        [[ $rc -le 128 ]] && return 1
        ((SECONDS < deadline)) || return 2
    done
}

# exit status of the scenario once it has exited (it must have closed its pipe end)
reap() {
    local deadline=$((SECONDS + 30)) st=0
    while kill -0 "$pid" 2>/dev/null; do
        ((SECONDS < deadline)) || return 124
        sleep 0.05
    done
    wait "$pid" || st=$?
    pid=
    return "$st"
}

rc=0
wait_line READY || rc=$?
case $rc in
    0) ;;
    1) st=0; reap || st=$?; fail "exited with status $st before oracle.stop()$(log_tail)" ;;
    *) fail "no READY within ${timeout_s}s$(log_tail)" ;;
esac
cpid=${line#READY }
[[ $cpid =~ ^[0-9]+$ ]] || fail "bad READY line '$line'"

if [[ $mode == gcore ]]; then
    st=0
    (cd "$outdir" && exec timeout -k 5 "$timeout_s" gdb -batch -nx \
        -iex 'set debuginfod enabled off' -iex 'set auto-load off' \
        -p "$cpid" -ex 'gcore core') >"$outdir/gdb.log" 2>&1 </dev/null {ready_r}<&- {go_w}>&- || st=$?
    if [[ $st -ne 0 || ! -s $outdir/core ]]; then
        if [[ $st -eq 124 || $st -eq 137 ]]; then
            fail "gcore timed out after ${timeout_s}s (see gdb.log)"
        fi
        fail "gcore failed (status $st, see gdb.log): $(grep -v '^[[:space:]]*$' "$outdir/gdb.log" | tail -n 1 | cut -c1-200)"
    fi
    printf c 1>&"$go_w" 2>/dev/null || fail "scenario gone before the go byte$(log_tail)"
else
    printf k 1>&"$go_w" 2>/dev/null || fail "scenario gone before the go byte$(log_tail)"
fi

rc=0
wait_line DONE || rc=$?
case $rc in
    0) ;;
    1) st=0; reap || st=$?; fail "died while recording the oracle (status $st)$(log_tail)" ;;
    *) fail "no DONE within ${timeout_s}s after the core$(log_tail)" ;;
esac
st=0
reap || st=$?
[[ $st -eq 0 ]] || fail "exit status $st after DONE$(log_tail)"

if [[ $mode == kernel && ! -e $outdir/core ]]; then
    cp=$(sed -n 's/^core_pid=//p' "$outdir/meta.txt" 2>/dev/null || true)
    [[ -n $cp && -e $outdir/core.$cp ]] && mv "$outdir/core.$cp" "$outdir/core"
fi
for f in core objects.tsv meta.txt garbage.txt; do
    [[ -s $outdir/$f ]] || fail "$f missing or empty$(log_tail)"
done
grep -q '^garbage_count=' "$outdir/meta.txt" || fail "garbage oracle failed (no garbage_count in meta.txt)$(log_tail)"
printf 'scenario=%s\npython=%s\n' "$scenario" "$python" >>"$outdir/meta.txt"
exit 0
