#!/bin/sh
# bench/load/run-node.sh - one dynkvd (lsm engine, sync=true, every other
# setting at its default) against one Redis with `appendfsync always`, 10 KiB
# values, on this machine; writes bench/results/node-<date>.md.
#
#   bench/load/run-node.sh [-B BUILDDIR] [-o REPORT.md] [-q]
#
# -B  a configured build tree (default $DYNKV_BUILDDIR, else /tmp/b-load);
#     the script builds the node, the plugins and dk_load there with a
#     make -j2 all bench/load/dk_load (see bench/load/README.md).
# -o  report file (default bench/results/node-YYYY-MM-DD.md in the source tree)
# -q  quick: tiny sizes, to check that the script works (about 40 s)
#
# What runs (about 5 minutes; every process and temp dir is removed at exit):
#  1. ROUNDS (3) alternating peak runs: dk_load closed loop, 50 connections,
#     PUT of a new key each time, PEAK_SECS (8) s with 1 s warm-up; then
#     redis-benchmark -t set -c 50 -d 10240. The medians are the peaks.
#  2. dk_load open loop at half the dynkv PUT peak for OPEN_SECS (15) s:
#     latency from the intended send time (coordinated-omission safe); then,
#     once the node is idle, the same open loop against Redis (dk_load
#     --redis: RESP, same keys, values and clock) at that rate and at half
#     of Redis's own peak.
#  3. FILL_KEYS (20000) keys loaded into each, then ROUNDS of GET peak
#     (dk_load) and redis-benchmark -t get, then GET open loops: dynkv at
#     half its peak, Redis at that rate and at half of its own peak.
#  During every open loop a sampler (common.sh: sampler_start) records the
#  server's and dk_load's threads (CPU time and run-queue wait) and the
#  machine's pressure stalls every 100 ms; the report lists them per second
#  beside the latency, to attribute a stalled second, and in total.
# Redis's peaks are redis-benchmark's (closed loop); its open-loop rows tell
# how much of a tail this machine (2 shared cores, a slow disk) makes alone.
# Extra dynkvd settings: DYNKV_SET="--set engine.lsm.group_commit_window_us=0 ...".
set -eu

. "$(dirname "$0")/common.sh"
load_opts node 28 "$@"
if [ "$QUICK" = 1 ]; then
    REDIS_SET_N=${REDIS_SET_N:-3000} REDIS_GET_N=${REDIS_GET_N:-10000}
else
    REDIS_SET_N=${REDIS_SET_N:-40000} REDIS_GET_N=${REDIS_GET_N:-150000}
fi
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
DYNKV_SET=${DYNKV_SET:-}

load_tmp load-node NODE_PID REDIS_PID

say "building in $BUILD"
build_all "$BUILD"
need_redis redis-server redis-benchmark

# ---- dynkvd ---------------------------------------------------------------
PORT=$(free_port 127.0.0.1) || die "no free port"
URL=http://127.0.0.1:$PORT
mkdir -p "$TMP/node"
NODE_CMD="dynkvd --set node.data_dir=DATA --set node.http_listen=127.0.0.1:$PORT --set node.rpc_listen=127.0.0.1:$((PORT + 1)) --set node.gossip_listen=127.0.0.1:$((PORT + 2)) --set storage.engine=lsm --set storage.sync=true $DYNKV_SET"
# shellcheck disable=SC2086  # DYNKV_SET is a list of words
"$DYNKVD" --set node.data_dir="$TMP/node/data" --set node.http_listen=127.0.0.1:"$PORT" \
    --set node.rpc_listen=127.0.0.1:$((PORT + 1)) --set node.gossip_listen=127.0.0.1:$((PORT + 2)) \
    --set storage.engine=lsm --set storage.sync=true $DYNKV_SET >"$TMP/node.log" 2>&1 &
NODE_PID=$!
wait_health "$URL" "$NODE_PID" "$TMP/node.log"

