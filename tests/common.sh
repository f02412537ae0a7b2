# shellcheck shell=bash
# Shared by the shell tests (sourced). Both read a pyleak-core run's stderr
# and exit status the same way.

# split_stderr FILE: the lines of FILE into the caller's arrays `warns`
# ("pyleak-core: warning: ...") and `errs` (everything else).
split_stderr() {
    local l
    while IFS= read -r l || [[ -n $l ]]; do
        if [[ $l == "pyleak-core: warning: "* ]]; then
            warns+=("$l")
        else
            errs+=("$l")
        fi
    done <"$1"
}

# status_problems RC: append to the caller's array `probs` what the exit
# status says went wrong: a hang (timeout's 124, or 137 after -k) or a signal.
status_problems() {
    if [[ $1 -eq 124 || $1 -eq 137 ]]; then
        probs+=("hung: no exit within 60 s")
    elif [[ $1 -ge 128 ]]; then
        probs+=("killed by signal $(($1 - 128))")
    fi
}
