#!/bin/sh
# bench/load/run-cluster.sh - a 3-node dynkv cluster on this machine
# (tools/dynkv-cluster, lsm engine, n_replicas 3, sync=true) under 10 KiB
# PUT and GET with `X-Consistency: quorum`, load spread over the three nodes;
# writes bench/results/cluster-<date>.md. With DYNOMITE=/path/to/dynomite
# (built by the user: bench/load/peer-dynomite.sh) the peer, Dynomite over
# three Redis with DC_QUORUM, runs the same steps in the same run, each round
# right after dynkv's; without it the report quotes the ANCHORS.md figures.
#
#   [DYNOMITE=PATH] bench/load/run-cluster.sh [-B BUILDDIR] [-o REPORT.md] [-q]
#
# -B  a configured build tree (default $DYNKV_BUILDDIR, else /tmp/b-load)
# -o  report file (default bench/results/cluster-YYYY-MM-DD.md)
# -q  quick: tiny sizes, to check that the script works
#
# What runs (about 3 minutes; the cluster and its folder are removed at exit):
#  1. ROUNDS (3) PUT peak runs: dk_load closed loop, 50 connections over the
#     3 nodes, a new key per PUT, PEAK_SECS (8) s after 1 s warm-up; median.
#  2. PUT open loop at half that peak for OPEN_SECS (15) s (latency from the
#     intended send time: coordinated-omission safe). Every open loop starts
#     once its servers settled (common.sh settle: under 50 ms of CPU per
#     process in a second, 15 s at most), so that it measures the load it
#     offers and not the flushes and compactions of the peak runs before it.
#  3. FILL_KEYS (20000) keys loaded, ROUNDS GET peak runs, GET open loop at
#     half of the GET peak.
# Every peak run and open loop also records the server CPU (utime+stime)
# and context switches per request, summed over the servers (3 dynkvd;
# 3 Dynomite + 3 Redis); the report compares them at one open-loop rate
# (dynkv's half of peak), the issue's CPU-cost measure, and at each peak. Peer SETs go to PEER_KEYS (50000) random keys (Redis keeps every
# value in memory), its GETs to the same FILL_KEYS keys as dynkv's. The peer
# runs each open loop twice: at half of its own peak and at dynkv's rate
# (half of dynkv's peak), so the p99s also compare at one rate.
# NOSYNC=1 starts a second dynkv cluster beside the first, the same but
# storage.sync = false (NOT the durable configuration: a write is
# acknowledged before any fsync), and runs its PUT peak rounds right after
# the peer's in every round and its PUT open loop at half of its own peak:
# the distance between it and durable dynkv is what the fsync costs, the
# distance between it and Dynomite is the rest of the store.
set -eu

. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/peer-dynomite.sh"
. "$(dirname "$0")/cluster-lib.sh"
load_opts cluster 21 "$@"
NOSYNC=${NOSYNC:-0}
PEER_KEYS=${PEER_KEYS:-50000}
HZ=$(getconf CLK_TCK)
CONSISTENCY=${CONSISTENCY:-quorum}
# Quoted from ANCHORS.md (3 nodes over Redis, RF=3, 10 KB, DC_QUORUM), not measured here.
DYNO_SET=29000 DYNO_SET_P99=2.6 DYNO_GET=17800 DYNO_GET_P99=4.2
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

load_tmp load-cluster
trap 'set +e; dyno_stop; cluster2_down; load_cleanup' EXIT   # the peer's processes too

