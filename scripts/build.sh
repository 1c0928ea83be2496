#!/usr/bin/env bash
# scripts/build.sh [configure args] - generate, configure and build dynkv in
# ./_build (an out-of-tree build, so the source tree stays clean).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ -x configure ] && [ configure -nt configure.ac ] || autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
mkdir -p _build
cd _build
[ -f Makefile ] || ../configure -q --enable-werror "$@"
make -j"$(nproc)" -s
