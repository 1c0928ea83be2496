#!/usr/bin/env bash
# bench/run-engines.sh - run dk_bench over every engine plugin that is built
# (lsm, rocksdb, leveldb, lmdb; memory only when asked) with identical
# settings, and write a Markdown table with the ratios lsm / RocksDB to
# bench/results/engines-<date>.md. See bench/README.md.
#
# usage: bench/run-engines.sh [-B BUILDDIR] [-o OUT.md] [-q]
#   -B BUILDDIR  build tree holding bench/engine/dk_bench and .libs/ ($DYNKV_BUILDDIR or .)
#   -o OUT.md    output file (default <srcdir>/bench/results/engines-<UTC date>.md)
#   -q           quick: sizes divided by 20, to check the script itself
# Environment overrides (defaults in brackets): ENGINES [lsm rocksdb leveldb lmdb],
# NUM_100 [400000], NUM_1024 [200000], NUM_10240 [50000], SEEK_DIV [20],
# SYNC_NUM [20000], SYNC_VALUE [10240], SYNC_THREADS [1 8], VALUE_SIZES [100 1024 10240:
# the unsynced runs; "" for the durable writes only], CACHE [33554432],
# BLOOM [10], CODEC [none], SEED [301], BENCH_TMP [/tmp], RUN_TIMEOUT [600],
# MEM_LIMIT [2G: every dk_bench runs in a memory cgroup of that size, 0: none;
# see bench/mem-bound.sh].
set -u
here=$(cd "$(dirname "$0")" && pwd)
builddir=${DYNKV_BUILDDIR:-.}
out=
quick=0
while getopts B:o:q opt; do
    case $opt in
    B) builddir=$OPTARG ;;
    o) out=$OPTARG ;;
    q) quick=1 ;;
    *) sed -n '2,15p' "$0" >&2; exit 2 ;;
    esac
done
builddir=$(cd "$builddir" && pwd)
bin=$builddir/bench/engine/dk_bench
plugins=${DYNKV_PLUGIN_PATH:-$builddir/.libs}
[ -x "$bin" ] || { echo "run-engines: $bin not built (make bench/engine/dk_bench)" >&2; exit 2; }

ENGINES=${ENGINES:-lsm rocksdb leveldb lmdb}
NUM_100=${NUM_100:-400000}
NUM_1024=${NUM_1024:-200000}
NUM_10240=${NUM_10240:-50000}
SEEK_DIV=${SEEK_DIV:-20}
SYNC_NUM=${SYNC_NUM:-20000}
SYNC_VALUE=${SYNC_VALUE:-10240}
SYNC_THREADS=${SYNC_THREADS:-1 8}
VALUE_SIZES=${VALUE_SIZES-100 1024 10240}
CACHE=${CACHE:-33554432}
BLOOM=${BLOOM:-10}
CODEC=${CODEC:-none}
SEED=${SEED:-301}
RUN_TIMEOUT=${RUN_TIMEOUT:-600}
if [ "$quick" = 1 ]; then
    NUM_100=$((NUM_100 / 20)) NUM_1024=$((NUM_1024 / 20)) NUM_10240=$((NUM_10240 / 20))
    SYNC_NUM=$((SYNC_NUM / 20))
fi
date=$(date -u +%Y-%m-%d)
[ -n "$out" ] || out=$here/results/engines-$date.md
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d "${BENCH_TMP:-/tmp}/dk-run-engines.XXXXXX") || exit 1
. "$here/mem-bound.sh"
trap 'rm -rf "$tmp"; mem_unbound' EXIT
trap 'exit 130' INT TERM
mem_bound
raw=$tmp/results.txt
: >"$raw"
# The LSM engine's compaction is unthrottled, as before its rate limit became an
# engine option with a 64 MiB/s default (other engines ignore [engine.lsm]).
common="--plugin-dir $plugins --key-size 100 --cache-size $CACHE --bloom-bits $BLOOM --codec $CODEC --seed $SEED --set engine.lsm.compaction_rate_limit=0"
started=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
t_start=$(date +%s)

present=
missing=
for e in $ENGINES; do
    if [ -f "$plugins/engine-$e.so" ]; then present="$present $e"; else missing="$missing $e"; fi
done
[ -n "$present" ] || { echo "run-engines: no engine plugin of [$ENGINES] in $plugins" >&2; exit 2; }
# Which build of each plugin ran: engines change under active development.
fingerprints=
for f in $(for e in $present; do echo "engine-$e.so"; done) compaction-leveled.so; do
    [ -f "$plugins/$f" ] || continue
    fingerprints="$fingerprints
  - $f: built $(date -u -r "$plugins/$f" '+%Y-%m-%d %H:%M:%S UTC'), sha256 $(sha256sum "$plugins/$f" | cut -c1-16)"