say "building in $BUILD"
build_all "$BUILD"
# DYNKV_CREATE: extra `dynkv-cluster create` arguments after these (a later
# --set wins), e.g. "--no-key --set storage.sync=false" to compare like for
# like with the peer, which neither fsyncs nor authenticates its peers.
CREATE_ARGS="--nodes 3 --engine lsm --set cluster.n_replicas=3 --set storage.sync=true ${DYNKV_CREATE:-}"
# shellcheck disable=SC2086
cluster_up $CREATE_ARGS
NODES=$(echo "$TARGETS" | tr ',' ' ')
PIDS=$(cat "$CL"/n*/pid)
PEER=0
if [ "$NOSYNC" = 1 ]; then
    say "starting the storage.sync=false cluster"
    # shellcheck disable=SC2086
    cluster2_up "$TMP/cluster-nosync" $CREATE_ARGS --set storage.sync=false
fi
say "starting the peer"
dyno_start "$TMP/dynomite" && PEER=1

RAW=$TMP/raw.txt
: >"$RAW"
load() { # load NAME ARGS...: dk_load against the three nodes, with the consistency header
    name=$1
    shift
    echo "\$ dk_load $* -H 'X-Consistency: $CONSISTENCY' $TARGETS" >>"$RAW"
    metered "$name" "$PIDS" "$@" -H "X-Consistency: $CONSISTENCY" "$TARGETS"
}
pload() { # pload NAME ARGS...: dk_load --redis against the peer's three Dynomite nodes
    name=$1
    shift
    echo "\$ dk_load --redis $* $DYNO_TARGETS" >>"$RAW"
    metered "$name" "$DYNO_PIDS" --redis "$@" "$DYNO_TARGETS"
}
nload() { # nload NAME ARGS...: dk_load against the storage.sync=false cluster
    name=$1
    shift
    echo "\$ dk_load $* -H 'X-Consistency: $CONSISTENCY' $TARGETS2   # storage.sync=false" >>"$RAW"
    metered "$name" "$PIDS2" "$@" -H "X-Consistency: $CONSISTENCY" "$TARGETS2"
}
# metered NAME "PIDS" DK_LOAD-ARGS...: run dk_load into $TMP/NAME.out and write
# "cpu_us_per_request switches_per_request" of the PIDS into $TMP/NAME.cpu. The
# totals leave the warm-up (-w W) out, the CPU counters do not: the requests
# served are estimated as answered x (secs + W) / secs.
metered() {
    name=$1 pids=$2
    shift 2
    wu=0 prev=''
    for a in "$@"; do
        [ "$prev" = -w ] && wu=$a
        prev=$a
    done
    # shellcheck disable=SC2086
    t0=$(proc_ticks $pids) c0=$(proc_ctx $pids)
    "$DK_LOAD" "$@" >"$TMP/$name.out" 2>&1 || true
    # shellcheck disable=SC2086
    t1=$(proc_ticks $pids) c1=$(proc_ctx $pids)
    grep -v '^INTERVAL' "$TMP/$name.out" >>"$RAW"
    grep -q '^RESULT' "$TMP/$name.out" || { cat "$TMP/$name.out" >&2; die "dk_load $name failed"; }
    awk -v t=$((t1 - t0)) -v c=$((c1 - c0)) -v n="$(($(field ok "$TMP/$name.out") + $(field notfound "$TMP/$name.out")))" \
        -v s="$(field secs "$TMP/$name.out")" -v w="$wu" -v hz="$HZ" \
        'BEGIN { if (s > 0) n = n * (s + w) / s; if (n < 1) n = 1; printf "%.1f %.2f\n", t * 1e6 / hz / n, c / n }' >"$TMP/$name.cpu"
    echo "cpu_us_per_req switches_per_req (servers summed): $(cat "$TMP/$name.cpu")" >>"$RAW"
}
# peaks KIND PREFIX: "median-ops/s median-run#" of $TMP/PREFIX-1..ROUNDS.out; sets
# the list of per-run figures in PK_LIST and the medians of CPU and switches in PK_CPU PK_CTX
peaks() {
    PK_LIST='' pc='' px=''
    for r in $(seq 1 "$ROUNDS"); do
        PK_LIST="$PK_LIST $(field ops_s "$TMP/$1-$r.out")"
        pc="$pc $(cut -d' ' -f1 "$TMP/$1-$r.cpu")" px="$px $(cut -d' ' -f2 "$TMP/$1-$r.cpu")"
    done
    # shellcheck disable=SC2086
    PK_MED=$(median $PK_LIST) PK_CPU=$(median $pc) PK_CTX=$(median $px) PK_RUN=1
    for r in $(seq 1 "$ROUNDS"); do
        [ "$(field ops_s "$TMP/$1-$r.out")" = "$PK_MED" ] && PK_RUN=$r
    done
    return 0
}
snap() { # snap TAG: every node's counters now, in $TMP/TAG.<node>
    for n in $NODES; do
        curl -s --max-time 5 "http://$n/metrics" | grep -v '^#' | grep -v '_bucket' >"$TMP/$1.$n" || true
    done
}
cval() { awk -v k="$1" 'index($0, k) == 1 { v = $NF } END { print v + 0 }' "$2"; }
# csum TAG KEY: KEY summed over the nodes (prefix match, labels included)
# csum SNAPSHOT COUNTER [SCALE]: the counter summed over the nodes, times
# SCALE (1000 turns a *_seconds_total into milliseconds), rounded.
csum() {
    t=0
    for n in $NODES; do
        t=$(awk -v k="$2" -v t="$t" -v s="${3:-1}" 'index($0, k) == 1 { t += $NF * s } END { printf "%.0f", t }' "$TMP/$1.$n")
    done
    echo "$t"
}

