#!/bin/sh
# bench/load/run-cpu-cluster.sh - server CPU and context switches per quorum
# request of a 3-node cluster (tools/dynkv-cluster, lsm, n_replicas 3,
# sync = true), summed over the three dynkvd processes, at a fixed open-loop
# rate spread over the nodes, beside the same for the peer (Dynomite over
# three Redis, DC_QUORUM, summed over all six processes) in the same run;
# prints one line per phase (no report file: bench/results/ quotes the lines
# with the command).
#
#   [DYNOMITE=/path/to/dynomite] bench/load/run-cpu-cluster.sh [-B BUILDDIR] [-q]
#
# Phases, ROUNDS (3) each, medians: quorum PUT at PUT_RATE (1500/s) and,
# after FILL_KEYS (20000) keys, quorum GET at GET_RATE (3000/s), CPU_SECS
# (10) s each, CONNS (50) connections; each round runs dynkv then the peer.
# CPU is utime+stime (/proc/PID/stat), context switches are summed over each
# process's threads; put_bg_cpu_us is the LSM flush and compaction threads'
# CPU from the first PUT round to the end, per PUT. The peer (bench/load/peer-dynomite.sh) is not in
# Debian: without $DYNOMITE it is skipped; compare with Redis `appendfsync
# always` from run-cpu.sh then, and say so. Peer SETs go to PEER_KEYS
# (50000) random keys (Redis keeps every value in memory).
set -eu

. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/peer-dynomite.sh"
load_opts cpu-cluster 19 "$@"
CPU_SECS=${CPU_SECS:-$([ "$QUICK" = 1 ] && echo 2 || echo 10)}
PUT_RATE=${PUT_RATE:-1500}
GET_RATE=${GET_RATE:-3000}
PEER_KEYS=${PEER_KEYS:-50000}
# Extra `dynkv-cluster create` arguments, after the defaults (a later --set
# wins): DYNKV_CREATE="--no-key --set storage.sync=false" compares like for
# like with the peer, which neither fsyncs nor authenticates its peers.
DYNKV_CREATE=${DYNKV_CREATE:-}
HZ=$(getconf CLK_TCK)
load_tmp cpu-cluster
trap 'set +e; dyno_stop; load_cleanup' EXIT   # the peer's processes too

build_all "$BUILD"
# shellcheck disable=SC2086  # DYNKV_CREATE is a list of words
cluster_up --nodes 3 --engine lsm --set cluster.n_replicas=3 --set storage.sync=true $DYNKV_CREATE
PIDS=$(cat "$CL"/n*/pid)

PEER=0
dyno_start "$TMP/dynomite" && PEER=1

