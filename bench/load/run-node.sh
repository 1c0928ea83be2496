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
# What runs (about 3 minutes; every process and temp dir is removed at exit):
#  1. ROUNDS (3) alternating peak runs: dk_load closed loop, 50 connections,
#     PUT of a new key each time, PEAK_SECS (8) s with 1 s warm-up; then
#     redis-benchmark -t set -c 50 -d 10240. The medians are the peaks.
#  2. dk_load open loop at half the dynkv PUT peak for OPEN_SECS (15) s:
#     latency from the intended send time (coordinated-omission safe).
#  3. FILL_KEYS (20000) keys loaded, then ROUNDS of GET peak (dk_load) and
#     redis-benchmark -t get, then GET open loop at half the dynkv peak.
#  During both open loops a sampler (common.sh: sampler_start) records the
#  node's threads and the machine's pressure stalls every 100 ms; the report
#  lists them per second beside the latency, to attribute a stalled second.
# redis-benchmark only has a closed loop, so Redis has no "p99 at half of
# peak" row: its figures are labelled closed-loop.
# Extra dynkvd settings: DYNKV_SET="--set engine.lsm.group_commit_window_us=0 ...".
set -eu

. "$(dirname "$0")/common.sh"
load_opts node 25 "$@"
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
# load NAME ARGS...: run dk_load against the node, keep its output.
load() {
    name=$1
    shift
    echo "\$ dk_load $* 127.0.0.1:$PORT" >>"$RAW"
    "$DK_LOAD" "$@" "127.0.0.1:$PORT" >"$TMP/$name.out" 2>&1 || true
    grep -v '^INTERVAL' "$TMP/$name.out" >>"$RAW"
    grep -q '^RESULT' "$TMP/$name.out" || { cat "$TMP/$name.out" >&2; die "dk_load $name failed"; }
}
snap() { # snap FILE: the engine and HTTP counters now
    curl -s --max-time 5 "$URL/metrics" | grep -E '^dynkv_(engine_lsm_(wal_syncs|write_groups|write_slowdowns|flushes|compactions|wal_switches|wal_switches_prepared)_total|engine_lsm_(write_stall|compaction_paced|wal_switch)_seconds_total|engine_lsm_l0_files|http_requests_total)' >"$1" || true
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
say "PUT open loop at $PUT_HALF/s"
sampler_start "$NODE_PID" "$TMP/put-open.samples"
load put-open -m put -c "$CONNS" -R "$PUT_HALF" -d "$OPEN_SECS" -w "$WARM" --perm -k 100000000 -p "o-" -s "$VSIZE" -i
sampler_stop
snap "$TMP/m1"

# ---- 3. GET ---------------------------------------------------------------
say "loading $FILL_KEYS keys"
load fill -m put -c "$CONNS" -d 600 -n "$FILL_KEYS" --perm -k "$FILL_KEYS" -p "g-" -s "$VSIZE"
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
say "GET open loop at $GET_HALF/s"
sampler_start "$NODE_PID" "$TMP/get-open.samples"
load get-open -m get -c "$CONNS" -R "$GET_HALF" -d "$OPEN_SECS" -w "$WARM" -k "$FILL_KEYS" -p "g-" -s "$VSIZE" -i
sampler_stop
snap "$TMP/m2"
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
    echo "| **PUT open loop at $PUT_HALF/s** (half of peak; achieved $(field ops_s "$TMP/put-open.out")/s, errors $(field errors "$TMP/put-open.out"), unfinished $(field unfinished "$TMP/put-open.out")) | **$(lat "$TMP/put-open.out")** | n/a (closed loop only) |"
    echo "| GET at peak (closed loop, median run) | $(lat "$TMP/get-peak-$GET_MED.out") | $(rlat "$TMP/get-$GETR_MED.csv") |"
    echo "| **GET open loop at $GET_HALF/s** (half of peak; achieved $(field ops_s "$TMP/get-open.out")/s, errors $(field errors "$TMP/get-open.out"), unfinished $(field unfinished "$TMP/get-open.out")) | **$(lat "$TMP/get-open.out")** | n/a |"
    echo
    echo "Targets (ANCHORS.md): durable PUT ≥ 1.0× Redis \`appendfsync always\`, p99 < 5 ms."
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
    echo "- L0 files at the end of the PUT phases: $(cval dynkv_engine_lsm_l0_files "$TMP/m1")"
    echo "- WARN/ERROR lines in the node's log: $LOGWARN"
    echo
    interval_lines "$TMP"
    echo
    echo "The same seconds with the CPU ms each thread name of the node used in them"
    echo "(\"dynkvd\": loops and workers; sampled every 100 ms) and the ms of CPU, memory"
    echo "and I/O pressure stalls on the whole machine (/proc/pressure, \"some\"):"
    echo
    echo '```'
    sampler_seconds "$TMP/put-open.samples" "$TMP/put-open.out"
    echo
    sampler_seconds "$TMP/get-open.samples" "$TMP/get-open.out"
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
    echo
    report_tail "- Redis: $(redis-server --version)"
} >"$OUT"
say "wrote $OUT"