RAW=$TMP/raw.txt
: >"$RAW"
# load_to TARGET NAME ARGS...: run dk_load against TARGET, keep its output.
load_to() {
    target=$1 name=$2
    shift 2
    echo "\$ dk_load $* $target" >>"$RAW"
    "$DK_LOAD" "$@" "$target" >"$TMP/$name.out" 2>&1 || true
    grep -v '^INTERVAL' "$TMP/$name.out" >>"$RAW"
    grep -q '^RESULT' "$TMP/$name.out" || { cat "$TMP/$name.out" >&2; die "dk_load $name failed"; }
}
# load NAME ARGS...: dk_load against the node; rload: against Redis (RESP).
load() { load_to "127.0.0.1:$PORT" "$@"; }
rload() {
    rl_name=$1
    shift
    load_to "127.0.0.1:$RPORT" "$rl_name" --redis "$@"
}
# open_run NAME PID ARGS...: an open loop (dk_load -i ARGS) against the node
# (PID $NODE_PID) or Redis (PID $REDIS_PID), with the sampler watching PID
# and the generator.
open_run() {
    or_name=$1 or_pid=$2
    shift 2
    sampler_start "$or_pid" "$TMP/$or_name.samples"
    if [ "$or_pid" = "$NODE_PID" ]; then load "$or_name" "$@" -i; else rload "$or_name" "$@" -i; fi
    sampler_stop
}
snap() { # snap FILE: the engine and HTTP counters now
    curl -s --max-time 5 "$URL/metrics" | grep -E '^dynkv_(engine_lsm_(wal_syncs|wal_syncs_le_[0-9]+ms|write_groups|write_slowdowns|flushes|compactions|wal_switches|wal_switches_prepared|group_commit_waits|group_commit_early_ends)_total|engine_lsm_(write_stall|compaction_paced|wal_switch|wal_sync|group_commit_wait)_seconds_total|engine_lsm_wal_sync_max_seconds|engine_lsm_l0_files|http_requests_total)' >"$1" || true
}
cval() { awk -v k="$1" 'index($0, k) == 1 { v = $NF } END { print v + 0 }' "$2"; }

# ---- redis ----------------------------------------------------------------
start_redis
REDIS_CMD="redis-server --port $RPORT --bind 127.0.0.1 --dir DIR $REDIS_ARGS"
# rbench NAME TEST N: redis-benchmark, CSV; prints "rps p50 p99 max".
rbench() {
    echo "\$ redis-benchmark -p PORT -d $VSIZE -c $CONNS -t $2 -n $3 -r $FILL_KEYS --csv" >>"$RAW"
    redis-benchmark -h 127.0.0.1 -p "$RPORT" -d "$VSIZE" -c "$CONNS" -t "$2" -n "$3" \
        -r "$FILL_KEYS" --csv >"$TMP/$1.csv" 2>/dev/null || die "redis-benchmark failed"
    cat "$TMP/$1.csv" >>"$RAW"
    awk -F'"' 'NR == 2 { print $4, $10, $14, $16 }' "$TMP/$1.csv"
}

# ---- 1. PUT peak ----------------------------------------------------------
snap "$TMP/m0"
DK_PUT='' RD_SET='' r=1
while [ $r -le "$ROUNDS" ]; do
    say "PUT peak round $r"
    load put-peak-$r -m put -c "$CONNS" -d "$PEAK_SECS" -w 1 --perm -k 100000000 -p "p$r-" -s "$VSIZE"
    DK_PUT="$DK_PUT $(field ops_s "$TMP/put-peak-$r.out")"
    # shellcheck disable=SC2046  # rbench prints four words
    set -- $(rbench set-$r set "$REDIS_SET_N")
    RD_SET="$RD_SET $1"
    r=$((r + 1))
