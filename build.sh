#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine (run as root, or with sudo
# available for the package step):
#   ./build.sh demo   install dependencies, build, run the bundled leaky demo
#   ./build.sh test   install dependencies, build, run the whole test suite
#   ./build.sh deps   only install dependencies
#   ./build.sh sanitize   the whole test suite again under ASan+UBSan, in a
#                     separate clone (reusing the cores the tests made)
#   ./build.sh fuzz [SECONDS]   replay fuzz/regressions, then each fuzzer briefly
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(gcc make autoconf automake libtool pkg-config binutils
          libelf-dev libdw-dev libgraphviz-dev check gdb python3 python3.11-dbg
          zstd lz4 xz-utils gzip libzstd-dev liblz4-dev liblzma-dev zlib1g-dev valgrind
          clang libclang-rt-14-dev)

deps() {
	local missing=()
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "build.sh: installing ${missing[*]}" >&2
	local sudo=()
	[ "$(id -u)" -eq 0 ] || sudo=(sudo)
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
}

build() {
	[ -x configure ] || ./autogen.sh >/dev/null
	[ -f Makefile ] || ./configure -q
	make -j"$(nproc)"
}

# An in-tree configured source directory cannot also host an out-of-tree
# build, so the sanitizer build gets its own clone of the committed tree.
sanitize() {
	local dir
	dir=$(mktemp -d /tmp/pyleak-san.XXXXXX)
	git clone -q . "$dir/src"
	mkdir -p tests/cores
	ln -s "$PWD/tests/cores" "$dir/src/tests/cores"
	(cd "$dir/src" && ./autogen.sh >/dev/null && ./configure -q --enable-sanitizers &&
	 make -j"$(nproc)" >/dev/null && make -j"$(nproc)" check) || {
		tail -100 "$dir"/src/tests/*.log
		return 1
	}
	rm -rf "$dir"
}

case "${1:-}" in
deps) deps ;;
demo) deps; build; make demo ;;
test) deps; build; make -j"$(nproc)" check ;;
sanitize) deps; sanitize ;;
fuzz) deps; build; bash fuzz/run.sh regress && bash fuzz/run.sh all "${2:-20}" ;;
*) echo "usage: ./build.sh demo|test|deps|sanitize|fuzz [SECONDS]" >&2; exit 2 ;;
esac
