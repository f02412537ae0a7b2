#!/usr/bin/env bash
# Damaged cores (issue 7): real cores of testdata/scenarios/cycles.py under
# pyenv 3.12.1 and 3.8.18, damaged by tests/damage.py, must never make
# pyleak-core crash, hang or allocate without bound.  Damage:
#   trunc  the core cut at ~30 points: in the ELF header, in the program
#          headers, in the notes (NT_PRSTATUS, NT_FILE), in PT_LOAD data,
#          past every segment;
#   elf    e_phnum/e_phoff/e_phentsize wild, program headers filled with random
#          bytes, PT_LOAD/PT_NOTE sizes and offsets huge or wrapping, notes
#          scrambled (namesz/descsz huge, NT_FILE count 2^60, page size 0, ...);
#   heap   found with `objects --format=jsonl` on the intact core and the
#          PT_LOAD map: ob_type wild/self/NULL/not a type, ob_refcnt huge or
#          negative, ob_size of lists and tuples 2^60 and -1, dict sizes and
#          keys pointers wild, list items wild, containers holding themselves,
#          PyGC_Head links wild, NULL, self, or pointing back so a generation
#          list becomes a ring without its head, generation heads broken, type
#          objects with huge tp_basicsize/tp_itemsize, random words, whole pages.
# Every run is under `timeout 60` and `ulimit -v` 4 GiB (with AddressSanitizer,
# which cannot run so, ASAN_OPTIONS max_allocation_size_mb=4096 and
# allocator_may_return_null=1 instead).  Expected of each run:
#   - no signal (exit >= 128), no timeout (124), done within 30 s;
#   - an exit code from doc/pyleak-core.1 (EXIT STATUS): trunc without --force
#     exactly 3 (0 too when the cut is past every segment), trunc with --force
#     one of 0 3 6 7 8; a program header table that cannot be read, a foreign
#     machine or class, not a core: 3; other elf and heap damage any of
#     0 2 3 4 5 6 7 8 10;
#   - not exit 9 (out of memory) and at most 1 GiB resident: the intact cores
#     need a few tens of MiB, so running out under 4 GiB means a damaged size
#     or count was believed;
#   - exit 0: something on stdout and no stderr line but "pyleak-core: warning:"
#     ones; a truncated core read with --force, and a gc list that does not
#     form a ring through its head, must be reported by a warning;
#   - any other exit: exactly one error line "pyleak-core: ..." on stderr
#     (warnings may come before it).
# Commands on elf and heap damage: info, types, objects --format=jsonl, cycles,
# chain --type builtins.list, referrers ADDR (an object left intact), report.
# On heap damage, `types` must also print the same (stdout and stderr) with
# PYLEAK_THREADS=1 (the census walks each gc list one node at a time) as with
# two threads (in segments; on damage it undoes that and walks one by one).
# The intact core's `cycles` and report must be the same text with one thread
# as with two (the types are met in another order then).
#
# Run by `make check` (automake parallel driver): PYLEAK_SRCDIR, PYLEAK_BUILDDIR
# and PYLEAK_CORE come from AM_TESTS_ENVIRONMENT.  By hand:
#     tests/test_damaged.sh          (from the build directory)
# PYLEAK_DAMAGE_SEED (default 1) changes which objects and bytes are damaged;
# PYLEAK_DAMAGE_KEEP=DIR keeps each damaged core that made a run fail in DIR.
# The cores come from $PYLEAK_BUILDDIR/tests/cores/<name>/cycles when fresh
# (copied under its lock), else tests/mkcore.sh makes them in a temporary
# directory, removed on exit.  A missing interpreter or gdb prints "SKIP ...".
# Prints one PASS/FAIL line per run, then "N passed, M failed"; a FAIL says how
# to rebuild the damaged core.  Exits 1 if anything failed, 77 if it cannot run.

set -u

