#!/usr/bin/env bash
# Build the libFuzzer targets (clang) and run them.
#
#   fuzz/run.sh TARGET|all [SECONDS]   fuzz each for SECONDS (default 60)
#   fuzz/run.sh regress [TARGET]       run the saved reproducers once each
#                                      (those named ubsan-* without
#                                      fuzz/ubsan.supp)
#   fuzz/run.sh build                  only build
#
# TARGET is fuzz_elfcore, fuzz_addrspace, fuzz_escape, fuzz_heap or
# fuzz_decompress. Builds go to fuzz/build/ (objects, binaries, the growing
# corpora, logs); crashing inputs to fuzz/crashes/. Prints "TARGET: N executions, M seconds" per
# target and the total, and appends them to fuzz/build/runs.tsv. Exits 1 if
# a target crashed (or, for regress, if a reproducer still fails).
#
# fuzz_heap needs a real core of a CPython process and the files it names
# (libpython with debug info): PYLEAK_FUZZ_CORE, else
# tests/cores/3.12.1-pyenv/cycles/core, else the first tests/cores/*/cycles/core
# (made by `make check`); without one it prints SKIP.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

ALL=(fuzz_elfcore fuzz_addrspace fuzz_escape fuzz_heap fuzz_decompress)
out=$top/fuzz/build
crashes=$top/fuzz/crashes

usage() {
	echo "usage: fuzz/run.sh TARGET|all [SECONDS] | regress [TARGET] | build" >&2
	echo "targets: ${ALL[*]}" >&2
	exit 2
}

is_target() {
	local t
	for t in "${ALL[@]}"; do
		[ "$t" = "$1" ] && return 0
	done
	return 1
}

build() {
	if ! command -v "${CC:-clang}" >/dev/null; then
		echo "fuzz/run.sh: clang is needed (apt-get install clang)" >&2
		exit 2
	fi
	mkdir -p "$out/logs"
	make -s -f fuzz/fuzz.mk -j"$(nproc)" CC="${CC:-clang}" OUT="$out" >"$out/logs/make.log" 2>&1 || {
		cat "$out/logs/make.log" >&2
		echo "fuzz/run.sh: build failed" >&2
		exit 2
	}
}

# The base core of fuzz_heap, or nothing.
heap_core() {
	if [ -n "${PYLEAK_FUZZ_CORE:-}" ]; then
		echo "$PYLEAK_FUZZ_CORE"
		return
	fi
	local c
	for c in tests/cores/3.12.1-pyenv/cycles/core tests/cores/*/cycles/core; do
		if [ -f "$c" ]; then
			echo "$top/$c"
			return
		fi
	done
}

total_execs=0
total_secs=0
failed=0

run_one() {
	local t=$1 secs=$2
	local log=$out/logs/$t.log corpus=$out/corpus/$t
	mkdir -p "$out/logs" "$corpus" "$crashes"
	local env=(UBSAN_OPTIONS="suppressions=$top/fuzz/ubsan.supp:halt_on_error=1:print_stacktrace=1")
	local extra=()
	if [ "$t" = fuzz_heap ]; then
		local core
		core=$(heap_core)
		if [ -z "$core" ] || [ ! -f "$core" ]; then
			echo "$t: SKIP (no base core: ${core:-none of tests/cores/*/cycles/core} missing;" \
			     "run 'make check' to make them, or set PYLEAK_FUZZ_CORE)"
			return
		fi
		env+=(PYLEAK_FUZZ_CORE="$core")
		# slow (a few runs a second): let inputs hold up to 32 patches at
		# once instead of growing the length limit from the seeds' 33 bytes
		extra=(-max_len=513 -len_control=0)
	fi
	local start rc=0
	start=$(date +%s)
	env "${env[@]}" "$out/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-malloc_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$crashes/$t-" \
		${extra[@]+"${extra[@]}"} "$corpus" "$top/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
	local elapsed=$(($(date +%s) - start))
	if [ "$t" = fuzz_heap ] && [ "$rc" -eq 2 ] && ! grep -q INITED "$log"; then
		echo "$t: SKIP ($(grep -m1 '^fuzz_heap:' "$log" || echo "could not start; see $log"))"
		return
	fi
	# "#123456	DONE   cov: 181 ft: 265 ..." at the end, or the last status
	# line when the run stopped early.
	local execs cov
	execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n1)
	[ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9][0-9]*\)[[:space:]].*/\1/p' "$log" | tail -n1)
	cov=$(sed -n 's/^#[0-9][0-9]*[[:space:]].*cov: \([0-9]*\).*/\1/p' "$log" | tail -n1)
	execs=${execs:-0}
	total_execs=$((total_execs + execs))
	total_secs=$((total_secs + elapsed))
	local status=ok
	if [ "$rc" -ne 0 ]; then
		status=CRASHED
		failed=1
	fi
	local note=""
	[ "$status" = ok ] || note=", $status"
	echo "$t: $execs executions, $elapsed seconds (cov ${cov:-?})$note"
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$t" "$execs" \
		"$elapsed" "${cov:-}" "$status" >>"$out/runs.tsv"
	if [ "$rc" -ne 0 ]; then
		grep -E 'ERROR|FUZZ CHECK FAILED|runtime error|SUMMARY|Test unit written' "$log" |
			head -n 8 | sed 's/^/    /'
		echo "    full log: $log"
	fi
}

regress() {
	local t f rc
	for t in "$@"; do
		[ -d "fuzz/regressions/$t" ] || continue
		local env=()
		if [ "$t" = fuzz_heap ]; then
			local core
			core=$(heap_core)
			if [ -z "$core" ] || [ ! -f "$core" ]; then
				echo "$t: SKIP (no base core)"
				continue
			fi
			env+=(PYLEAK_FUZZ_CORE="$core")
		fi
		for f in "fuzz/regressions/$t"/*; do
			[ -f "$f" ] || continue
			# a UBSan reproducer runs without the suppressions, the others
			# with them (so that a known UBSan report does not mask them)
			local ubsan=halt_on_error=1:print_stacktrace=1
			case "${f##*/}" in
			ubsan-*) ;;
			*) ubsan="suppressions=$top/fuzz/ubsan.supp:$ubsan" ;;
			esac
			rc=0
			env "${env[@]}" UBSAN_OPTIONS="$ubsan" "$out/$t" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
				"$f" >"$out/logs/regress.log" 2>&1 || rc=$?
			if [ "$rc" -eq 0 ]; then
				echo "$f: pass"
			else
				echo "$f: FAIL"
				grep -E 'ERROR|FUZZ CHECK FAILED|runtime error|SUMMARY' "$out/logs/regress.log" |
					head -n 4 | sed 's/^/    /'
				failed=1
			fi
		done
	done
}

[ $# -ge 1 ] || usage
mkdir -p "$out/logs"
case "$1" in
build)
	build
	exit 0
	;;
regress)
	build
	if [ $# -ge 2 ]; then
		is_target "$2" || usage
		regress "$2"
	else
		regress "${ALL[@]}"
	fi
	exit "$failed"
	;;
all)
	targets=("${ALL[@]}")
	;;
*)
	is_target "$1" || usage
	targets=("$1")
	;;
esac
secs=${2:-60}
case "$secs" in
'' | *[!0-9]*) usage ;;
esac
build
for t in "${targets[@]}"; do
	run_one "$t" "$secs"
done
echo "total: $total_execs executions, $total_secs seconds"
exit "$failed"
