#!/usr/bin/env bash
# Compressed cores end to end: a real core compressed with the zstd, lz4, xz
# and gzip command-line tools must read exactly as the plain core (same
# `types` and `info` output, nothing on stderr), whatever the file is called;
# cut in half it is a truncated core (exit 3, or --force); damaged it is
# exit 3 with one line naming the format.  See doc/pyleak-core.1.
#
# Run by `make check` (automake parallel driver): PYLEAK_SRCDIR, PYLEAK_BUILDDIR
# and PYLEAK_CORE come from AM_TESTS_ENVIRONMENT.  By hand:
#     tests/test_compressed.sh          (from the build directory)
#
# The core is the smallest one cached in $PYLEAK_BUILDDIR/tests/cores/*/*/
# (made by the C tests) whose interpreter (meta.txt: executable=) is here,
# copied under its lock; else tests/mkcore.sh makes one of cycles.py under the
# first build tests/pythons.sh lists; without either the test cannot run
# (exit 77).  A missing compression tool prints "SKIP <case>: <reason>".  Prints one PASS/FAIL line
# per case, then "N passed, M failed"; exits 1 if anything failed.

set -u

srcdir=${PYLEAK_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=tests/common.sh
. "$srcdir/tests/common.sh"
builddir=${PYLEAK_BUILDDIR:-$PWD}
bin=${PYLEAK_CORE:-$builddir/pyleak-core}

cannot_run() {
    echo "SKIP test_compressed: $*"
    exit 77
}
[[ -x $bin ]] || cannot_run "pyleak-core not built ($bin); run make first"
command -v timeout >/dev/null || cannot_run "timeout (coreutils) not found"

# the smallest cached core whose interpreter exists
src='' exe='' best=''
for meta in "$builddir"/tests/cores/*/*/meta.txt; do
    [[ -f $meta ]] || continue
    dir=${meta%/meta.txt}
    [[ -s $dir/core ]] || continue
    py=$(sed -n 's/^executable=//p' "$meta" | head -n 1)
    [[ -n $py && -x $py ]] || continue
    size=$(stat -c %s "$dir/core" 2>/dev/null) || continue
    if [[ -z $best || $size -lt $best ]]; then
        best=$size src=$dir exe=$py
    fi
done

T=$(mktemp -d "${TMPDIR:-/tmp}/pyleak-compressed.XXXXXX") || cannot_run "mktemp -d failed"
# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

if [[ -n $src ]]; then
    if command -v flock >/dev/null && [[ -e $src.lock ]]; then
        flock -s "$src.lock" cp "$src/core" "$T/core" || cannot_run "cannot copy $src/core"
    else
        cp "$src/core" "$T/core" || cannot_run "cannot copy $src/core"
    fi
    echo "core: $src/core ($best bytes), $exe"
else
    if ! command -v gdb >/dev/null || ! command -v setsid >/dev/null; then
        cannot_run "no core in $builddir/tests/cores/*/*/ with its interpreter, and no gdb to make one"
    fi
    exe=$(bash "$srcdir/tests/pythons.sh" 2>/dev/null | head -n 1 | cut -f 2)
    [[ -n $exe ]] || cannot_run "no core in $builddir/tests/cores/*/*/ and no usable CPython (tests/pythons.sh)"
    err=$(PYLEAK_MKCORE_TIMEOUT=60 bash "$srcdir/tests/mkcore.sh" "$exe" \
        "$srcdir/testdata/scenarios/cycles.py" "$T/made" 2>&1 >/dev/null) ||
        cannot_run "cannot make a core under $exe: $(tail -n 1 <<<"${err:-mkcore.sh failed}")"
    mv "$T/made/core" "$T/core"
    echo "core: made with tests/mkcore.sh, $exe"
fi

npass=0
nfail=0
nskip=0

skip() {
    echo "SKIP $1: $2"
    nskip=$((nskip + 1))
}

# run ARGS...: pyleak-core ARGS; sets rc, output in $T/out and $T/err.
rc=0
run() {
    rc=0
    timeout -k 5 60 "$bin" "$@" >"$T/out" 2>"$T/err" </dev/null || rc=$?
}

result() {
    local name=$1
    shift
    if [[ $# -eq 0 ]]; then
        echo "PASS: $name (exit $rc)"
        npass=$((npass + 1))
        return 0
    fi
    echo "FAIL: $name"
    local p
    for p in "$@"; do
        echo "    - $p"
    done
    echo "    exit $rc; stderr:"
    sed 's/^/      | /' "$T/err" | head -n 10
    nfail=$((nfail + 1))
    return 1
}

# same NAME FILE: `types` and `info` of FILE as of the plain core.
same() {
    local name=$1 file=$2 what
    local -a probs=()
    for what in types info; do
        if [[ $what == types ]]; then
            run types --top=5 "$file" "$exe"
        else
            run info "$file" "$exe"
        fi
        status_problems "$rc"
        [[ $rc -eq 0 ]] || probs+=("$what: exit $rc, expected 0")
        [[ -s $T/err ]] && probs+=("$what: $(wc -l <"$T/err") line(s) on stderr, expected none")
        sed "s|$file|CORE|g" "$T/out" >"$T/out.$what"
        cmp -s "$T/out.$what" "$T/plain.$what" ||
            probs+=("$what: output differs from the plain core's: $(diff "$T/plain.$what" "$T/out.$what" | head -n 3 | tr '\n' ' ')")
    done
    result "$name" ${probs[@]+"${probs[@]}"}
}

# fails NAME CODES FILE ERE... -- ARGS: exit in CODES, exactly one error line
# naming FILE and matching every ERE ("any:ERE": some line of stderr).
fails() {
    local name=$1 codes=$2 file=$3
    shift 3
    local -a res=()
    while [[ $1 != -- ]]; do
        res+=("$1")
        shift
    done
    shift
    run "$@"
    local -a errs=() warns=() probs=()
    split_stderr "$T/err"
    status_problems "$rc"
    [[ "|$codes|" == *"|$rc|"* ]] || probs+=("exit code $rc, expected $codes")
    if [[ $rc -ne 0 ]]; then
        [[ ${#errs[@]} -eq 1 ]] || probs+=("${#errs[@]} error lines on stderr, expected exactly 1")
        [[ ${#errs[@]} -eq 0 || ${errs[0]} == "pyleak-core: "* ]] ||
            probs+=("error line does not start with 'pyleak-core: '")
        [[ -s $T/out ]] && probs+=("$(wc -c <"$T/out") bytes on stdout, expected none")
    fi
    local re
    for re in "${res[@]}"; do
        if [[ $re == any:* ]]; then
            grep -Eq -- "${re#any:}" "$T/err" || probs+=("stderr does not match /${re#any:}/")
        elif [[ $rc -ne 0 ]]; then
            grep -Eq -- "$re" <<<"${errs[0]:-}" || probs+=("error line does not match /$re/")
        fi
    done
    [[ $rc -eq 0 ]] || grep -Fq -- "$file" <<<"${errs[0]:-}" || probs+=("error line does not name $file")
    result "$name" ${probs[@]+"${probs[@]}"}
}

# the plain core: the reference
run types --top=5 "$T/core" "$exe"
[[ $rc -eq 0 && -s $T/out ]] || cannot_run "the plain core does not read (exit $rc): $(head -n 1 "$T/err")"
sed "s|$T/core|CORE|g" "$T/out" >"$T/plain.types"
run info "$T/core" "$exe"
[[ $rc -eq 0 ]] || cannot_run "info on the plain core fails (exit $rc): $(head -n 1 "$T/err")"
sed "s|$T/core|CORE|g" "$T/out" >"$T/plain.info"

# tool, file name, how (stdin to stdout; from a pipe, so no declared size)
cases=(
    "zstd core.zst zstd -q -c"
    "lz4 core.lz4 lz4 -q -c"
    "xz core.xz xz -0 -T1 -c"
    "gzip core.gz gzip -1 -c"
)
for c in "${cases[@]}"; do
    read -r tool file cmd <<<"$c"
    if ! command -v "$tool" >/dev/null; then
        skip "$tool-compressed core" "$tool not installed"
        continue
    fi
    # shellcheck disable=SC2086  # cmd is words
    if ! $cmd <"$T/core" >"$T/$file" 2>"$T/err"; then
        skip "$tool-compressed core" "$tool failed: $(head -n 1 "$T/err")"
        continue
    fi
    same "$tool-compressed core ($file)" "$T/$file"
done

if command -v zstd >/dev/null; then
    # the size in the frame header (a file, not a pipe), and no telling name
    zstd -q -c "$T/core" >"$T/core.dump"
    same "zstd with its content size, named core.dump" "$T/core.dump"
    # several frames, as `cat a.zst b.zst`
    size=$(stat -c %s "$T/core")
    { head -c $((size / 2)) "$T/core" | zstd -q -c; tail -c +$((size / 2 + 1)) "$T/core" | zstd -q -c; } >"$T/frames.zst"
    same "zstd, two frames" "$T/frames.zst"
    # cut in half: a truncated core (as in test_badinput.sh, the executable is
    # the core's: a cut core may have lost the notes that name it)
    zsize=$(stat -c %s "$T/core.zst")
    head -c $((zsize / 2)) "$T/core.zst" >"$T/half.zst"
    fails "zstd-compressed core cut in half" 3 "$T/half.zst" 'truncated' -- types "$T/half.zst"
    fails "zstd-compressed core cut in half, --force" "0|3|6|7|8" "$T/half.zst" 'any:truncat' -- \
        types --force --top=5 "$T/half.zst"
    # damaged in the middle
    cp "$T/core.zst" "$T/bad.zst"
    printf '\252\125\000\377\252\125\000\377' | dd of="$T/bad.zst" bs=1 seek=$((zsize / 2)) conv=notrunc 2>/dev/null
    fails "zstd-compressed core damaged in the middle" 3 "$T/bad.zst" 'zstd' 'corrupt|truncated' -- info "$T/bad.zst"
else
    skip "zstd frames, cut and damaged zstd cores" "zstd not installed"
fi

if command -v gzip >/dev/null; then
    size=$(stat -c %s "$T/core")
    { head -c $((size / 3)) "$T/core" | gzip -1 -c; tail -c +$((size / 3 + 1)) "$T/core" | gzip -1 -c; } >"$T/members.gz"
    same "gzip, two members" "$T/members.gz"
    gsize=$(stat -c %s "$T/core.gz")
    cp "$T/core.gz" "$T/bad.gz"
    printf '\252\125\000\377\252\125\000\377' | dd of="$T/bad.gz" bs=1 seek=$((gsize / 2)) conv=notrunc 2>/dev/null
    fails "gzip-compressed core damaged in the middle" 3 "$T/bad.gz" 'gzip' 'corrupt|truncated' -- info "$T/bad.gz"
else
    skip "gzip members, damaged gzip core" "gzip not installed"
fi

[[ $nskip -eq 0 ]] || echo "$nskip case(s) skipped (see SKIP lines)"
echo "$npass passed, $nfail failed"
[[ $nfail -eq 0 ]]
