#!/bin/sh
# bench/load/run-cluster.sh - a 3-node dynkv cluster on this machine
# (tools/dynkv-cluster, lsm engine, n_replicas 3, sync=true) under 10 KiB
# PUT and GET with `X-Consistency: quorum`, load spread over the three nodes;
# writes bench/results/cluster-<date>.md, compared with the Dynomite figures
# quoted from ANCHORS.md (not re-measured here).
#
#   bench/load/run-cluster.sh [-B BUILDDIR] [-o REPORT.md] [-q]
#
# -B  a configured build tree (default $DYNKV_BUILDDIR, else /tmp/b-load)
# -o  report file (default bench/results/cluster-YYYY-MM-DD.md)
# -q  quick: tiny sizes, to check that the script works
#
# What runs (about 3 minutes; the cluster and its folder are removed at exit):
#  1. ROUNDS (3) PUT peak runs: dk_load closed loop, 50 connections over the
#     3 nodes, a new key per PUT, PEAK_SECS (8) s after 1 s warm-up; median.
#  2. PUT open loop at half that peak for OPEN_SECS (15) s (latency from the
#     intended send time: coordinated-omission safe).
#  3. FILL_KEYS (20000) keys loaded, ROUNDS GET peak runs, GET open loop at
#     half of the GET peak.
set -eu

. "$(dirname "$0")/common.sh"
load_opts cluster 21 "$@"
CONSISTENCY=${CONSISTENCY:-quorum}
# Quoted from ANCHORS.md (3 nodes over Redis, RF=3, 10 KB, DC_QUORUM), not measured here.
DYNO_SET=29000 DYNO_SET_P99=2.6 DYNO_GET=17800 DYNO_GET_P99=4.2
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

load_tmp load-cluster

say "building in $BUILD"
build_all "$BUILD"
CREATE_ARGS="--nodes 3 --engine lsm --set cluster.n_replicas=3 --set storage.sync=true"
# shellcheck disable=SC2086
cluster_up $CREATE_ARGS
NODES=$(echo "$TARGETS" | tr ',' ' ')

RAW=$TMP/raw.txt
: >"$RAW"
load() { # load NAME ARGS...: dk_load against the three nodes, with the consistency header
    name=$1
    shift
    echo "\$ dk_load $* -H 'X-Consistency: $CONSISTENCY' $TARGETS" >>"$RAW"
    "$DK_LOAD" "$@" -H "X-Consistency: $CONSISTENCY" "$TARGETS" >"$TMP/$name.out" 2>&1 || true
    grep -v '^INTERVAL' "$TMP/$name.out" >>"$RAW"
    grep -q '^RESULT' "$TMP/$name.out" || { cat "$TMP/$name.out" >&2; die "dk_load $name failed"; }
}
snap() { # snap TAG: every node's counters now, in $TMP/TAG.<node>
    for n in $NODES; do
        curl -s --max-time 5 "http://$n/metrics" | grep -v '^#' | grep -v '_bucket' >"$TMP/$1.$n" || true
    done
}
cval() { awk -v k="$1" 'index($0, k) == 1 { v = $NF } END { print v + 0 }' "$2"; }
# csum TAG KEY: KEY summed over the nodes (prefix match, labels included)
csum() {
    t=0
    for n in $NODES; do
        t=$(awk -v k="$2" -v t="$t" 'index($0, k) == 1 { t += $NF } END { printf "%.0f", t }' "$TMP/$1.$n")
    done
    echo "$t"
}

snap m0
DK_PUT=''
for r in $(seq 1 "$ROUNDS"); do
    say "PUT peak round $r"
    load put-peak-$r -m put -c "$CONNS" -d "$PEAK_SECS" -w 1 --perm -k 100000000 -p "p$r-" -s "$VSIZE"
    DK_PUT="$DK_PUT $(field ops_s "$TMP/put-peak-$r.out")"
