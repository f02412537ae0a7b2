#!/usr/bin/env bash
# Bad input: every way a user can hand pyleak-core the wrong thing must end in
# the documented exit code (doc/pyleak-core.1, EXIT STATUS) and exactly one
# line "pyleak-core: <reason>" on stderr that names the offending file (or what
# is missing) and says what to do, with nothing on stdout and no crash or hang.
#
# Run by `make check` (automake parallel driver): PYLEAK_SRCDIR, PYLEAK_BUILDDIR
# and PYLEAK_CORE come from AM_TESTS_ENVIRONMENT.  By hand:
#     tests/test_badinput.sh          (from the build directory)
#
# Inputs are made in a temporary directory, removed on exit: small files, cores
# of testdata/scenarios/cache_growth.py under pyenv 3.12 and Debian's
# /usr/bin/python3.11 (tests/mkcore.sh), a gcore of `sleep`, and a gcore of a
# Python process blocked in a __del__ inside gc.collect().  A case whose input
# cannot be made here (no gdb, no such interpreter, no python3.11-dbg) prints
# "SKIP <case>: <reason>".  Prints one PASS/FAIL line per case, then
# "N passed, M failed"; exits 1 if anything failed, 77 if it cannot run at all.

set -u

srcdir=${PYLEAK_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=tests/common.sh
. "$srcdir/tests/common.sh"
builddir=${PYLEAK_BUILDDIR:-$PWD}
bin=${PYLEAK_CORE:-$builddir/pyleak-core}
pyenv_root=${PYENV_ROOT:-/root/.pyenv}

cannot_run() {
    echo "SKIP test_badinput: $*"
    exit 77
}
[[ -x $bin ]] || cannot_run "pyleak-core not built ($bin); run make first"
command -v timeout >/dev/null || cannot_run "timeout (coreutils) not found"
[[ -f $srcdir/tests/mkcore.sh ]] || cannot_run "$srcdir/tests/mkcore.sh not found (PYLEAK_SRCDIR=$srcdir)"

T=$(mktemp -d "${TMPDIR:-/tmp}/pyleak-badinput.XXXXXX") || cannot_run "mktemp -d failed"
bg_pids=()   # background processes we started (sleep, the gc blocker), not yet reaped
stop_bg() {
    local p
    for p in ${bg_pids[@]+"${bg_pids[@]}"}; do
        # the gc blocker leads its own session (setsid): kill its group
        { kill -KILL -- "-$p" || kill -KILL "$p"; wait "$p"; } 2>/dev/null
    done
    bg_pids=()
}
# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
    stop_bg
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

npass=0
nfail=0
nskip=0

skip() {
    echo "SKIP $1: $2"
    nskip=$((nskip + 1))
}

# Patterns for the next check, each a string with a prefix:
#   re:ERE    the error line matches ERE (grep -E)
#   has:TEXT  the error line contains TEXT (fixed string, e.g. a file name)
#   any:ERE   some line of stderr (error or warning) matches ERE
#   once:ERE  exactly one line of stderr matches ERE
#   out:ERE   stdout matches ERE (success cases)
want=()

# check [-w] NAME CODES -- ARGS...
#   CODES: the allowed exit codes, "3" or "0|3|8".  -w: "pyleak-core: warning:"
#   lines are allowed in addition to the one error line.  Exit 0 means no error
#   line and something on stdout; any other code means exactly one error line
#   and an empty stdout.  Always: exit code < 128 and no timeout.
check() {
    local warn=0
    if [[ $1 == -w ]]; then
        warn=1
        shift
    fi
    local name=$1 codes=$2
    shift 3
    local rc=0
    timeout -k 5 60 "$bin" "$@" >"$T/out" 2>"$T/err" </dev/null || rc=$?
    local -a errs=() warns=() probs=()
    split_stderr "$T/err"
    status_problems "$rc"
    [[ "|$codes|" == *"|$rc|"* ]] || probs+=("exit code $rc, expected $codes")
    if [[ $rc -eq 0 ]]; then
        [[ ${#errs[@]} -eq 0 ]] || probs+=("exit 0 but ${#errs[@]} non-warning line(s) on stderr")
        [[ -s $T/out ]] || probs+=("exit 0 but nothing on stdout")
    else
        [[ ${#errs[@]} -eq 1 ]] || probs+=("${#errs[@]} error lines on stderr, expected exactly 1")
        [[ ${#errs[@]} -eq 0 || ${errs[0]} == "pyleak-core: "* ]] ||
            probs+=("error line does not start with 'pyleak-core: '")
        [[ -s $T/out ]] && probs+=("$(wc -c <"$T/out") bytes on stdout, expected none")
    fi
    [[ $warn -eq 1 || ${#warns[@]} -eq 0 ]] || probs+=("${#warns[@]} unexpected warning line(s)")
    local w line=${errs[0]:-}
    for w in ${want[@]+"${want[@]}"}; do
        case $w in
            re:*) [[ $rc -eq 0 ]] || grep -Eq -- "${w#re:}" <<<"$line" ||
                    probs+=("error line does not match /${w#re:}/") ;;
            has:*) [[ $rc -eq 0 ]] || grep -Fq -- "${w#has:}" <<<"$line" ||
                    probs+=("error line does not name '${w#has:}'") ;;
            any:*) grep -Eq -- "${w#any:}" "$T/err" || probs+=("stderr does not match /${w#any:}/") ;;
            once:*) local n
                n=$(grep -Ec -- "${w#once:}" "$T/err" || true)
                [[ $n -eq 1 ]] || probs+=("$n lines of stderr match /${w#once:}/, expected 1") ;;
            out:*) [[ $rc -ne 0 ]] || grep -Eq -- "${w#out:}" "$T/out" ||
                    probs+=("stdout does not match /${w#out:}/") ;;
            *) probs+=("bad pattern '$w' in the test") ;;
        esac
    done
    want=()
    if [[ ${#probs[@]} -eq 0 ]]; then
        echo "PASS: $name (exit $rc)"
        npass=$((npass + 1))
        return 0
    fi
    echo "FAIL: $name"
    echo "    command: pyleak-core $*"
    local p
    for p in "${probs[@]}"; do
        echo "    - $p"
    done
    echo "    exit $rc; stderr:"
    sed 's/^/      | /' "$T/err" | head -n 10
    if [[ $rc -ne 0 && -s $T/out ]]; then
        echo "    stdout (head):"
        sed 's/^/      | /' "$T/out" | head -n 5
    fi
    nfail=$((nfail + 1))
    return 1
}

# mkcore PYTHON OUTDIR: a core of cache_growth.py under PYTHON in OUTDIR/core.
# Prints mkcore's error line and fails if it could not be made.
mkcore() {
    local err
    err=$(PYLEAK_MKCORE_TIMEOUT=30 bash "$srcdir/tests/mkcore.sh" "$1" \
        "$srcdir/testdata/scenarios/cache_growth.py" "$2" 2>&1 >/dev/null) || {
        echo "${err:-mkcore.sh failed}" | tail -n 1
        return 1
    }
}

first() {
    local f
    for f in "$@"; do
        [[ -x $f ]] && { echo "$f"; return 0; }
    done
    return 1
}

have_gdb=1
command -v gdb >/dev/null || have_gdb=0
command -v setsid >/dev/null || have_gdb=0   # mkcore.sh needs it too

# ---------------------------------------------------------------- 1. usage (2)

want=('re:usage|--help' 're:no core')
check "no arguments" 2 --
want=('has:--bogus' 're:--help')
check "unknown option" 2 -- --bogus "$T/x"
want=('has:xml' 're:text.*json.*jsonl.*markdown')
check "unknown --format" 2 -- --format=xml "$T/x"
want=('has:third' 're:at most CORE and EXECUTABLE|usage|--help')
check "a third positional argument" 2 -- "$T/x" "$T/y" third
want=('has:abc' 're:number')
check "--top not a number" 2 -- --top=abc "$T/x"
want=('has:--jobs' 're:triage only')
check "--jobs outside triage" 2 -- --jobs=2 "$T/x"
want=('has:--timeout' 'has:stacks' 're:triage only')
check "--timeout outside triage" 2 -- stacks --timeout=5 "$T/x"

# ------------------------------------------------------- 2. not a core (3)

want=("has:$T/nosuch" 're:[Nn]o such file' 're:give|check|path of')
check "CORE does not exist" 3 -- "$T/nosuch"
mkdir "$T/adir"
want=("has:$T/adir" 're:not a regular file' 're:give')
check "CORE is a directory" 3 -- "$T/adir"
want=('has:/dev/null' 're:not a regular file' 're:give')
check "CORE is /dev/null" 3 -- /dev/null
mkfifo "$T/fifo" 2>/dev/null && {
    want=("has:$T/fifo" 're:not a regular file' 're:give')
    check "CORE is a FIFO (must not block)" 3 -- "$T/fifo"
}
: >"$T/empty"
want=("has:$T/empty" 're:empty' 're:ulimit -c|core_pattern')
check "empty file" 3 -- "$T/empty"
printf 'this is not a core\n' >"$T/text.txt"
want=("has:$T/text.txt" 're:not an ELF' 're:give')
check "text file" 3 -- "$T/text.txt"
printf '\177ELF\002\001\001\000\000\000' >"$T/ten"
want=("has:$T/ten" 're:truncated|too short|shorter' 're:give|copy|again|re-?take|whole')
check "10-byte file starting with \\177ELF" 3 -- "$T/ten"
# compressed cores (systemd-coredump writes .zst) are read directly, found by
# their magic: a magic and a few bytes of garbage are damaged or cut short
# data (or, in a build without the library, the package to install)
printf '\037\213\010\000\000\000\000\000\000\003compressed' >"$T/core.gz"
want=("has:$T/core.gz" 're:gzip' 're:corrupt|truncated|zlib1g-dev' 're:copy|again|give|install')
check "gzip magic, then garbage" 3 -- "$T/core.gz"
printf '\050\265\057\375\000\000compressed' >"$T/core.zst"
want=("has:$T/core.zst" 're:zstd' 're:corrupt|truncated|libzstd-dev' 're:copy|again|give|install')
check "zstd magic, then garbage (systemd-coredump)" 3 -- "$T/core.zst"
printf '\375\067\172\130\132\000' >"$T/magic.xz"
want=("has:$T/magic.xz" 're:xz' 're:corrupt|truncated|liblzma-dev' 're:copy|again|give|install')
check "xz magic alone" 3 -- "$T/magic.xz"
printf '\004\042\115\030' >"$T/magic.lz4"
want=("has:$T/magic.lz4" 're:lz4' 're:corrupt|truncated|liblz4-dev' 're:copy|again|give|install')
check "lz4 magic alone" 3 -- "$T/magic.lz4"
want=('has:ls' 're:not a core dump' 're:give the core')
check "/bin/ls (ELF executable, not a core)" 3 -- /bin/ls

# ---------------------------------------------------- Python cores (pyenv 3.12)

py312=$(first "$pyenv_root"/versions/3.12.*/bin/python3) || py312=
py311=$(first "$pyenv_root"/versions/3.11.*/bin/python3.11) || py311=
core312=
if [[ $have_gdb -eq 0 ]]; then
    skip "pyenv 3.12 core cases" "gdb or setsid not found"
elif [[ -z $py312 ]]; then
    skip "pyenv 3.12 core cases" "no $pyenv_root/versions/3.12.*/bin/python3"
elif ! why=$(mkcore "$py312" "$T/p312"); then
    skip "pyenv 3.12 core cases" "cannot make the core: $why"
else
    core312=$T/p312/core
fi

if [[ -n $core312 ]]; then
    # sanity: the intact core reads
    want=('out:3\.12')
    check "intact pyenv 3.12 core (control)" 0 -- info "$core312"

    # 3. truncated
    size=$(stat -c %s "$core312")
    head -c $((size / 2)) "$core312" >"$T/half.core"
    want=("has:$T/half.core" 're:truncated' 're:--force')
    check "core truncated to half" 3 -- "$T/half.core"
    # --force: a documented code, no crash; stderr must say the core is truncated
    # (a warning on success, or the error line if the rest cannot be read).
    want=('any:truncat')
    check -w "core truncated to half, --force" "0|3|6|7|8" -- --force "$T/half.core"
    want=('any:truncat')
    check -w "core truncated to half, types --force" "0|3|6|7|8" -- types --force "$T/half.core"

    # 4. right core, wrong executable
    if [[ -n $py311 ]]; then
        id311=$(readelf -n "$(readlink -f "$py311")" 2>/dev/null | awk '/Build ID:/ {print $3; exit}')
        want=("has:$(readlink -f "$py311")" 're:build-id [0-9a-f]{40}.*build-id [0-9a-f]{40}' 're:give|same build')
        [[ -n $id311 ]] && want+=("has:$id311")
        check "pyenv 3.12 core, pyenv 3.11 executable" 4 -- "$core312" "$py311"
    else
        skip "pyenv 3.12 core, pyenv 3.11 executable" "no $pyenv_root/versions/3.11.*/bin/python3.11"
    fi
    if [[ -x /usr/bin/python3.11 ]]; then
        want=('has:/usr/bin/python3.11' 're:build-id' 're:give|same build')
        check "pyenv 3.12 core, Debian /usr/bin/python3.11 executable" 4 -- "$core312" /usr/bin/python3.11
    else
        skip "pyenv 3.12 core, Debian /usr/bin/python3.11 executable" "/usr/bin/python3.11 not installed"
    fi
    want=("has:$T/nosuch-python3" 're:give|copy|--sysroot')
    check "pyenv 3.12 core, EXECUTABLE does not exist" 4 -- "$core312" "$T/nosuch-python3"
    want=("has:$T/adir" 're:give|copy|--sysroot')
    check "pyenv 3.12 core, EXECUTABLE is a directory" 4 -- "$core312" "$T/adir"

    # 7. the core's files are not on disk where it says (empty sysroot)
    mkdir "$T/emptyroot"
    want=("has:$T/emptyroot" 're:python3\.12|libpython3\.12' 're:--sysroot|copy')
    check "pyenv 3.12 core, --sysroot to an empty dir" 4 -- "$core312" --sysroot "$T/emptyroot"
fi

# kernel-written core (notes first), truncated: only where core_pattern allows it
if [[ -n $core312 ]]; then
    pattern=$(cat /proc/sys/kernel/core_pattern 2>/dev/null) || pattern=
    if [[ $pattern != core && $pattern != core.%p ]]; then
        skip "kernel core truncated to half, --force" "kernel.core_pattern is '$pattern', not 'core'"
    elif ! why=$(PYLEAK_MKCORE_TIMEOUT=30 bash "$srcdir/tests/mkcore.sh" "$py312" \
        "$srcdir/testdata/scenarios/cache_growth.py" "$T/k312" --kernel 2>&1 >/dev/null); then
        skip "kernel core truncated to half, --force" "cannot make the core: $(tail -n 1 <<<"$why")"
    else
        size=$(stat -c %s "$T/k312/core")
        head -c $((size / 2)) "$T/k312/core" >"$T/khalf.core"
        want=("has:$T/khalf.core" 're:truncated' 're:--force')
        check "kernel core truncated to half" 3 -- "$T/khalf.core"
        want=('any:truncat')
        check -w "kernel core truncated to half, --force" "0|3|6|7|8" -- --force "$T/khalf.core"
    fi
fi

# ------------------------------------- 5. Debian python3.11 without debug info

deb=/usr/bin/python3.11
debcore=
if [[ ! -x $deb ]]; then
    skip "Debian python3.11 cases (missing debug info, --debug-dir)" "$deb not installed"
elif [[ $have_gdb -eq 0 ]]; then
    skip "Debian python3.11 cases (missing debug info, --debug-dir)" "gdb or setsid not found"
else
    id=$(readelf -n "$deb" 2>/dev/null | awk '/Build ID:/ {print $3; exit}')
    if [[ -z $id ]]; then
        skip "Debian python3.11 cases (missing debug info, --debug-dir)" "no build-id in $deb (readelf missing?)"
    elif [[ ! -s /usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug ]]; then
        skip "Debian python3.11 cases (missing debug info, --debug-dir)" "python3.11-dbg not installed (no /usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug)"
    elif ! why=$(mkcore "$deb" "$T/deb311"); then
        skip "Debian python3.11 cases (missing debug info, --debug-dir)" "cannot make the core: $why"
    else
        debcore=$T/deb311/core
    fi
fi
if [[ -n $debcore ]]; then
    mkdir -p "$T/sysroot/usr/bin"
    cp "$deb" "$T/sysroot/usr/bin/python3.11"
    want=("has:$T/sysroot/usr/bin/python3.11" 'has:python3.11-dbg' 'has:--debug-dir' "has:$id")
    check "Debian 3.11 core, --sysroot without /usr/lib/debug" 5 -- "$debcore" --sysroot "$T/sysroot"
    want=('out:3\.11\.')
    check "Debian 3.11 core, --sysroot, --debug-dir /usr/lib/debug" 0 -- \
        "$debcore" --sysroot "$T/sysroot" --debug-dir /usr/lib/debug
    if [[ -n $py312 ]]; then
        want=("has:$(readlink -f "$py312")" 're:build-id' 're:give|same build')
        check "Debian 3.11 core, pyenv 3.12 executable" 4 -- "$debcore" "$py312"
    else
        skip "Debian 3.11 core, pyenv 3.12 executable" "no $pyenv_root/versions/3.12.*/bin/python3"
    fi
fi

# --------------------------------------------------- 6. not a Python process

if [[ $have_gdb -eq 0 ]]; then
    skip "core of sleep (not Python)" "gdb not found"
else
    sleep 30 &
    sleep_pid=$!
    bg_pids=("$sleep_pid")
    if timeout -k 5 30 gdb -batch -nx -iex 'set debuginfod enabled off' -iex 'set auto-load off' \
        -p "$sleep_pid" -ex "gcore $T/sleep.core" >"$T/gdb-sleep.log" 2>&1 </dev/null &&
        [[ -s $T/sleep.core ]]; then
        stop_bg
        want=("has:$T/sleep.core" 'has:sleep' 're:not .*(CPython|Python)' 're:give|use|take')
        check "gcore of sleep 30 (not a Python process)" 6 -- "$T/sleep.core"
    else
        skip "core of sleep (not Python)" "gcore failed: $(tail -n 1 "$T/gdb-sleep.log")"
    fi
    stop_bg
fi

# ------------------------------------------- core taken during gc.collect() (7)
# A cycle whose __del__ blocks: gc.collect() finds it unreachable, calls the
# finalizer while gcstate->collecting is set, and the finalizer announces
# itself (writes its pid to a file) and sleeps; gcore takes the core then.

gcpy=$py312
[[ -z $gcpy && -n $debcore ]] && gcpy=$deb   # Debian's, with python3.11-dbg
if [[ $have_gdb -eq 0 || -z $gcpy ]]; then
    skip "core taken during gc" "needs gdb, and pyenv 3.12 or Debian python3.11 with python3.11-dbg"
else
    cat >"$T/block_in_gc.py" <<'EOF'
import gc, os, sys, time

class Blocker:
    def __del__(self):
        tmp = sys.argv[1] + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(tmp, sys.argv[1])
        time.sleep(120)

gc.disable()
b = Blocker()
b.self = b
del b
gc.collect()
EOF
    setsid "$gcpy" "$T/block_in_gc.py" "$T/gc.ready" >"$T/gc.log" 2>&1 </dev/null &
    gc_pid=$!
    bg_pids=("$gc_pid")
    for _ in $(seq 200); do
        [[ -s $T/gc.ready ]] && break
        kill -0 "$gc_pid" 2>/dev/null || break
        sleep 0.05
    done
    if [[ ! -s $T/gc.ready ]]; then
        skip "core taken during gc" "the blocking script did not start: $(tail -n 1 "$T/gc.log")"
    elif ! timeout -k 5 30 gdb -batch -nx -iex 'set debuginfod enabled off' -iex 'set auto-load off' \
        -p "$(cat "$T/gc.ready")" -ex "gcore $T/gc.core" >"$T/gdb-gc.log" 2>&1 </dev/null ||
        [[ ! -s $T/gc.core ]]; then
        skip "core taken during gc" "gcore failed: $(tail -n 1 "$T/gdb-gc.log")"
    else
        stop_bg
        want=("has:$T/gc.core" 're:garbage collector|collection' 're:--force')
        check "core taken during gc: types" 7 -- types "$T/gc.core"
        want=("has:$T/gc.core" 're:garbage collector|collection' 're:--force')
        check "core taken during gc: report" 7 -- "$T/gc.core"
        want=('out:3\.1[0-9]\.')
        check -w "core taken during gc: info" 0 -- info "$T/gc.core"
        want=('any:collection' 'out:[0-9]')
        check -w "core taken during gc: types --force" 0 -- types --force --top=0 "$T/gc.core"
        # the report's census is staged for the graph build; forced on a core
        # taken mid-collection it falls back, and says so once
        want=('once:during a collection' 'out:unreachable')
        check -w "core taken during gc: report --force" 0 -- --force "$T/gc.core"
        want=('out:running the garbage collector' 'out:__del__ at .*block_in_gc.py:9')
        check "core taken during gc: stacks (no census needed)" 0 -- stacks "$T/gc.core"
    fi
    stop_bg
fi

# ------------------------------------------------------------------- summary

[[ $nskip -eq 0 ]] || echo "$nskip group(s) of cases skipped (see SKIP lines)"
echo "$npass passed, $nfail failed"
[[ $nfail -eq 0 ]]