snap m0
for r in $(seq 1 "$ROUNDS"); do
    say "PUT peak round $r"
    load put-peak-$r -m put -c "$CONNS" -d "$PEAK_SECS" -w 1 --perm -k 100000000 -p "p$r-" -s "$VSIZE"
    [ "$PEER" = 0 ] || pload dyno-put-peak-$r -m put -c "$CONNS" -d "$PEAK_SECS" -w 1 -k "$PEER_KEYS" -p p- -s "$VSIZE" --seed "$r"
    [ "$NOSYNC" = 0 ] || nload ns-put-peak-$r -m put -c "$CONNS" -d "$PEAK_SECS" -w 1 --perm -k 100000000 -p "p$r-" -s "$VSIZE"
done
peaks put-peak
DK_PUT=$PK_LIST PUT_PEAK=$PK_MED PUT_MED=$PK_RUN PUT_CPU=$PK_CPU PUT_CTX=$PK_CTX
PUT_HALF=$(half "$PUT_PEAK")
# shellcheck disable=SC2086  # PID lists
settle $PIDS
say "PUT open loop at $PUT_HALF/s"
load put-open -m put -c "$CONNS" -R "$PUT_HALF" -d "$OPEN_SECS" -w "$WARM" --perm -k 100000000 -p "o-" -s "$VSIZE" -i
snap m1
if [ "$PEER" = 1 ]; then
    peaks dyno-put-peak
    DY_PUT=$PK_LIST DY_PUT_PEAK=$PK_MED DY_PUT_MED=$PK_RUN DY_PUT_CPU=$PK_CPU DY_PUT_CTX=$PK_CTX
    DY_PUT_HALF=$(half "$DY_PUT_PEAK")
    # shellcheck disable=SC2086  # PID lists
    settle $DYNO_PIDS
    say "peer SET open loop at $DY_PUT_HALF/s"
    pload dyno-put-open -m put -c "$CONNS" -R "$DY_PUT_HALF" -d "$OPEN_SECS" -w "$WARM" -k "$PEER_KEYS" -p p- -s "$VSIZE" -i
    # shellcheck disable=SC2086  # PID lists
    settle $DYNO_PIDS
    say "peer SET open loop at dynkv's $PUT_HALF/s"
    pload dyno-put-same -m put -c "$CONNS" -R "$PUT_HALF" -d "$OPEN_SECS" -w "$WARM" -k "$PEER_KEYS" -p p- -s "$VSIZE" -i