srcdir=${PYLEAK_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=tests/common.sh
. "$srcdir/tests/common.sh"
builddir=${PYLEAK_BUILDDIR:-$PWD}
bin=${PYLEAK_CORE:-$builddir/pyleak-core}
pyenv_root=${PYENV_ROOT:-/root/.pyenv}
seed=${PYLEAK_DAMAGE_SEED:-1}
py=/usr/bin/python3
damage=$srcdir/tests/damage.py
scenario=$srcdir/testdata/scenarios/cycles.py

mem_kib=$((4 * 1024 * 1024))   # ulimit -v of every run
rss_max_kib=$((1024 * 1024))   # a run above this allocated without bound
slow_s=30                      # a run slower than this fails

cannot_run() {
    echo "SKIP test_damaged: $*"
    exit 77
}
[[ -x $bin ]] || cannot_run "pyleak-core not built ($bin); run make first"
command -v timeout >/dev/null || cannot_run "timeout (coreutils) not found"
[[ -x $py ]] || cannot_run "$py not found (tests/damage.py needs it)"
[[ -f $damage ]] || cannot_run "$damage not found (PYLEAK_SRCDIR=$srcdir)"
[[ -f $srcdir/tests/mkcore.sh ]] || cannot_run "$srcdir/tests/mkcore.sh not found"
[[ -f $scenario ]] || cannot_run "$scenario not found"
[[ $seed =~ ^[0-9]+$ ]] || cannot_run "PYLEAK_DAMAGE_SEED must be a number, not '$seed'"
[[ -n ${EPOCHREALTIME:-} ]] || cannot_run "bash 5 needed (EPOCHREALTIME)"
timer=/usr/bin/time
[[ -x $timer ]] || timer=
# AddressSanitizer (configure --enable-sanitizers) cannot start under ulimit -v:
# its own allocator limit stands in for it (a too large malloc returns NULL).
asan=0
grep -aq __asan_init "$bin" 2>/dev/null && asan=1
if [[ $asan -eq 1 ]]; then
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}allocator_may_return_null=1:max_allocation_size_mb=$((mem_kib / 1024))"
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/pyleak-damaged.XXXXXX") || cannot_run "mktemp -d failed"
# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

npass=0
nfail=0
nskip=0
t_start=${EPOCHREALTIME/./}

skip() {
    echo "SKIP $1: $2"
    nskip=$((nskip + 1))
}
[[ -n $timer ]] || skip "resident-memory check" "/usr/bin/time not installed"

# run ARGS...: pyleak-core ARGS under the limits; sets rc, secs (x.yy), rss (KiB
# or empty); output in $T/out, $T/err.
rc=0 secs=0 rss=
max_us=0 max_us_what='' max_rss=0
run() {
    local t0 t1
    t0=${EPOCHREALTIME/./}
    rc=0
    if [[ -n $timer ]]; then
        (
            ulimit -c 0
            [[ $asan -eq 1 ]] || ulimit -v "$mem_kib"
            exec "$timer" -f '%M' -o "$T/rss" timeout -k 5 60 "$bin" "$@"
        ) >"$T/out" 2>"$T/err" </dev/null || rc=$?
        rss=$(tail -n 1 "$T/rss" 2>/dev/null)
        [[ $rss =~ ^[0-9]+$ ]] || rss=
    else
        (
            ulimit -c 0
            [[ $asan -eq 1 ]] || ulimit -v "$mem_kib"
            exec timeout -k 5 60 "$bin" "$@"
        ) >"$T/out" 2>"$T/err" </dev/null || rc=$?
        rss=
    fi
    t1=${EPOCHREALTIME/./}
    local us=$((t1 - t0))
    secs=$(printf '%d.%02d' $((us / 1000000)) $((us % 1000000 / 10000)))
    if ((us > max_us)); then
        max_us=$us
        max_us_what="$*"
    fi
    [[ -n $rss ]] && ((rss > max_rss)) && max_rss=$rss
    return 0
}