phase() { # phase NAME "PIDS" DK_LOAD-ARGS...: "cpu_us_per_req ctx_per_req"
    name=$1 pids=$2
    shift 2
    # shellcheck disable=SC2086
    t0=$(proc_ticks $pids) c0=$(proc_ctx $pids)
    "$DK_LOAD" "$@" >"$TMP/$name.out" 2>&1 || true
    # shellcheck disable=SC2086
    t1=$(proc_ticks $pids) c1=$(proc_ctx $pids)
    n=$(($(field ok "$TMP/$name.out") + $(field notfound "$TMP/$name.out")))
    [ "$n" -gt 0 ] || { cat "$TMP/$name.out" >&2; die "$name: no request answered"; }
    awk -v t=$((t1 - t0)) -v c=$((c1 - c0)) -v n="$n" -v hz="$HZ" 'BEGIN { printf "%.1f %.2f\n", t * 1e6 / hz / n, c / n }'
}
# bg_ticks PID...: utime + stime of the LSM engines' flush and compaction
# threads (named lsm-flush, lsm-compact), in clock ticks.
bg_ticks() {
    for p in "$@"; do
        for t in /proc/"$p"/task/*; do
            case $(cat "$t/comm" 2>/dev/null) in
            lsm-flush | lsm-compact) cat "$t/stat" 2>/dev/null ;;
            esac
        done
    done | awk '{ sub(/^.*\) /, ""); s += $12 + $13 } END { print s + 0 }'
}
summary() { grep '^RESULT' "$TMP/$1.out" | tr ' ' '\n' | grep -E '^(ops_s|errors|notfound|p50_ms|p99_ms)=' | tr '\n' ' '; }
Q="X-Consistency: quorum"
"$DK_LOAD" -m put -c "$CONNS" -s "$VSIZE" -d 600 -n "$FILL_KEYS" --perm -k "$FILL_KEYS" -p g- \
    -H "$Q" "$TARGETS" >"$TMP/fill.out" 2>&1 || { cat "$TMP/fill.out" >&2; die "fill failed"; }
if [ "$PEER" = 1 ]; then
    "$DK_LOAD" --redis -m put -c "$CONNS" -s "$VSIZE" -d 600 -n "$FILL_KEYS" --perm -k "$FILL_KEYS" -p g- \
        "$DYNO_TARGETS" >"$TMP/dyno-fill.out" 2>&1 || { cat "$TMP/dyno-fill.out" >&2; die "peer fill failed"; }
fi
PC='' PX='' GC='' GX='' DPC='' DPX='' DGC='' DGX=''
# shellcheck disable=SC2086
BG0=$(bg_ticks $PIDS) PUTS=0
for r in $(seq 1 "$ROUNDS"); do
    # shellcheck disable=SC2046
    set -- $(phase put-$r "$PIDS" -m put -R "$PUT_RATE" -c "$CONNS" -s "$VSIZE" -d "$CPU_SECS" --perm -k 100000000 -p "p$r-" -H "$Q" "$TARGETS")
    PC="$PC $1" PX="$PX $2"
    PUTS=$((PUTS + $(field ok "$TMP/put-$r.out")))
    echo "round $r quorum PUT at $PUT_RATE/s: $1 us CPU, $2 switches per request (3 nodes summed); $(summary put-$r)"
    if [ "$PEER" = 1 ]; then
        # shellcheck disable=SC2046
        set -- $(phase dyno-put-$r "$DYNO_PIDS" --redis -m put -R "$PUT_RATE" -c "$CONNS" -s "$VSIZE" -d "$CPU_SECS" -k "$PEER_KEYS" -p p- --seed "$r" "$DYNO_TARGETS")
        DPC="$DPC $1" DPX="$DPX $2"
        echo "round $r Dynomite SET at $PUT_RATE/s: $1 us CPU, $2 switches per request (3 Dynomite + 3 Redis summed); $(summary dyno-put-$r)"
    fi
    # shellcheck disable=SC2046
    set -- $(phase get-$r "$PIDS" -m get -R "$GET_RATE" -c "$CONNS" -s "$VSIZE" -d "$CPU_SECS" -k "$FILL_KEYS" -p g- --seed "$r" -H "$Q" "$TARGETS")
    GC="$GC $1" GX="$GX $2"
    echo "round $r quorum GET at $GET_RATE/s: $1 us CPU, $2 switches per request (3 nodes summed); $(summary get-$r)"
    if [ "$PEER" = 1 ]; then
        # shellcheck disable=SC2046
        set -- $(phase dyno-get-$r "$DYNO_PIDS" --redis -m get -R "$GET_RATE" -c "$CONNS" -s "$VSIZE" -d "$CPU_SECS" -k "$FILL_KEYS" -p g- --seed "$r" "$DYNO_TARGETS")
        DGC="$DGC $1" DGX="$DGX $2"
        echo "round $r Dynomite GET at $GET_RATE/s: $1 us CPU, $2 switches per request (3 Dynomite + 3 Redis summed); $(summary dyno-get-$r)"
    fi
done
# The flush and compaction threads' CPU from the first PUT round to the
# end (the GET rounds let compaction catch up on what the PUTs left), per
# PUT: it need not fall inside the PUT windows, which it can lag.
# shellcheck disable=SC2086
BG1=$(bg_ticks $PIDS)
BG=$(awk -v t=$((BG1 - BG0)) -v n="$PUTS" -v hz="$HZ" 'BEGIN { printf "%.1f", n ? t * 1e6 / hz / n : 0 }')
echo "flush + compaction threads (3 nodes summed), first PUT round to the end: $BG us CPU per PUT"
# Which loop coordinated the requests and served the peers' replica requests
# (summed over the nodes; a build without the counters prints fewer).
LOOPS=$(for t in $(echo "$TARGETS" | tr , ' '); do curl -s --max-time 5 "http://$t/metrics"; done |
    awk '/^dynkv_(coord_loop[0-9]+_requests|rpc_loop[0-9]+_served|rpc_relayed)_total / { s[$1] += $2 }
         END { for (k in s) printf "%s=%d ", substr(k, 7), s[k] }' | tr ' ' '\n' | sort | tr '\n' ' ')
echo "loops (3 nodes summed, whole run): $LOOPS"
LOAD="'$(cut -d' ' -f1-3 /proc/loadavg)'"
echo "RESULT cluster put_cpu_us=$(median $PC) put_bg_cpu_us=$BG put_ctx=$(median $PX) get_cpu_us=$(median $GC) get_ctx=$(median $GX) rounds=$ROUNDS secs=$CPU_SECS put_rate=$PUT_RATE get_rate=$GET_RATE dynkv=$(git -C "$TOP_SRC" rev-parse --short HEAD 2>/dev/null) load=$LOAD"
if [ "$PEER" = 1 ]; then
    echo "RESULT dynomite put_cpu_us=$(median $DPC) put_ctx=$(median $DPX) get_cpu_us=$(median $DGC) get_ctx=$(median $DGX) rounds=$ROUNDS secs=$CPU_SECS put_rate=$PUT_RATE get_rate=$GET_RATE dynomite='$DYNO_VERSION' load=$LOAD"
    echo "RESULT ratio dynkv/dynomite put_cpu=$(ratio "$(median $PC)" "$(median $DPC)") put_ctx=$(ratio "$(median $PX)" "$(median $DPX)") get_cpu=$(ratio "$(median $GC)" "$(median $DGC)") get_ctx=$(ratio "$(median $GX)" "$(median $DGX)")"
else
    echo "peer skipped (no DYNOMITE): compare with Redis appendfsync always from run-cpu.sh, and say so"
fi