done
PUT_PEAK=$(median $DK_PUT)
SET_PEAK=$(median $RD_SET)
# The round that gave the median, for its latency columns.
for r in $(seq 1 "$ROUNDS"); do
    [ "$(field ops_s "$TMP/put-peak-$r.out")" = "$PUT_PEAK" ] && PUT_MED=$r
    [ "$(awk -F'"' 'NR == 2 { print $4 }' "$TMP/set-$r.csv")" = "$SET_PEAK" ] && SET_MED=$r
done

# ---- 2. PUT at half of peak, open loop -------------------------------------
PUT_HALF=$(half "$PUT_PEAK")
SET_HALF=$(half "$SET_PEAK")
say "PUT open loop at $PUT_HALF/s"
snap "$TMP/m0o"
open_run put-open "$NODE_PID" -m put -c "$CONNS" -R "$PUT_HALF" -d "$OPEN_SECS" -w "$WARM" --perm -k 100000000 -p "o-" -s "$VSIZE"
snap "$TMP/m1"
# The peer under the same open loop (dk_load --redis: same generator, keys,
# values and clock): at dynkv's rate, then at half of its own peak.
settle "$NODE_PID"
say "Redis SET open loop at $PUT_HALF/s and $SET_HALF/s"
# Redis holds every key in memory: its SET open loops cycle over
# RSET_KEYS (50000, ~0.5 GB) keys, overwriting (the same AOF write and
# fsync as a new key), and each run's keys go again (rdrop). With new keys
# at ~10 000/s for 17 s (1.7 GB) the servers' 2 GiB memory bound
# OOM-killed Redis (dmesg) on a quiet machine.
RSET_KEYS=${RSET_KEYS:-50000}
rdrop() { # rdrop PREFIX: unlink Redis's keys that start with PREFIX
    redis-cli -p "$RPORT" --scan --pattern "$1*" | xargs -r -n 1000 redis-cli -p "$RPORT" unlink >/dev/null
}
open_run set-open "$REDIS_PID" -m put -c "$CONNS" -R "$PUT_HALF" -d "$OPEN_SECS" -w "$WARM" --perm -k "$RSET_KEYS" -p "o-" -s "$VSIZE"
rdrop o-
open_run set-own "$REDIS_PID" -m put -c "$CONNS" -R "$SET_HALF" -d "$OPEN_SECS" -w "$WARM" --perm -k "$RSET_KEYS" -p "q-" -s "$VSIZE"
rdrop q-

# ---- 3. GET ---------------------------------------------------------------
say "loading $FILL_KEYS keys"
load fill -m put -c "$CONNS" -d 600 -n "$FILL_KEYS" --perm -k "$FILL_KEYS" -p "g-" -s "$VSIZE"
rload fill-rd -m put -c "$CONNS" -d 600 -n "$FILL_KEYS" --perm -k "$FILL_KEYS" -p "g-" -s "$VSIZE"
DK_GET='' RD_GET=''
for r in $(seq 1 "$ROUNDS"); do
    say "GET peak round $r"
    load get-peak-$r -m get -c "$CONNS" -d "$PEAK_SECS" -w 1 -k "$FILL_KEYS" -p "g-" -s "$VSIZE" --seed "$r"
    DK_GET="$DK_GET $(field ops_s "$TMP/get-peak-$r.out")"
    # shellcheck disable=SC2046  # rbench prints four words
    set -- $(rbench get-$r get "$REDIS_GET_N")
    RD_GET="$RD_GET $1"
done
GET_PEAK=$(median $DK_GET)
GETR_PEAK=$(median $RD_GET)
for r in $(seq 1 "$ROUNDS"); do
    [ "$(field ops_s "$TMP/get-peak-$r.out")" = "$GET_PEAK" ] && GET_MED=$r
    [ "$(awk -F'"' 'NR == 2 { print $4 }' "$TMP/get-$r.csv")" = "$GETR_PEAK" ] && GETR_MED=$r
done
GET_HALF=$(half "$GET_PEAK")
GETR_HALF=$(half "$GETR_PEAK")
say "GET open loop at $GET_HALF/s"
open_run get-open "$NODE_PID" -m get -c "$CONNS" -R "$GET_HALF" -d "$OPEN_SECS" -w "$WARM" -k "$FILL_KEYS" -p "g-" -s "$VSIZE"
snap "$TMP/m2"
settle "$NODE_PID"
say "Redis GET open loop at $GET_HALF/s and $GETR_HALF/s"
open_run rget-open "$REDIS_PID" -m get -c "$CONNS" -R "$GET_HALF" -d "$OPEN_SECS" -w "$WARM" -k "$FILL_KEYS" -p "g-" -s "$VSIZE"
open_run rget-own "$REDIS_PID" -m get -c "$CONNS" -R "$GETR_HALF" -d "$OPEN_SECS" -w "$WARM" -k "$FILL_KEYS" -p "g-" -s "$VSIZE"
LOGWARN=$(grep -cE ' (WARN|ERROR) ' "$TMP/node.log" || true)
kill "$NODE_PID" 2>/dev/null || true
wait "$NODE_PID" 2>/dev/null || true
NODE_PID=

# ---- report ---------------------------------------------------------------
lat() { # lat FILE: "p50 / p99 / p99.9 / max" in ms
    echo "$(field p50_ms "$1") / $(field p99_ms "$1") / $(field p999_ms "$1") / $(field max_ms "$1")"
}
rlat() { # rlat CSV: "p50 / p99 / max" of a redis-benchmark CSV
    awk -F'"' 'NR == 2 { print $10 " / " $14 " / " $16 }' "$1"
}
puts_ok=$(($(cval 'dynkv_http_requests_total{op="put",code="200"}' "$TMP/m1") - $(cval 'dynkv_http_requests_total{op="put",code="200"}' "$TMP/m0")))
groups=$(($(cval dynkv_engine_lsm_write_groups_total "$TMP/m1") - $(cval dynkv_engine_lsm_write_groups_total "$TMP/m0")))
syncs=$(($(cval dynkv_engine_lsm_wal_syncs_total "$TMP/m1") - $(cval dynkv_engine_lsm_wal_syncs_total "$TMP/m0")))
mkdir -p "$(dirname "$OUT")"
{
    echo "# Node benchmark: one dynkvd vs Redis \`appendfsync always\`, $((VSIZE / 1024)) KiB values ($(date '+%F %H:%M'))"
    echo
    [ "$QUICK" = 1 ] && echo "**Quick mode (-q): tiny sizes, a check of the script, not a measurement.**" && echo
    echo "Both servers and the load generators share this machine's $(nproc) cores;"
    echo "peaks are medians of $ROUNDS alternating runs (dynkv, Redis, dynkv, ...)."
    echo "dynkv peaks come from dk_load's closed loop; \"p99 at half of peak\" from its"
    echo "open loop, measured from each request's intended send time (coordinated-omission"
    echo "safe). Redis figures are redis-benchmark's, which is **closed-loop only**: its"
    echo "percentiles are service times under saturation, not open-loop latencies."
    echo
    echo "| workload | dynkv | Redis $REDIS_VERSION | dynkv / Redis |"
    echo "|---|--:|--:|--:|"
    echo "| durable PUT/SET peak, closed loop, $CONNS conns (ops/s) | $PUT_PEAK | $SET_PEAK | $(ratio "$PUT_PEAK" "$SET_PEAK") |"
    echo "| GET peak, closed loop, $CONNS conns (ops/s) | $GET_PEAK | $GETR_PEAK | $(ratio "$GET_PEAK" "$GETR_PEAK") |"
    echo
    echo "Per-run peaks (ops/s): dynkv PUT$DK_PUT; Redis SET$RD_SET; dynkv GET$DK_GET; Redis GET$RD_GET."
    echo
    echo "| latency, ms: p50 / p99 / p99.9 / max | dynkv | Redis (p50 / p99 / max) |"
    echo "|---|--:|--:|"
    echo "| PUT/SET at peak (closed loop, median run) | $(lat "$TMP/put-peak-$PUT_MED.out") | $(rlat "$TMP/set-$SET_MED.csv") |"
    echo "| GET at peak (closed loop, median run) | $(lat "$TMP/get-peak-$GET_MED.out") | $(rlat "$TMP/get-$GETR_MED.csv") |"
    echo
    echo "Open loop, $OPEN_SECS s after $WARM s of warm-up, both servers driven by dk_load"
    echo "(\`--redis\` speaks RESP: the same keys, values, connections and clock):"
    echo
    echo "| open loop, latency ms: p50 / p99 / p99.9 / max | dynkv | Redis |"
    echo "|---|--:|--:|"
    echo "| **PUT/SET at $PUT_HALF/s**, half of dynkv's peak | **$(lat "$TMP/put-open.out")** | **$(lat "$TMP/set-open.out")** |"
    echo "| SET at $SET_HALF/s, half of Redis's peak | | $(lat "$TMP/set-own.out") |"
    echo "| **GET at $GET_HALF/s**, half of dynkv's peak | **$(lat "$TMP/get-open.out")** | **$(lat "$TMP/rget-open.out")** |"
    echo "| GET at $GETR_HALF/s, half of Redis's peak | | $(lat "$TMP/rget-own.out") |"
    echo
    echo "Each open loop's latency split (ms): p99 of how late dk_load sent a request (all"
    echo "connections busy, or the generator itself waiting for a CPU) and p50 / p99 of the"
    echo "service time from that write to the whole answer; achieved rate / errors / unfinished:"
    echo
    for n in put-open set-open set-own get-open rget-open rget-own; do
        echo "- $n: late p99 $(field late_p99_ms "$TMP/$n.out"); service $(field svc_p50_ms "$TMP/$n.out") /" \
            "$(field svc_p99_ms "$TMP/$n.out"); $(field ops_s "$TMP/$n.out")/s, $(field errors "$TMP/$n.out")," \
            "$(field unfinished "$TMP/$n.out")"
    done
    echo
    echo "Targets (ANCHORS.md): durable PUT ≥ 1.0× Redis \`appendfsync always\`, p99 at half of"
    echo "peak < 5 ms (GET < 2 ms)."
    echo
    echo "## dynkv counters over the PUT phases (GET /metrics)"
    echo
    echo "- successful PUTs: $puts_ok; engine write groups: $groups; WAL syncs: $syncs;" \
        "writes per group: $(ratio "$puts_ok" "$groups")"
    # The node exports the engine's *_us_total stats as *_seconds_total.
    for k in write_stall_seconds_total write_slowdowns_total flushes_total compactions_total compaction_paced_seconds_total \
        wal_switches_total wal_switches_prepared_total wal_switch_seconds_total; do
        echo "- engine $k: $(cval dynkv_engine_lsm_$k "$TMP/m0") -> $(cval dynkv_engine_lsm_$k "$TMP/m1") (after GETs: $(cval dynkv_engine_lsm_$k "$TMP/m2"))"
    done
    # Over the PUT open loop alone (m0o -> m1): how long each WAL fdatasync
    # took and how long the group-commit windows held a group open.
    ol_d() { echo $(($(cval "dynkv_engine_lsm_$1" "$TMP/m1") - $(cval "dynkv_engine_lsm_$1" "$TMP/m0o"))); }
    ol_f() { awk -v a="$(cval "dynkv_engine_lsm_$1" "$TMP/m1")" -v b="$(cval "dynkv_engine_lsm_$1" "$TMP/m0o")" 'BEGIN { print a - b }'; }
    osyncs=$(ol_d wal_syncs_total)
    echo "- the PUT open loop alone: WAL fdatasyncs $osyncs, mean $(awk -v s="$(ol_f wal_sync_seconds_total)" -v n="$osyncs" 'BEGIN { if (n) printf "%.2f", s * 1e3 / n; else print "n/a" }') ms;" \
        "at most 1 / 4 / 16 / 64 ms: $(ol_d wal_syncs_le_1ms_total) / $(ol_d wal_syncs_le_4ms_total) / $(ol_d wal_syncs_le_16ms_total) / $(ol_d wal_syncs_le_64ms_total);" \
        "group-commit windows $(ol_d group_commit_waits_total) (ended early $(ol_d group_commit_early_ends_total)), mean wait" \
        "$(awk -v s="$(ol_f group_commit_wait_seconds_total)" -v n="$(ol_d group_commit_waits_total)" 'BEGIN { if (n) printf "%.2f", s * 1e3 / n; else print "n/a" }') ms;" \
        "longest fdatasync since start $(awk -v s="$(cval dynkv_engine_lsm_wal_sync_max_seconds "$TMP/m1")" 'BEGIN { printf "%.1f", s * 1e3 }') ms"
    echo "- L0 files at the end of the PUT phases: $(cval dynkv_engine_lsm_l0_files "$TMP/m1")"
    echo "- WARN/ERROR lines in the node's log: $LOGWARN"
    echo
    echo "## Where the open loops' time went"
    echo
    echo "Per thread name over each whole open loop (sampled every 100 ms from"
    echo "schedstat): ms on a CPU and ms runnable but waiting for one (run-queue wait)."
    echo "\"dynkvd\" is the loops and workers; dk_load is the generator, on the same cores:"
    echo
    echo '```'
    for n in put-open set-open set-own get-open rget-open rget-own; do
        echo "$n: $(sampler_totals "$TMP/$n.samples" | awk '{ printf "%s %s+q%s  ", $1, $2, $3 }')"
    done
    echo '```'
    echo
    interval_lines "$TMP"
    echo
    echo "Each second of each open loop with, per thread name, the ms on a CPU and"
    echo "(+q) the ms waiting runnable (sampled every 100 ms), and the ms of CPU, memory"
    echo "and I/O pressure stalls on the whole machine (/proc/pressure, \"some\"):"
    echo
    echo '```'
    for n in put-open set-open set-own get-open rget-open rget-own; do
        echo "$n:"
        sampler_seconds "$TMP/$n.samples" "$TMP/$n.out"
        echo
    done
    echo '```'
    echo
    echo "## Commands"
    echo
    echo "- \`bench/load/run-node.sh$([ "$QUICK" = 1 ] && echo ' -q')\` (ROUNDS=$ROUNDS PEAK_SECS=$PEAK_SECS OPEN_SECS=$OPEN_SECS FILL_KEYS=$FILL_KEYS REDIS_SET_N=$REDIS_SET_N REDIS_GET_N=$REDIS_GET_N)"
    echo "- node: \`$NODE_CMD\` (all else default); its start-up line:"
    echo "  \`$(grep -m1 'serving http' "$TMP/node.log" | sed 's/`//g; s/^.*node /node /')\`"
    echo "- Redis: \`$REDIS_CMD\`"
    echo "- PUT keys are new keys (\`--perm\`, a distinct prefix per run), so no version"
    echo "  ever has a sibling; values are incompressible random bytes. GETs read random keys"
    echo "  of the $FILL_KEYS loaded ones with \`Accept: application/octet-stream\`."
    echo "  redis-benchmark SET/GET use \`-r $FILL_KEYS\` random keys and values of 'x' bytes."
    echo "  Redis's SET open loops (\`dk_load --redis\`) cycle over RSET_KEYS=$RSET_KEYS keys (\`--perm -k $RSET_KEYS\`):"
    echo "  Redis holds every value in memory, and new keys at this rate outgrow the memory bound."
    echo
    report_tail "- Redis: $(redis-server --version)"
} >"$OUT"
say "wrote $OUT"