done

# One dk_bench process; its RESULT lines go to $raw, a failure becomes a
# FAILED line that the table shows instead of numbers.
run() { # engine label args...
    local e=$1 label=$2
    shift 2
    echo "== $e $label: dk_bench --engine $e $* $common" >&2
    timeout "$RUN_TIMEOUT" "$bin" --engine "$e" --db "$tmp/db-$e" $common "$@" \
        >"$tmp/log" 2>"$tmp/err"
    local rc=$?
    grep '^RESULT ' "$tmp/log" | sed "s/^RESULT /RESULT label=$label /" >>"$raw"
    grep -v '^RESULT ' "$tmp/log" >&2
    if [ "$rc" -ne 0 ]; then
        echo "FAILED engine=$e label=$label rc=$rc $(tail -n 3 "$tmp/err" | tr '\n' ' ')" >>"$raw"
        tail -n 20 "$tmp/err" >&2
    fi
    rm -rf "$tmp/db-$e"
}

for e in $present; do
    for vs in $VALUE_SIZES; do
        eval "num=\${NUM_$vs:-$NUM_10240}"
        run "$e" "v$vs" --benchmarks fillrandom,readrandom,readmissing,seekrandom,overwrite \
            --num "$num" --value-size "$vs" --seeks $((num / SEEK_DIV)) --sync 0 --threads 1
    done
    for t in $SYNC_THREADS; do
        run "$e" "sync-t$t" --benchmarks fillrandom --num "$SYNC_NUM" --value-size "$SYNC_VALUE" \
            --sync 1 --threads "$t" --final-compact 0
    done
done
t_end=$(date +%s)
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

pkgs=$(dpkg-query -W -f '${Package} ${Version}\n' 'librocksdb*' 'libleveldb*' 'liblmdb*' 2>/dev/null |
       awk 'NF == 2 { print "    " $0 }')
commit=$(git -C "$here/.." rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$here/.." status --porcelain 2>/dev/null | wc -l)
{
    echo "# Engine benchmark, $date"
    echo
    echo "Made by \`bench/run-engines.sh\` ($((t_end - t_start)) s, started $started). Read"
    echo "\`bench/README.md\` for what each column means; compare ratios within this run only."
    echo
    echo "## Setup"
    echo
    echo "- Command: \`$0 $*\` with ENGINES=\"$ENGINES\" NUM_100=$NUM_100 NUM_1024=$NUM_1024"
    echo "  NUM_10240=$NUM_10240 SEEK_DIV=$SEEK_DIV SYNC_NUM=$SYNC_NUM SYNC_VALUE=$SYNC_VALUE"
    echo "  SYNC_THREADS=\"$SYNC_THREADS\" VALUE_SIZES=\"$VALUE_SIZES\" CACHE=$CACHE BLOOM=$BLOOM CODEC=$CODEC SEED=$SEED"
    echo "- Each engine and value size is one process:"
    echo "  \`dk_bench --engine E --benchmarks fillrandom,readrandom,readmissing,seekrandom,overwrite"
    echo "  --num N --value-size V --seeks N/$SEEK_DIV --sync 0 --threads 1 $common\`"
    echo "  (N = $NUM_100 / $NUM_1024 / $NUM_10240 for V = 100 / 1024 / 10240); durable writes:"
    echo "  \`dk_bench --engine E --benchmarks fillrandom --num $SYNC_NUM --value-size $SYNC_VALUE"
    echo "  --sync 1 --threads T --final-compact 0\` for T in $SYNC_THREADS."
    echo "- Engines run:${present:- none}; not built:${missing:- none}. Plugins:$fingerprints"
    echo "- Machine: $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)),"
    echo "  $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, kernel $(uname -r),"
    echo "  $(df -T "${BENCH_TMP:-/tmp}" | awk 'NR == 2 {print $2 " on " $1}') under ${BENCH_TMP:-/tmp};"
    echo "  load average $load_start at the start, $load_end at the end (shared machine)."
    echo "- Memory bound of every dk_bench (MEM_LIMIT): $MEM_BOUND."
    echo "- dynkv commit $commit ($dirty files modified or untracked in the working tree)."
    echo "- Libraries (dpkg-query):"
    echo
    echo "$pkgs"
    echo
    awk -v present="$present" -v missing="$missing" -f "$here/engine/results-table.awk" "$raw"
    echo
    echo "## Raw RESULT lines"
    echo
    echo '```'
    cat "$raw"
    echo '```'
} >"$out"
echo "run-engines: wrote $out" >&2