fi
if [ "$NOSYNC" = 1 ]; then
    peaks ns-put-peak
    NS_PUT=$PK_LIST NS_PUT_PEAK=$PK_MED NS_PUT_MED=$PK_RUN NS_PUT_CPU=$PK_CPU NS_PUT_CTX=$PK_CTX
    NS_PUT_HALF=$(half "$NS_PUT_PEAK")
    # shellcheck disable=SC2086  # PID lists
    settle $PIDS2
    say "sync=false PUT open loop at $NS_PUT_HALF/s"
    nload ns-put-open -m put -c "$CONNS" -R "$NS_PUT_HALF" -d "$OPEN_SECS" -w "$WARM" --perm -k 100000000 -p "o-" -s "$VSIZE" -i
    cluster2_down # PUT only: the GETs do not fsync
fi

say "loading $FILL_KEYS keys"
load fill -m put -c "$CONNS" -d 600 -n "$FILL_KEYS" --perm -k "$FILL_KEYS" -p "g-" -s "$VSIZE"
[ "$PEER" = 0 ] || pload dyno-fill -m put -c "$CONNS" -d 600 -n "$FILL_KEYS" --perm -k "$FILL_KEYS" -p "g-" -s "$VSIZE"
for r in $(seq 1 "$ROUNDS"); do
    say "GET peak round $r"
    load get-peak-$r -m get -c "$CONNS" -d "$PEAK_SECS" -w 1 -k "$FILL_KEYS" -p "g-" -s "$VSIZE" --seed "$r"
    [ "$PEER" = 0 ] || pload dyno-get-peak-$r -m get -c "$CONNS" -d "$PEAK_SECS" -w 1 -k "$FILL_KEYS" -p "g-" -s "$VSIZE" --seed "$r"
done
peaks get-peak
DK_GET=$PK_LIST GET_PEAK=$PK_MED GET_MED=$PK_RUN GET_CPU=$PK_CPU GET_CTX=$PK_CTX
GET_HALF=$(half "$GET_PEAK")
# shellcheck disable=SC2086  # PID lists
settle $PIDS
say "GET open loop at $GET_HALF/s"
load get-open -m get -c "$CONNS" -R "$GET_HALF" -d "$OPEN_SECS" -w "$WARM" -k "$FILL_KEYS" -p "g-" -s "$VSIZE" -i
snap m2
if [ "$PEER" = 1 ]; then
    peaks dyno-get-peak
    DY_GET=$PK_LIST DY_GET_PEAK=$PK_MED DY_GET_MED=$PK_RUN DY_GET_CPU=$PK_CPU DY_GET_CTX=$PK_CTX
    DY_GET_HALF=$(half "$DY_GET_PEAK")
    # shellcheck disable=SC2086  # PID lists
    settle $DYNO_PIDS
    say "peer GET open loop at $DY_GET_HALF/s"
    pload dyno-get-open -m get -c "$CONNS" -R "$DY_GET_HALF" -d "$OPEN_SECS" -w "$WARM" -k "$FILL_KEYS" -p "g-" -s "$VSIZE" -i
    # shellcheck disable=SC2086  # PID lists
    settle $DYNO_PIDS
    say "peer GET open loop at dynkv's $GET_HALF/s"
    pload dyno-get-same -m get -c "$CONNS" -R "$GET_HALF" -d "$OPEN_SECS" -w "$WARM" -k "$FILL_KEYS" -p "g-" -s "$VSIZE" -i
fi
LOGS=''
for i in 1 2 3; do
    LOGS="$LOGS n$i=$(grep -cE ' (WARN|ERROR) ' "$CL/n$i/dynkvd.log" || true)"
done
grep -hE ' (WARN|ERROR) ' "$CL"/n?/dynkvd.log | sed 's/^[^ ]* //' | sort | uniq -c | sort -rn | head -15 >"$TMP/warns" || true

