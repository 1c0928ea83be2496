#!/bin/sh
# bench/metrics/compare.sh [-B BUILDDIR] [-r ROUNDS] REV - run dk_metrics_bench
# against framework/base/metrics.c as it was at git revision REV ("before")
# and as built in BUILDDIR ("after"), alternating ROUNDS times (default 3) so
# both see the same machine load. The "before" binary links REV's metrics.c
# and header ahead of BUILDDIR's libdynkv.a, so only the registry differs.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$top/_build rounds=3
while getopts B:r: o; do
    case $o in B) build=$OPTARG ;; r) rounds=$OPTARG ;; *) exit 2 ;; esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || { echo "usage: $0 [-B BUILDDIR] [-r ROUNDS] REV" >&2; exit 2; }
rev=$1
after=$build/bench/metrics/dk_metrics_bench
[ -x "$after" ] || { echo "$after is not built (make bench/metrics/dk_metrics_bench)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/dk-metrics-cmp.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$work/base"
git -C "$top" show "$rev:framework/base/metrics.c" >"$work/metrics_old.c"
git -C "$top" show "$rev:framework/base/metrics.h" >"$work/base/metrics.h"
inc="-I$work -I$top/framework/include -I$top/framework -DDK_VERSION=\"cmp\""
cc -O2 -std=gnu11 $inc -c "$work/metrics_old.c" -o "$work/metrics_old.o"
cc -O2 -std=gnu11 $inc -c "$top/bench/metrics/dk_metrics_bench.c" -o "$work/bench.o"
cc -o "$work/before" "$work/bench.o" "$work/metrics_old.o" "$build/framework/.libs/libdynkv.a" \
    "$build/framework/util/.libs/libdkutil.a" $(pkg-config --libs libuv) -lpthread -lm
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
i=1
while [ "$i" -le "$rounds" ]; do
    "$work/before" --ops 2000000 --runs 5 | sed "s/^RESULT /RESULT version=before round=$i /"
    "$after" --ops 2000000 --runs 5 | sed "s/^RESULT /RESULT version=after round=$i /"
    i=$((i + 1))
done
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