# check NAME CODES WARN REPRO -- ARGS...
#   CODES: allowed exit codes, "3" or "0|3|6|7|8".  WARN: an ERE that some
#   "pyleak-core: warning:" line must match when the exit is 0, or "-".
#   REPRO: how to rebuild the input, printed on failure.
check() {
    local name=$1 codes=$2 warn=$3 repro=$4
    shift 5
    run "$@"
    local -a errs=() warns=() probs=()
    split_stderr "$T/err"
    status_problems "$rc"
    if [[ $rc -eq 9 ]]; then
        probs+=("out of memory under ulimit -v $((mem_kib / 1024)) MiB: a damaged size or count was believed")
    fi
    [[ "|$codes|" == *"|$rc|"* ]] || probs+=("exit code $rc, expected $codes")
    local us=${secs/./}
    ((10#$us <= slow_s * 100)) || probs+=("took $secs s, more than $slow_s s")
    [[ -z $rss || $rss -le $rss_max_kib ]] || probs+=("$((rss / 1024)) MiB resident, more than $((rss_max_kib / 1024)) MiB")
    if [[ $rc -eq 0 ]]; then
        [[ ${#errs[@]} -eq 0 ]] || probs+=("exit 0 but ${#errs[@]} non-warning line(s) on stderr")
        # an empty JSON Lines stream is zero objects: fine if a warning says why
        [[ -s $T/out ]] || [[ " $* " == *" --format=jsonl "* && ${#warns[@]} -gt 0 ]] ||
            probs+=("exit 0 but nothing on stdout")
        if [[ $warn != - ]]; then
            printf '%s\n' ${warns[@]+"${warns[@]}"} | grep -Eq -- "$warn" ||
                probs+=("exit 0 but no warning matching /$warn/ on stderr")
        fi
    elif [[ $rc -lt 124 ]]; then
        [[ ${#errs[@]} -eq 1 ]] || probs+=("${#errs[@]} error lines on stderr, expected exactly 1")
        [[ ${#errs[@]} -eq 0 || ${errs[0]} == "pyleak-core: "* ]] ||
            probs+=("error line does not start with 'pyleak-core: '")
    fi
    if [[ ${#probs[@]} -eq 0 ]]; then
        echo "PASS: $name (exit $rc, $secs s)"
        npass=$((npass + 1))
        return 0
    fi
    echo "FAIL: $name (exit $rc, $secs s)"
    echo "    command: pyleak-core $*"
    local p
    for p in "${probs[@]}"; do
        echo "    - $p"
    done
    echo "    reproduce: $repro"
    echo "    stderr:"
    sed 's/^/      | /' "$T/err" | head -n 6
    nfail=$((nfail + 1))
    return 1
}

# core_for NAME PYTHON DIR: a core of cycles.py under PYTHON in DIR/core, copied
# from the build's cache when fresh (the C tests make it there), else made.
core_for() {
    local name=$1 python=$2 dir=$3 cache=$builddir/tests/cores/$1/cycles
    mkdir -p "$dir"
    if [[ -s $cache/core && -s $cache/meta.txt && -e $cache.lock && ! $scenario -nt $cache/core &&
        ! $srcdir/testdata/oracle.py -nt $cache/core && ! $srcdir/tests/mkcore.sh -nt $cache/core ]] &&
        command -v flock >/dev/null &&
        flock -s "$cache.lock" cp "$cache/core" "$dir/core" 2>/dev/null && [[ -s $dir/core ]]; then
        return 0
    fi
    local err
    err=$(PYLEAK_MKCORE_TIMEOUT=60 bash "$srcdir/tests/mkcore.sh" "$python" "$scenario" "$dir" 2>&1 >/dev/null) || {
        echo "${err:-mkcore.sh failed}" | tail -n 1
        return 1
    }
}

# expand "WORDS" FILE: args=(WORDS) with the word CORE replaced by FILE
args=()
expand() {
    local -a words
    local w
    read -r -a words <<<"$1"
    args=()
    for w in "${words[@]}"; do
        [[ $w == CORE ]] && w=$2
        args+=("$w")
    done
}

have_gdb=1
command -v gdb >/dev/null && command -v setsid >/dev/null || have_gdb=0

for name in 3.12.1-pyenv 3.8.18-pyenv; do
    ver=${name%-pyenv}
    python=$pyenv_root/versions/$ver/bin/python3
    dir=$T/$name
    if [[ ! -x $python ]]; then
        skip "$name" "$python not found"
        continue
    fi
    if [[ $have_gdb -eq 0 && ! -s $builddir/tests/cores/$name/cycles/core ]]; then
        skip "$name" "gdb or setsid not found and no cached core"
        continue
    fi
    if ! why=$(core_for "$name" "$python" "$dir"); then
        skip "$name" "cannot make the core: $why"
        continue
    fi
    core=$dir/core
    dcore=$dir/damaged.core
    # where a failure can be reproduced from: the cached core, or (made here
    # and removed on exit) a new one, whose objects differ
    src=$builddir/tests/cores/$name/cycles/core
    [[ -e $dir/meta.txt ]] && src="<a new core: bash tests/mkcore.sh $python testdata/scenarios/cycles.py DIR; DIR/core>"

    # the intact core reads, and gives the map of the heap
    if ! "$bin" objects --format=jsonl "$core" >"$dir/objects.jsonl" 2>"$dir/err" ||
        ! "$bin" info --layout "$core" >"$dir/layout.txt" 2>>"$dir/err"; then
        echo "FAIL: $name intact core: pyleak-core cannot read it: $(head -n 1 "$dir/err")"
        nfail=$((nfail + 1))
        continue
    fi
    if ! "$py" "$damage" plan "$core" "$dir/objects.jsonl" "$dir/layout.txt" "$seed" >"$dir/plan.tsv" 2>"$dir/err"; then
        echo "FAIL: $name: tests/damage.py plan failed: $(tail -n 1 "$dir/err")"
        nfail=$((nfail + 1))
        continue
    fi
    ref=$(sed -n 's/^# referrers //p' "$dir/plan.tsv")
    [[ $ref =~ ^0x[0-9a-f]+$ ]] || ref=0x1

    # the commands, CORE standing for the core (referrers wants CORE before ADDR)
    cmds=("info CORE" "types CORE" "objects --format=jsonl CORE" "cycles CORE"
        "chain --type builtins.list CORE" "referrers CORE $ref" "CORE")
    # control: every command on the intact core succeeds quietly
    for c in "${cmds[@]}"; do
        expand "$c" "$core"
        label=${c/ CORE/}; [[ $c == CORE ]] && label=report
        check "$name intact: $label" 0 - "the intact core $core" -- "${args[@]}"
    done
    # and says the same with one thread as with two: the types are met in
    # another order then, which no list may show (ties among the cycles'
    # types, gc.garbage's, the inferred ones)
    for c in "cycles CORE" "CORE"; do
        expand "$c" "$core"
        label=${c/ CORE/}; [[ $c == CORE ]] && label=report
        one=$(PYLEAK_THREADS=1 timeout 60 "$bin" "${args[@]}" 2>&1)
        two=$(PYLEAK_THREADS=2 timeout 60 "$bin" "${args[@]}" 2>&1)
        if [[ -n $one && $one == "$two" ]]; then
            npass=$((npass + 1))
        else
            echo "FAIL: $name intact: $label differs with PYLEAK_THREADS=1 and 2; the intact core $core"
            diff <(echo "$one") <(echo "$two") | head -n 6
            nfail=$((nfail + 1))
        fi
    done

    n=0
    while IFS=$'\t' read -r group what expect spec; do
        [[ $group == \#* || -z $group ]] && continue
        n=$((n + 1))
        if ! "$py" "$damage" apply "$core" "$dcore" "$spec" 2>"$dir/err"; then
            echo "FAIL: $name $group: $what: tests/damage.py apply failed: $(tail -n 1 "$dir/err")"
            nfail=$((nfail + 1))
            continue
        fi
        repro="C=$src; pyleak-core objects --format=jsonl \$C >o.jsonl; pyleak-core info --layout \$C >l.txt;"
        repro+=" /usr/bin/python3 tests/damage.py apply \$C damaged.core"
        repro+=" \"\$(/usr/bin/python3 tests/damage.py plan \$C o.jsonl l.txt $seed | sed -n $((n + 1))p | cut -f4)\""
        [[ ${#spec} -le 200 ]] && repro+="  (spec $spec)"
        failed_before=$nfail
        case $group in
            trunc)
                check "$name $what: report" "$expect" - "$repro" -- "$dcore"
                # a cut into the data must be admitted; one past it need not be
                warn=-
                [[ $expect == 3 ]] && warn=truncat
                check "$name $what: report --force" "0|3|6|7|8" "$warn" "$repro" -- --force "$dcore"
                check "$name $what: objects --format=jsonl --force" "0|3|6|7|8" "$warn" "$repro" -- \
                    objects --format=jsonl --force "$dcore"
                ;;
            elf | heap)
                warn=-
                [[ $expect == warn ]] && warn='gc|list|generation|incomplete|walk'
                [[ $expect == warn-size ]] && warn='implausible length or capacity'
                codes="0|2|3|4|5|6|7|8|10"
                [[ $expect =~ ^[0-9|]+$ ]] && codes=$expect
                for c in "${cmds[@]}"; do
                    expand "$c" "$dcore"
                    label=${c/ CORE/}; [[ $c == CORE ]] && label=report
                    check "$name $what: $label" "$codes" "$warn" "$repro" -- "${args[@]}"
                done
                if [[ $group == heap ]]; then
                    one=$(PYLEAK_THREADS=1 timeout 60 "$bin" types "$dcore" 2>&1)
                    two=$(PYLEAK_THREADS=2 timeout 60 "$bin" types "$dcore" 2>&1)
                    if [[ $one == "$two" ]]; then
                        npass=$((npass + 1))
                    else
                        echo "FAIL: $name $what: types differs with PYLEAK_THREADS=1 and 2; $repro"
                        diff <(echo "$one") <(echo "$two") | head -n 6
                        nfail=$((nfail + 1))
                    fi
                fi
                ;;
            *)
                echo "FAIL: $name: bad plan line '$group'"
                nfail=$((nfail + 1))
                ;;
        esac
        if [[ $nfail -gt $failed_before && -n ${PYLEAK_DAMAGE_KEEP:-} ]]; then
            mkdir -p "$PYLEAK_DAMAGE_KEEP" && cp "$dcore" "$PYLEAK_DAMAGE_KEEP/$name-$n.core" &&
                echo "    the damaged core is kept as $PYLEAK_DAMAGE_KEEP/$name-$n.core"
        fi
    done <"$dir/plan.tsv"
    rm -f "$dcore"
    echo "$name: $n damaged cores (seed $seed)"
done

t_end=${EPOCHREALTIME/./}
[[ $nskip -eq 0 ]] || echo "$nskip group(s) of cases skipped (see SKIP lines)"
((npass + nfail == 0)) ||
    echo "total time $(((t_end - t_start) / 1000000)) s; slowest run $((max_us / 1000)) ms (pyleak-core ${max_us_what//$T\//}); most resident $((max_rss / 1024)) MiB"
echo "$npass passed, $nfail failed"
[[ $nfail -eq 0 ]] || exit 1
[[ $npass -gt 0 ]] || exit 77
exit 0