lat() { echo "$(field p50_ms "$1") / $(field p99_ms "$1") / $(field p999_ms "$1") / $(field max_ms "$1")"; }
openrow() { echo "achieved $(field ops_s "$1")/s, errors $(field errors "$1"), unfinished $(field unfinished "$1")"; }
quoted_section() {
    echo "The Dynomite figures are **quoted from ANCHORS.md, not re-measured** in this run"
    echo "(no \$DYNOMITE: 3 nodes over Redis, RF=3, 10 KB, DC_QUORUM, load generator on the same 2 cores;"
    echo "Dynomite never fsyncs, dynkv fsyncs every write on W replicas before answering)."
    echo
    echo "| workload | dynkv | Dynomite (quoted) | dynkv / Dynomite | target |"
    echo "|---|--:|--:|--:|--:|"
    echo "| PUT peak, closed loop (ops/s) | $PUT_PEAK | $DYNO_SET | $(ratio "$PUT_PEAK" "$DYNO_SET") | ≥ 1.0 |"
    echo "| GET peak, closed loop (ops/s) | $GET_PEAK | $DYNO_GET | $(ratio "$GET_PEAK" "$DYNO_GET") | ≥ 2.0 |"
    echo "| server CPU per PUT at peak, 3 nodes summed (µs) | $PUT_CPU | | | |"
    echo "| server CPU per GET at peak, 3 nodes summed (µs) | $GET_CPU | | | |"
    echo "| context switches per PUT / GET at peak | $PUT_CTX / $GET_CTX | | | |"
    echo
    echo "Per-run peaks (ops/s): PUT$DK_PUT; GET$DK_GET."
    echo
    echo "| latency, ms: p50 / p99 / p99.9 / max | dynkv | Dynomite p99 (quoted) |"
    echo "|---|--:|--:|"
    echo "| PUT at peak (closed loop, median run) | $(lat "$TMP/put-peak-$PUT_MED.out") | |"
    echo "| **PUT open loop at $PUT_HALF/s** (half of peak; $(openrow "$TMP/put-open.out")) | **$(lat "$TMP/put-open.out")** | $DYNO_SET_P99 |"
    echo "| GET at peak (closed loop, median run) | $(lat "$TMP/get-peak-$GET_MED.out") | |"
    echo "| **GET open loop at $GET_HALF/s** (half of peak; $(openrow "$TMP/get-open.out")) | **$(lat "$TMP/get-open.out")** | $DYNO_GET_P99 |"
    echo
    echo "Target (ANCHORS.md): p99 < 5 ms at half of peak. The Dynomite p99s were measured"
    echo "at its peak, by a closed-loop tool as far as ANCHORS.md says."
    echo
}
# onerate OP DKNAME PEERNAME RATE TARGET: the table rows of server CPU and
# context switches per request over the two open loops at one RATE.
onerate() {
    dc=$(cut -d' ' -f1 "$TMP/$2.cpu") dx=$(cut -d' ' -f2 "$TMP/$2.cpu")
    pc=$(cut -d' ' -f1 "$TMP/$3.cpu") px=$(cut -d' ' -f2 "$TMP/$3.cpu")
    sat=''
    awk -v a="$(field ops_s "$TMP/$3.out")" -v r="$4" 'BEGIN { exit !(a + 0 < r * 0.95) }' && sat=', the peer saturated'
    echo "| **server CPU per $1 at one open-loop rate, $4/s$sat (µs)** | $dc | $pc | $(ratio "$dc" "$pc") | $5 |"
    echo "| context switches per $1 at $4/s | $dx | $px | $(ratio "$dx" "$px") | |"
}
peer_section() {
    echo "The peer ran in the same run: $DYNO_VERSION (\$DYNOMITE=$DYNOMITE), three nodes on"
    echo "127.0.0.1-3, one rack each (so every node holds every key, RF = 3), \`read_consistency\`"
    echo "and \`write_consistency\` DC_QUORUM, each over its own Redis $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/')"
    echo "$(dyno_persistence). Each round ran dynkv, then the peer;"
    echo "the same dk_load drives both (\`--redis\` speaks RESP to Dynomite's client port)."
    echo
    echo "| workload | dynkv | Dynomite | dynkv / Dynomite | target |"
    echo "|---|--:|--:|--:|--:|"
    echo "| PUT peak, closed loop (ops/s) | $PUT_PEAK | $DY_PUT_PEAK | $(ratio "$PUT_PEAK" "$DY_PUT_PEAK") | ≥ 1.0 |"
    echo "| GET peak, closed loop (ops/s) | $GET_PEAK | $DY_GET_PEAK | $(ratio "$GET_PEAK" "$DY_GET_PEAK") | ≥ 2.0 |"
    echo "| p99 at half of peak, open loop, PUT (ms) | $(field p99_ms "$TMP/put-open.out") | $(field p99_ms "$TMP/dyno-put-open.out") | $(ratio "$(field p99_ms "$TMP/put-open.out")" "$(field p99_ms "$TMP/dyno-put-open.out")") | < 5 ms |"
    echo "| p99 at half of peak, open loop, GET (ms) | $(field p99_ms "$TMP/get-open.out") | $(field p99_ms "$TMP/dyno-get-open.out") | $(ratio "$(field p99_ms "$TMP/get-open.out")" "$(field p99_ms "$TMP/dyno-get-open.out")") | < 5 ms |"
    onerate PUT put-open dyno-put-same "$PUT_HALF" "≤ 1.5"
    onerate GET get-open dyno-get-same "$GET_HALF" ""
    echo "| server CPU per PUT at peak, all server processes (µs) | $PUT_CPU | $DY_PUT_CPU | $(ratio "$PUT_CPU" "$DY_PUT_CPU") | |"
    echo "| server CPU per GET at peak, all server processes (µs) | $GET_CPU | $DY_GET_CPU | $(ratio "$GET_CPU" "$DY_GET_CPU") | |"
    echo "| context switches per PUT at peak | $PUT_CTX | $DY_PUT_CTX | $(ratio "$PUT_CTX" "$DY_PUT_CTX") | |"
    echo "| context switches per GET at peak | $GET_CTX | $DY_GET_CTX | $(ratio "$GET_CTX" "$DY_GET_CTX") | |"
    echo
    echo "Per-run peaks (ops/s), in run order: dynkv PUT$DK_PUT, Dynomite SET$DY_PUT;"
    echo "dynkv GET$DK_GET, Dynomite GET$DY_GET. CPU and switches are summed over 3 dynkvd,"
    echo "resp. 3 Dynomite + 3 Redis: at one rate over the open loop (dynkv's half of peak,"
    echo "both stores; the peer is saturated where that rate is above its peak), at peak the"
    echo "medians over the peak runs. Per request they compare at one rate: at a store's own"
    echo "closed-loop peak they fall with how many requests each wake-up finds waiting, which"
    echo "is highest for a store whose peak is bound by its CPU rather than by its latency."
    echo
    echo "| latency, ms: p50 / p99 / p99.9 / max | dynkv | Dynomite |"
    echo "|---|--:|--:|"
    echo "| PUT at peak (closed loop, median run) | $(lat "$TMP/put-peak-$PUT_MED.out") | $(lat "$TMP/dyno-put-peak-$DY_PUT_MED.out") |"
    echo "| PUT open loop at half of own peak: dynkv $PUT_HALF/s ($(openrow "$TMP/put-open.out")); Dynomite $DY_PUT_HALF/s ($(openrow "$TMP/dyno-put-open.out")) | **$(lat "$TMP/put-open.out")** | **$(lat "$TMP/dyno-put-open.out")** |"
    echo "| GET at peak (closed loop, median run) | $(lat "$TMP/get-peak-$GET_MED.out") | $(lat "$TMP/dyno-get-peak-$DY_GET_MED.out") |"
    echo "| GET open loop at half of own peak: dynkv $GET_HALF/s ($(openrow "$TMP/get-open.out")); Dynomite $DY_GET_HALF/s ($(openrow "$TMP/dyno-get-open.out")) | **$(lat "$TMP/get-open.out")** | **$(lat "$TMP/dyno-get-open.out")** |"
    echo "| PUT open loop at dynkv's rate, $PUT_HALF/s (Dynomite: $(openrow "$TMP/dyno-put-same.out")) | $(lat "$TMP/put-open.out") | **$(lat "$TMP/dyno-put-same.out")** |"
    echo "| GET open loop at dynkv's rate, $GET_HALF/s (Dynomite: $(openrow "$TMP/dyno-get-same.out")) | $(lat "$TMP/get-open.out") | **$(lat "$TMP/dyno-get-same.out")** |"
    echo
    echo "Target (ANCHORS.md): p99 < 5 ms at half of peak, open loop (latency from the"
    echo "intended send time). Peer SETs write $PEER_KEYS random keys (Redis holds every value"
    echo "in memory), dynkv PUTs write new keys; both GET random keys of $FILL_KEYS loaded ones."
    echo "The last two rows run the peer at dynkv's half-of-peak rate: one rate, two stores"
    echo "(above dynkv's peak when dynkv is the faster, so the peer then runs saturated)."
    echo
}
nosync_section() {
    echo "## Durability apart from the rest (NOSYNC=1)"
    echo
    echo "A second dynkv cluster ran beside the first, the same but **\`storage.sync=false\`:"
    echo "not the durable configuration** (a PUT is acknowledged before its WAL record is"
    echo "fsynced on any replica; a power loss can lose acknowledged writes). Each round ran"
    echo "durable dynkv, the peer, then this cluster; same keys, same dk_load."
    echo
    echo "| PUT, quorum | dynkv durable | dynkv sync=false | Dynomite | sync=false / Dynomite | durable / sync=false |"
    echo "|---|--:|--:|--:|--:|--:|"
    echo "| peak, closed loop (ops/s) | $PUT_PEAK | $NS_PUT_PEAK | ${DY_PUT_PEAK:-} | $(ratio "$NS_PUT_PEAK" "${DY_PUT_PEAK:-}") | $(ratio "$PUT_PEAK" "$NS_PUT_PEAK") |"
    echo "| server CPU per PUT at peak (µs) | $PUT_CPU | $NS_PUT_CPU | ${DY_PUT_CPU:-} | $(ratio "$NS_PUT_CPU" "${DY_PUT_CPU:-}") | $(ratio "$PUT_CPU" "$NS_PUT_CPU") |"
    echo "| context switches per PUT at peak | $PUT_CTX | $NS_PUT_CTX | ${DY_PUT_CTX:-} | $(ratio "$NS_PUT_CTX" "${DY_PUT_CTX:-}") | $(ratio "$PUT_CTX" "$NS_PUT_CTX") |"
    echo "| p99 at half of own peak, open loop (ms) | $(field p99_ms "$TMP/put-open.out") | $(field p99_ms "$TMP/ns-put-open.out") | $(field p99_ms "$TMP/dyno-put-open.out" 2>/dev/null) | | |"
    echo
    echo "Per-run sync=false peaks (ops/s), in run order:$NS_PUT. Its open loop at $NS_PUT_HALF/s:"
    echo "p50 / p99 / p99.9 / max $(lat "$TMP/ns-put-open.out") ms ($(openrow "$TMP/ns-put-open.out"))."
    echo
}
mkdir -p "$(dirname "$OUT")"
{
    echo "# Cluster benchmark: 3 dynkv nodes, RF=3, \`X-Consistency: $CONSISTENCY\`, $((VSIZE / 1024)) KiB values ($(date '+%F %H:%M'))"
    echo
    [ "$QUICK" = 1 ] && echo "**Quick mode (-q): tiny sizes, a check of the script, not a measurement.**" && echo
    echo "Three \`dynkvd\` processes (127.0.0.1-3, lsm engine, sync=true, n_replicas 3${DYNKV_CREATE:+; \`$DYNKV_CREATE\`}) and"
    echo "the load generator all share this machine's $(nproc) cores. Requests are spread"
    echo "over the three nodes ($CONNS keep-alive connections, round-robin). Peaks are"
    echo "medians of $ROUNDS closed-loop runs; \"half of peak\" rows are open loop with latency"
    echo "from each request's intended send time (coordinated-omission safe), each"
    echo "started once its servers settled (under 50 ms of CPU per process in a second)."
    echo
    if [ "$PEER" = 1 ]; then
        peer_section
    else
        quoted_section
    fi
    [ "$NOSYNC" = 1 ] && nosync_section
    echo "## Counters (GET /metrics, summed over the 3 nodes)"
    echo
    echo "| counter | PUT phases | fill + GET phases |"
    echo "|---|--:|--:|"
    for k in 'dynkv_http_requests_total{op="put",code="200"' 'dynkv_http_requests_total{op="get",code="200"' \
        dynkv_coord_writes_total dynkv_coord_reads_total dynkv_engine_lsm_write_groups_total \
        dynkv_engine_lsm_wal_syncs_total dynkv_engine_lsm_write_stall_seconds_total \
        dynkv_engine_lsm_flushes_total dynkv_engine_lsm_compactions_total; do
        s=1 unit=
        case $k in *_seconds_total) s=1000 unit=' (ms)' ;; esac
        a=$(csum m0 "$k" $s) b=$(csum m1 "$k" $s) c=$(csum m2 "$k" $s)
        echo "| \`$k\`$unit | $((b - a)) | $((c - b)) |"
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
    if [ "$PEER" = 1 ]; then
        echo
        echo "The peer's per-second open-loop lines, SET then GET:"
        echo
        echo '```'
        grep '^INTERVAL' "$TMP/dyno-put-open.out" || true
        echo
        grep '^INTERVAL' "$TMP/dyno-get-open.out" || true
        echo '```'
    fi
    echo
    echo "## Commands"
    echo
    echo "- \`$([ "$NOSYNC" = 1 ] && echo "NOSYNC=1 ")$([ "$PEER" = 1 ] && echo "DYNOMITE=$DYNOMITE ")bench/load/run-cluster.sh$([ "$QUICK" = 1 ] && echo ' -q')\` (ROUNDS=$ROUNDS PEAK_SECS=$PEAK_SECS OPEN_SECS=$OPEN_SECS FILL_KEYS=$FILL_KEYS PEER_KEYS=$PEER_KEYS CONSISTENCY=$CONSISTENCY PEER_FSYNC=${PEER_FSYNC:-0})"
    echo "- \`tools/dynkv-cluster create DIR $CREATE_ARGS\` then \`tools/dynkv-cluster start DIR\`"
    if [ "$PEER" = 1 ]; then
        echo "- the peer (bench/load/peer-dynomite.sh): \`redis-server --port P --bind 127.0.0.(i+3) --save '' $(dyno_redis_args)\`"
        echo "  and \`\$DYNOMITE -c FILE\` for i = 1..3 (rack i, one shared token, DC_QUORUM reads and"
        echo "  writes, no peer encryption; the script writes the files into its temp dir)."
    fi
    echo "- PUT keys are new keys (\`--perm\`, a distinct prefix per run), so no write makes a"
    echo "  sibling; values are incompressible random bytes. GETs read random keys of the"
    echo "  $FILL_KEYS loaded ones with \`Accept: application/octet-stream\`."
    echo
    # shellcheck disable=SC2119  # no lines of its own about the machine
    report_tail
} >"$OUT"
say "wrote $OUT"
