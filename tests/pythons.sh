#!/usr/bin/env bash
# List the CPython builds the integration tests must run on, one per line:
#     NAME<TAB>PATH        e.g.  3.8.18-pyenv<TAB>/root/.pyenv/versions/3.8.18/bin/python3
#
# Candidates: $PYENV_ROOT/versions/3.*/bin/python3 (PYENV_ROOT defaults to
# /root/.pyenv) with minor version 3.8..3.13, and /usr/bin/python3.11.
# PYLEAK_PYTHONS (colon-separated interpreter paths) replaces the candidates.
#
# A build that is expected but unusable is reported on stderr as
# "SKIP <what>: <reason>" and never skipped silently: a missing pyenv minor
# version, a missing /usr/bin/python3.11, an interpreter that does not run,
# a free-threaded build, or an interpreter whose libpython has no DWARF and
# whose /usr/lib/debug/.build-id/xx/yyyy.debug file is missing.

set -euo pipefail

pyenv_root=${PYENV_ROOT:-/root/.pyenv}
min_minor=8
max_minor=13

skip() {
    echo "SKIP $1: $2" >&2
}

# The ELF that holds the interpreter (libpython if the executable links it
# dynamically, else the executable itself).
runtime_elf() {
    local exe=$1 lib
    lib=$(ldd "$exe" 2>/dev/null | awk '$1 ~ /^libpython3/ && $3 ~ /^\// {print $3; exit}') || true
    if [[ -n $lib ]]; then
        readlink -f "$lib"
    else
        readlink -f "$exe"
    fi
}

# Succeeds if ELF file $1 has DWARF, or its build-id debug file exists.
# Otherwise prints the reason.
check_debuginfo() {
    local elf=$1 id dbg
    if readelf -S -W "$elf" 2>/dev/null | grep -q '[[:space:]]\.debug_info[[:space:]]'; then
        return 0
    fi
    id=$(readelf -n "$elf" 2>/dev/null | awk '/Build ID:/ {print $3; exit}') || true
    if [[ -z $id ]]; then
        echo "$elf has no DWARF and no build-id"
        return 1
    fi
    dbg=/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug
    if [[ ! -s $dbg ]]; then
        echo "$elf has no DWARF and its debug file $dbg is missing"
        return 1
    fi
    return 0
}

# Prints "VERSION MINOR GIL_DISABLED" for interpreter $1, or fails.
probe() {
    "$1" -c 'import sys, sysconfig
print(sys.version.split()[0], sys.version_info[1], 1 if sysconfig.get_config_var("Py_GIL_DISABLED") else 0)' 2>/dev/null
}

# flavour of a path: pyenv, debian or local
flavour() {
    local real
    real=$(readlink -f "$1")
    if [[ $1 == "$pyenv_root"/versions/* || $real == "$(readlink -f "$pyenv_root")"/versions/* ]]; then
        echo pyenv
    elif [[ $1 == /usr/bin/* && -e /etc/debian_version ]]; then
        echo debian
    else
        echo local
    fi
}

declare -a lines=()

# consider INTERPRETER [LABEL]: prints the line or a SKIP
consider() {
    local py=$1 what=${2:-$1} info version minor ft elf why
    if [[ ! -x $py ]]; then
        skip "$what" "$py not found or not executable"
        return 0
    fi
    if ! info=$(probe "$py") || [[ -z $info ]]; then
        skip "$what" "$py does not run"
        return 0
    fi
    read -r version minor ft <<<"$info"
    if ((minor < min_minor || minor > max_minor)); then
        skip "$version ($py)" "minor version outside 3.$min_minor-3.$max_minor"
        return 0
    fi
    if [[ $ft == 1 ]]; then
        skip "$version ($py)" "free-threaded build (no PyGC_Head), not supported"
        return 0
    fi
    elf=$(runtime_elf "$py")
    if ! why=$(check_debuginfo "$elf"); then
        skip "$version ($py)" "$why"
        return 0
    fi
    lines+=("$(printf '%s-%s\t%s' "$version" "$(flavour "$py")" "$py")")
}

if [[ -n ${PYLEAK_PYTHONS:-} ]]; then
    IFS=: read -r -a paths <<<"$PYLEAK_PYTHONS"
    for py in "${paths[@]}"; do
        [[ -n $py ]] && consider "$py"
    done
else
    declare -A seen_minor=()
    shopt -s nullglob
    for py in "$pyenv_root"/versions/3.*/bin/python3; do
        before=${#lines[@]}
        consider "$py"
        if ((${#lines[@]} > before)); then
            v=${lines[-1]%%-*}
            m=${v#3.}
            seen_minor[${m%%.*}]=1
        fi
    done
    shopt -u nullglob
    for ((m = min_minor; m <= max_minor; m++)); do
        [[ -n ${seen_minor[$m]:-} ]] || skip "pyenv 3.$m" "no usable $pyenv_root/versions/3.$m.*/bin/python3"
    done
    consider /usr/bin/python3.11 "debian python3.11"
fi

((${#lines[@]})) && printf '%s\n' "${lines[@]}" | sort -t. -k1,1n -k2,2n -k3,3n
exit 0