done
PUT_PEAK=$(median $DK_PUT)
for r in $(seq 1 "$ROUNDS"); do
    [ "$(field ops_s "$TMP/put-peak-$r.out")" = "$PUT_PEAK" ] && PUT_MED=$r
done
PUT_HALF=$(half "$PUT_PEAK")
say "PUT open loop at $PUT_HALF/s"
load put-open -m put -c "$CONNS" -R "$PUT_HALF" -d "$OPEN_SECS" -w "$WARM" --perm -k 100000000 -p "o-" -s "$VSIZE" -i
snap m1

say "loading $FILL_KEYS keys"
load fill -m put -c "$CONNS" -d 600 -n "$FILL_KEYS" --perm -k "$FILL_KEYS" -p "g-" -s "$VSIZE"
DK_GET=''
for r in $(seq 1 "$ROUNDS"); do
    say "GET peak round $r"
    load get-peak-$r -m get -c "$CONNS" -d "$PEAK_SECS" -w 1 -k "$FILL_KEYS" -p "g-" -s "$VSIZE" --seed "$r"
    DK_GET="$DK_GET $(field ops_s "$TMP/get-peak-$r.out")"
done
GET_PEAK=$(median $DK_GET)
for r in $(seq 1 "$ROUNDS"); do
    [ "$(field ops_s "$TMP/get-peak-$r.out")" = "$GET_PEAK" ] && GET_MED=$r
done
GET_HALF=$(half "$GET_PEAK")
say "GET open loop at $GET_HALF/s"
load get-open -m get -c "$CONNS" -R "$GET_HALF" -d "$OPEN_SECS" -w "$WARM" -k "$FILL_KEYS" -p "g-" -s "$VSIZE" -i
snap m2
LOGS=''
for i in 1 2 3; do
    LOGS="$LOGS n$i=$(grep -cE ' (WARN|ERROR) ' "$CL/n$i/dynkvd.log" || true)"
done
grep -hE ' (WARN|ERROR) ' "$CL"/n?/dynkvd.log | sed 's/^[^ ]* //' | sort | uniq -c | sort -rn | head -15 >"$TMP/warns" || true

