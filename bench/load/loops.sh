#!/bin/sh
# bench/load/loops.sh - one node with [node] loop_threads = 1 against 2 (or
# LOOPS="1 2 4"): peak GET and durable PUT, closed loop, and the server's
# CPU per request at that peak, in one run, alternating; writes
# bench/results/loops-<date>.md.
#
#   bench/load/loops.sh [-B BUILDDIR] [-o REPORT.md] [-q]
#
# -B  a configured build tree (default $DYNKV_BUILDDIR, else /tmp/b-load)
# -o  report file (default bench/results/loops-YYYY-MM-DD.md)
# -q  quick: short phases, to check that the script works
#
# Per round (ROUNDS, 3) and per loop count L (LOOPS), alternating: a fresh
# node (lsm, sync = true, loop_threads = L); PUT peak: dk_load -m put
# -c CONNS (50) -s VSIZE (10240) --perm, every key new, for PEAK_SECS (8)
# s; then FILL_KEYS (20000) other keys are written once and the GET peak
# reads them (dk_load -m get) for PEAK_SECS after a WARM (2) s warm-up. Around each measured phase the
# node's user+sys CPU (/proc/PID/stat) and context switches are read; per
# request = delta / requests answered. After the GET phase the node's
# dynkv_coord_loop<i>_requests_total say how requests spread over loops.
# The load generator runs on the same machine: on a 2-core machine it
# takes most of one core, so the node has about one core whatever L is.
# An entry COUNT@BUILDDIR of LOOPS runs that build's dynkvd with COUNT
# loops (LOOPS="1 2 2@/tmp/b-before"). Extra dynkvd settings:
# DYNKV_SET="--set node.worker_threads=4 ...".
set -eu

. "$(dirname "$0")/common.sh"
load_opts loops 24 "$@"
LOOPS=${LOOPS:-1 2}
DYNKV_SET=${DYNKV_SET:-}
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
HZ=$(getconf CLK_TCK)

load_tmp load-loops NODE_PID

say "building in $BUILD"
build_all "$BUILD"
RAW=$TMP/raw.txt
: >"$RAW"

# phase NAME PID URL DK_LOAD-ARGS...: run dk_load, print "ops_s cpu_us ctx p99".
phase() {
    ph_name=$1 ph_pid=$2 ph_url=$3
    shift 3
    c0=$(cpu_ticks "$ph_pid") x0=$(ctx "$ph_pid")
    "$DK_LOAD" "$@" "$ph_url" >"$TMP/$ph_name.out" 2>&1 || true
    c1=$(cpu_ticks "$ph_pid") x1=$(ctx "$ph_pid")
    ops=$(field ops "$TMP/$ph_name.out") ok=$(field ok "$TMP/$ph_name.out")
    nf=$(field notfound "$TMP/$ph_name.out")
    done_=$((ok + nf))
    awk -v o="$(field ops_s "$TMP/$ph_name.out")" -v c=$((c1 - c0)) -v x=$((x1 - x0)) -v n="$done_" \
        -v hz="$HZ" -v p="$(field p99_ms "$TMP/$ph_name.out")" \
        'BEGIN { if (n == 0) n = 1; printf "%s %.1f %.2f %s\n", o, c * 1e6 / hz / n, x / n, p }'
    echo "$ph_name: $(grep '^RESULT' "$TMP/$ph_name.out")" >>"$RAW"
    [ "$ops" -gt 0 ] 2>/dev/null || say "$ph_name: no requests answered (see $TMP/$ph_name.out)"
}

