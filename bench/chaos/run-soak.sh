#!/bin/sh
# bench/chaos/run-soak.sh - N rounds of the fault soak (bench/chaos/chaos.py),
# each in private PID and network namespaces, then a tally; by hand only
# (not in `make check`). Needs root (unshare -n, iptables) and a built tree.
#
#   bench/chaos/run-soak.sh [-B BUILDDIR] [-n ROUNDS] [-s SEED] [-d SECS]
#                           [-o DIR] [-- CHAOS.PY OPTIONS...]
#
# -B  a built dynkv tree (default $DYNKV_BUILDDIR)
# -n  rounds (default 6: one pass over the schedule below)
# -s  seed of the first round (default: the time); round i uses SEED+i
# -d  seconds of load and faults per round (default 60); a round takes
#     about this plus 1-2 minutes to start, heal, settle and check
# -o  output folder (default /tmp/dynkv-soak-YYYYMMDD-HHMMSS): rNNN-*/ per
#     round (events.log, report.json, node logs), summary.txt, tally.txt
# Options after -- go to every chaos.py (e.g. -- --settle 60 --keep).
#
# Round i follows line i mod 6 of this schedule (resolver, fault kinds,
# fault threads, max clock skew in ms):
#   0 vclock  wipe,kill9,stop,graceful,partition                     1  0
#   1 lww     all nine kinds                                         1  1500
#   2 vclock  all nine kinds                                         2  0
#   3 lww     kill9,stop,graceful,partition,oneway                   2  3000
#   4 vclock  wipe,crashloop,killall,split                           1  0
#   5 lww     wipe,kill9,stop,split                                  1  0
# Exit status: 0 when no round had a violation, harness error or log alert.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${DYNKV_BUILDDIR:-}
ROUNDS=6 SEED=$(date +%s) DUR=60 OUT=
while getopts B:n:s:d:o:h opt; do
    case $opt in
    B) BUILD=$OPTARG ;;
    n) ROUNDS=$OPTARG ;;
    s) SEED=$OPTARG ;;
    d) DUR=$OPTARG ;;
    o) OUT=$OPTARG ;;
    h) sed -n '2,26p' "$0"; exit 0 ;;
    *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
if [ -z "$BUILD" ] || [ ! -x "$BUILD/server/dynkvd" ]; then
    echo "run-soak.sh: no dynkvd under '$BUILD': give -B BUILDDIR or set DYNKV_BUILDDIR" >&2
    exit 2
fi
BUILD=$(cd "$BUILD" && pwd)
[ "$(id -u)" = 0 ] || { echo "run-soak.sh: needs root (unshare -n, iptables)" >&2; exit 2; }
OUT=${OUT:-/tmp/dynkv-soak-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
ALL=kill9,stop,graceful,partition,oneway,crashloop,wipe,split,killall

i=0
while [ "$i" -lt "$ROUNDS" ]; do
    seed=$((SEED + i))
    case $((i % 6)) in
    0) res=vclock faults=wipe,kill9,stop,graceful,partition fl=1 skew=0 ;;
    1) res=lww faults=$ALL fl=1 skew=1500 ;;
    2) res=vclock faults=$ALL fl=2 skew=0 ;;
    3) res=lww faults=kill9,stop,graceful,partition,oneway fl=2 skew=3000 ;;
    4) res=vclock faults=wipe,crashloop,killall,split fl=1 skew=0 ;;
    5) res=lww faults=wipe,kill9,stop,split fl=1 skew=0 ;;
    esac
    dir=$OUT/r$(printf %03d "$i")-$res-s$seed
    echo "== $(date -u +%H:%M:%S) round $i: seed $seed, $res, faults $faults, $fl fault threads, skew $skew ms; load $(cut -d' ' -f1-3 /proc/loadavg)"
    rc=0
    timeout $((DUR * 3 + 600)) nice -n 19 unshare -n -p -f --kill-child --mount-proc \
        python3 "$HERE/chaos.py" -B "$BUILD" --seed "$seed" --resolver "$res" --faults "$faults" \
        --faulters "$fl" --skew "$skew" --duration "$DUR" --out "$dir" "$@" >"$dir.stdout" 2>&1 || rc=$?
    if [ -f "$dir/report.json" ]; then
        sum="rc=$rc $(python3 "$HERE/report.py" line "$dir")"
    else
        sum="rc=$rc $(basename "$dir"): no report; $dir.stdout ends: $(tail -1 "$dir.stdout")"
    fi
    echo "$sum" | tee -a "$OUT/summary.txt"
    i=$((i + 1))
done
echo "== $(date -u +%H:%M:%S) tally ($OUT/tally.txt); load $(cut -d' ' -f1-3 /proc/loadavg)"
rc=0
python3 "$HERE/report.py" tally "$OUT/r*" >"$OUT/tally.txt" || rc=$?
cat "$OUT/tally.txt"
exit $rc