lat() { echo "$(field p50_ms "$1") / $(field p99_ms "$1") / $(field p999_ms "$1") / $(field max_ms "$1")"; }
mkdir -p "$(dirname "$OUT")"
{
    echo "# Cluster benchmark: 3 dynkv nodes, RF=3, \`X-Consistency: $CONSISTENCY\`, $((VSIZE / 1024)) KiB values ($(date '+%F %H:%M'))"
    echo
    [ "$QUICK" = 1 ] && echo "**Quick mode (-q): tiny sizes, a check of the script, not a measurement.**" && echo
    echo "Three \`dynkvd\` processes (127.0.0.1-3, lsm engine, sync=true, n_replicas 3) and"
    echo "the load generator all share this machine's $(nproc) cores. Requests are spread"
    echo "over the three nodes ($CONNS keep-alive connections, round-robin). Peaks are"
    echo "medians of $ROUNDS closed-loop runs; \"half of peak\" rows are open loop with latency"
    echo "from each request's intended send time (coordinated-omission safe)."
    echo
    echo "The Dynomite figures are **quoted from ANCHORS.md, not re-measured** in this run"
    echo "(3 nodes over Redis, RF=3, 10 KB, DC_QUORUM, load generator on the same 2 cores;"
    echo "Dynomite never fsyncs, dynkv fsyncs every write on W replicas before answering)."
    echo
    echo "| workload | dynkv | Dynomite (quoted) | dynkv / Dynomite | target |"
    echo "|---|--:|--:|--:|--:|"
    echo "| PUT peak, closed loop (ops/s) | $PUT_PEAK | $DYNO_SET | $(ratio "$PUT_PEAK" "$DYNO_SET") | ≥ 1.0 |"
    echo "| GET peak, closed loop (ops/s) | $GET_PEAK | $DYNO_GET | $(ratio "$GET_PEAK" "$DYNO_GET") | ≥ 2.0 |"
    echo
    echo "Per-run peaks (ops/s): PUT$DK_PUT; GET$DK_GET."
    echo
    echo "| latency, ms: p50 / p99 / p99.9 / max | dynkv | Dynomite p99 (quoted) |"
    echo "|---|--:|--:|"
    echo "| PUT at peak (closed loop, median run) | $(lat "$TMP/put-peak-$PUT_MED.out") | |"
    echo "| **PUT open loop at $PUT_HALF/s** (half of peak; achieved $(field ops_s "$TMP/put-open.out")/s, errors $(field errors "$TMP/put-open.out"), unfinished $(field unfinished "$TMP/put-open.out")) | **$(lat "$TMP/put-open.out")** | $DYNO_SET_P99 |"
    echo "| GET at peak (closed loop, median run) | $(lat "$TMP/get-peak-$GET_MED.out") | |"
    echo "| **GET open loop at $GET_HALF/s** (half of peak; achieved $(field ops_s "$TMP/get-open.out")/s, errors $(field errors "$TMP/get-open.out"), unfinished $(field unfinished "$TMP/get-open.out")) | **$(lat "$TMP/get-open.out")** | $DYNO_GET_P99 |"
    echo
    echo "Target (ANCHORS.md): p99 < 5 ms at half of peak. The Dynomite p99s were measured"
    echo "at its peak, by a closed-loop tool as far as ANCHORS.md says."
    echo
    echo "## Counters (GET /metrics, summed over the 3 nodes)"
    echo
    echo "| counter | PUT phases | fill + GET phases |"
    echo "|---|--:|--:|"
    for k in 'dynkv_http_requests_total{op="put",code="200"' 'dynkv_http_requests_total{op="get",code="200"' \
        dynkv_coord_writes_total dynkv_coord_reads_total dynkv_engine_lsm_write_groups_total \
        dynkv_engine_lsm_wal_syncs_total dynkv_engine_lsm_write_stall_us_total \
        dynkv_engine_lsm_flushes_total dynkv_engine_lsm_compactions_total; do
        a=$(csum m0 "$k") b=$(csum m1 "$k") c=$(csum m2 "$k")
        echo "| \`$k\` | $((b - a)) | $((c - b)) |"
    done
    echo
    echo "Non-200 HTTP answers and other counters that moved (end of run, per node):"
    echo
    echo '```'
    for n in $NODES; do
        grep -E 'code="[^2]|error|fail|timeout|hint|repair|dropped' "$TMP/m2.$n" | grep -v ' 0$' | sed "s|^|$n |" || true
    done
    echo '```'
    echo
    echo "WARN/ERROR lines in the node logs:$LOGS; the most frequent (count, message):"
    echo
    echo '```'
    cat "$TMP/warns"
    echo '```'
    echo
    interval_lines "$TMP"
    echo
    echo "## Commands"
    echo
    echo "- \`bench/load/run-cluster.sh$([ "$QUICK" = 1 ] && echo ' -q')\` (ROUNDS=$ROUNDS PEAK_SECS=$PEAK_SECS OPEN_SECS=$OPEN_SECS FILL_KEYS=$FILL_KEYS CONSISTENCY=$CONSISTENCY)"
    echo "- \`tools/dynkv-cluster create DIR $CREATE_ARGS\` then \`tools/dynkv-cluster start DIR\`"
    echo "- PUT keys are new keys (\`--perm\`, a distinct prefix per run), so no write makes a"
    echo "  sibling; values are incompressible random bytes. GETs read random keys of the"
    echo "  $FILL_KEYS loaded ones with \`Accept: application/octet-stream\`."
    echo
    # shellcheck disable=SC2119  # no lines of its own about the machine
    report_tail
} >"$OUT"
say "wrote $OUT"