round=0
while [ $round -lt "$ROUNDS" ]; do
    round=$((round + 1))
    for E in $LOOPS; do
        # E is a loop count, or COUNT@BUILDDIR: that build's dynkvd (e.g. the
        # commit before a change, for a comparison in the same run)
        case $E in
        *@*) L=${E%%@*} BIN=${E#*@}/server/dynkvd PLUG=${E#*@}/.libs ;;
        *) L=$E BIN=$DYNKVD PLUG=$DYNKV_PLUGIN_PATH ;;
        esac
        PORT=$(free_port 127.0.0.1) || die "no free port"
        TAG=$round-$(echo "$E" | tr -c 'a-zA-Z0-9\n' _)
        D=$TMP/n-$TAG
        mkdir -p "$D"
        # shellcheck disable=SC2086  # DYNKV_SET is a list of words
        DYNKV_PLUGIN_PATH=$PLUG "$BIN" --set node.data_dir="$D/data" --set node.http_listen=127.0.0.1:"$PORT" \
            --set node.rpc_listen=127.0.0.1:$((PORT + 1)) --set node.gossip_listen=127.0.0.1:$((PORT + 2)) \
            --set storage.engine=lsm --set storage.sync=true --set node.loop_threads="$L" $DYNKV_SET \
            >"$D/node.log" 2>&1 &
        NODE_PID=$!
        URL=http://127.0.0.1:$PORT
        wait_health "$URL" "$NODE_PID" "$D/node.log"
        say "round $round, loop_threads = $E"
        put=$(phase "put-$TAG" "$NODE_PID" "127.0.0.1:$PORT" -m put -c "$CONNS" -s "$VSIZE" --perm \
            -k 10000000 -p p- -d "$PEAK_SECS")
        "$DK_LOAD" -m put -c "$CONNS" -s "$VSIZE" --perm -n "$FILL_KEYS" -k "$FILL_KEYS" -p g- \
            "127.0.0.1:$PORT" >/dev/null 2>&1 || true
        "$DK_LOAD" -m get -c "$CONNS" -s "$VSIZE" -k "$FILL_KEYS" -p g- -d "$WARM" "127.0.0.1:$PORT" \
            >/dev/null 2>&1 || true
        get=$(phase "get-$TAG" "$NODE_PID" "127.0.0.1:$PORT" -m get -c "$CONNS" -s "$VSIZE" \
            -k "$FILL_KEYS" -p g- -d "$PEAK_SECS")
        spread=""
        i=0
        while [ $i -lt "$L" ]; do
            v=$(metric "$URL" "dynkv_coord_loop${i}_requests_total")
            spread="$spread${spread:+ / }${v:-0}"
            i=$((i + 1))
        done
        echo "$E $put $get $spread" >>"$TMP/rows"
        echo "loops=$E round=$round put=[$put] get=[$get] per-loop=[$spread]" >>"$RAW"
        kill "$NODE_PID"
        wait "$NODE_PID" 2>/dev/null || true
        NODE_PID=
        rm -rf "$D/data"
    done
done

# ---- report -------------------------------------------------------------------
col() { awk -v l="$1" -v c="$2" '$1 == l { print $c }' "$TMP/rows"; }
{
    echo "# One node, loop_threads $(echo "$LOOPS" | sed 's/ / vs /g') ($(date +%F))"
    echo
    echo "Closed loop, $CONNS connections, $VSIZE-byte values, lsm with sync = true, medians of"
    echo "$ROUNDS rounds (the loop counts alternate within a round). CPU and context switches are"
    echo "the server's, per request answered, at the peak."
    echo
    echo "| loop_threads | PUT/s | PUT p99 ms | CPU µs/PUT | cs/PUT | GET/s | GET p99 ms | CPU µs/GET | cs/GET |"
    echo "|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
    for L in $LOOPS; do
        # shellcheck disable=SC2046  # word lists on purpose
        echo "| $L | $(median $(col "$L" 2)) | $(median $(col "$L" 5)) | $(median $(col "$L" 3)) |" \
            "$(median $(col "$L" 4)) | $(median $(col "$L" 6)) | $(median $(col "$L" 9)) |" \
            "$(median $(col "$L" 7)) | $(median $(col "$L" 8)) |"
    done
    echo
    echo "Requests each loop coordinated during a run (dynkv_coord_loop<i>_requests_total,"
    echo "after the GET phase), per round:"
    echo
    for L in $LOOPS; do
        echo "- loop_threads = $L: $(awk -v l="$L" '$1 == l { s = ""; for (i = 10; i <= NF; i++) s = s " " $i; printf "[%s ] ", s }' "$TMP/rows")"
    done
    echo
    echo "Command: \`bench/load/loops.sh\` (LOOPS=\"$LOOPS\" ROUNDS=$ROUNDS PEAK_SECS=$PEAK_SECS"
    echo "FILL_KEYS=$FILL_KEYS CONNS=$CONNS VSIZE=$VSIZE DYNKV_SET=\"$DYNKV_SET\")."
    echo
    report_tail
} >"$OUT"
say "wrote $OUT"
