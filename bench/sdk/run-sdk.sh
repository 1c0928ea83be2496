#!/bin/sh
# bench/sdk/run-sdk.sh - libdynkv-client's ring-aware routing against one
# fixed coordinator, on a 3-node cluster of this machine (tools/dynkv-cluster,
# memory engine, n_replicas 2, so a fixed node coordinates a third of the
# keys without holding them), 1 KiB PUT then GET, X-Consistency quorum.
# The two modes alternate ROUNDS times (routed, fixed, routed, ...) in one
# run, so a busy shared machine slows both alike; the report gives each
# run and the ratios of the medians.
#
#   bench/sdk/run-sdk.sh [-B BUILDDIR] [-o REPORT.md] [-q]
#
# -B a built tree (default $DYNKV_BUILDDIR, else ./_build); -o the report
# (default bench/results/sdk-YYYY-MM-DD.md); -q quick (1 s runs, 1 round).
set -eu
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${DYNKV_BUILDDIR:-$SRC/_build}
OUT=$SRC/bench/results/sdk-$(date +%Y-%m-%d).md
SECS=${SECS:-8} ROUNDS=${ROUNDS:-3} THREADS=${THREADS:-8}
while getopts B:o:q o; do
    case $o in
    B) BUILD=$OPTARG ;;
    o) OUT=$OPTARG ;;
    q) SECS=1 ROUNDS=1 ;;
    *) exit 2 ;;
    esac
done
BENCH=$BUILD/bench/sdk/dkc_bench
[ -x "$BENCH" ] || { echo "run-sdk.sh: $BENCH is not built" >&2; exit 1; }
export DYNKV_BUILDDIR="$BUILD"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/dk-sdk-bench.XXXXXX")
CL=$TMP/cluster
CTL="$SRC/tools/dynkv-cluster"
cleanup() {
    set +e
    [ -f "$CL/cluster.json" ] && python3 "$CTL" destroy "$CL" >/dev/null 2>&1
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

python3 "$CTL" create "$CL" --nodes 3 --engine memory --ip-prefix 127.0.32 --base-port 18080 \
    --set cluster.n_replicas=2 >/dev/null
python3 "$CTL" start "$CL" --timeout 60 >"$TMP/start.log" 2>&1 || { cat "$TMP/start.log" >&2; exit 1; }
SEEDS=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(",".join("%s:%d" % (n["ip"], n["http"]) for n in d["nodes"]))' "$CL/cluster.json")
export DKC_CONSISTENCY=quorum
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
"$BENCH" -m routed -t "$THREADS" -d 1 "$SEEDS" >/dev/null          # warm-up, fills keys
: >"$TMP/runs"
i=0
while [ "$i" -lt "$ROUNDS" ]; do
    for m in routed fixed; do
        "$BENCH" -m "$m" -t "$THREADS" -d "$SECS" "$SEEDS" | tee -a "$TMP/runs" >&2
    done
    i=$((i + 1))
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
med() { # med MODE FIELD
    grep "mode=$1 " "$TMP/runs" | sed "s/.* $2=\([0-9.]*\).*/\1/" | sort -n |
        awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'
}
pairs() { # the throughput and p99 ratios of each routed/fixed pair
    sed 's/.*ops_s=\([0-9.]*\).*p99_ms=\([0-9.]*\).*/\1 \2/' "$1" |
        awk 'NR % 2 == 1 {o=$1; p=$2; next} {printf "%s%.2fx ops/s, %.2fx p99", (NR > 2 ? "; " : ""), o/$1, p/$2}'
}
RO=$(med routed ops_s) FO=$(med fixed ops_s) RP=$(med routed p99_ms) FP=$(med fixed p99_ms)
RP50=$(med routed p50_ms) FP50=$(med fixed p50_ms)
{
    echo "# SDK routing vs one fixed coordinator, $(date -u +%Y-%m-%dT%H:%MZ)"
    echo
    echo "3 nodes on one machine ($(nproc) cores, shared; load average $LOAD0 before, $LOAD1 after),"
    echo "memory engine, n_replicas=2, X-Consistency: quorum; $THREADS threads, each with its own"
    echo "SDK handle (keep-alive pool), closed loop of 1 KiB PUT then GET over 10000 keys,"
    echo "$SECS s per run, modes alternated $ROUNDS times. Latency over every request."
    echo
    echo "| mode | ops/s (median) | p50 ms | p99 ms |"
    echo "|---|---|---|---|"
    echo "| routed (SDK ring) | $RO | $RP50 | $RP |"
    echo "| fixed (first seed) | $FO | $FP50 | $FP |"
    echo
    echo "Ratios routed/fixed: throughput $(awk -v a="$RO" -v b="$FO" 'BEGIN{printf "%.2f", a/b}')," \
        "p99 $(awk -v a="$RP" -v b="$FP" 'BEGIN{printf "%.2f", a/b}')."
    echo "Per round (routed/fixed back to back): $(pairs "$TMP/runs")."
    echo
    echo "Runs (\`bench/sdk/run-sdk.sh\`; \`dkc_bench -m MODE -t $THREADS -d $SECS SEEDS\`):"
    echo
    echo '```'
    cat "$TMP/runs"
    echo '```'
} >"$OUT"
echo "run-sdk.sh: wrote $OUT" >&2
