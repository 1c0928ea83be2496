#!/bin/sh
# bench/load/run-cpu-cluster.sh - server CPU and context switches per quorum
# request of a 3-node cluster (tools/dynkv-cluster, lsm, n_replicas 3,
# sync = true), summed over the three dynkvd processes, at a fixed open-loop
# rate spread over the nodes; prints one line per phase (no report file:
# bench/results/ quotes the lines with the command).
#
#   bench/load/run-cpu-cluster.sh [-B BUILDDIR] [-q]
#
# Phases, ROUNDS (3) each, medians: quorum PUT at PUT_RATE (1500/s) and,
# after FILL_KEYS (20000) keys, quorum GET at GET_RATE (3000/s), CPU_SECS
# (10) s each, CONNS (50) connections. CPU is utime+stime of each node
# (/proc/PID/stat), context switches are summed over each node's threads.
# The peer (Dynomite over 3 Redis) is not in Debian: compare with Redis
# `appendfsync always` from run-cpu.sh, and say so.
set -eu

. "$(dirname "$0")/common.sh"
load_opts cpu-cluster 17 "$@"
CPU_SECS=${CPU_SECS:-$([ "$QUICK" = 1 ] && echo 2 || echo 10)}
PUT_RATE=${PUT_RATE:-1500}
GET_RATE=${GET_RATE:-3000}
HZ=$(getconf CLK_TCK)
load_tmp cpu-cluster

build_all "$BUILD"
cluster_up --nodes 3 --engine lsm --set cluster.n_replicas=3 --set storage.sync=true
PIDS=$(cat "$CL"/n*/pid)

ticks() { t=0; for p in $PIDS; do t=$((t + $(cpu_ticks "$p"))); done; echo $t; }
ctxs() { t=0; for p in $PIDS; do t=$((t + $(ctx "$p"))); done; echo $t; }
phase() { # phase NAME DK_LOAD-ARGS...: "cpu_us_per_req ctx_per_req"
    name=$1
    shift
    t0=$(ticks) c0=$(ctxs)
    "$DK_LOAD" "$@" -H "X-Consistency: quorum" "$TARGETS" >"$TMP/$name.out" 2>&1 || true
    t1=$(ticks) c1=$(ctxs)
    n=$(($(field ok "$TMP/$name.out") + $(field notfound "$TMP/$name.out")))
    [ "$n" -gt 0 ] || { cat "$TMP/$name.out" >&2; die "$name: no request answered"; }
    awk -v t=$((t1 - t0)) -v c=$((c1 - c0)) -v n="$n" -v hz="$HZ" 'BEGIN { printf "%.1f %.2f\n", t * 1e6 / hz / n, c / n }'
}
"$DK_LOAD" -m put -c "$CONNS" -s "$VSIZE" -d 600 -n "$FILL_KEYS" --perm -k "$FILL_KEYS" -p g- \
    -H "X-Consistency: quorum" "$TARGETS" >"$TMP/fill.out" 2>&1 || { cat "$TMP/fill.out" >&2; die "fill failed"; }
PC='' PX='' GC='' GX=''
for r in $(seq 1 "$ROUNDS"); do
    # shellcheck disable=SC2046
    set -- $(phase put-$r -m put -R "$PUT_RATE" -c "$CONNS" -s "$VSIZE" -d "$CPU_SECS" --perm -k 100000000 -p "p$r-")
    PC="$PC $1" PX="$PX $2"
    echo "round $r quorum PUT at $PUT_RATE/s: $1 us CPU, $2 switches per request (3 nodes summed); $(grep '^RESULT' "$TMP/put-$r.out" | tr ' ' '\n' | grep -E '^(ops_s|errors|p50_ms|p99_ms)=' | tr '\n' ' ')"
    # shellcheck disable=SC2046
    set -- $(phase get-$r -m get -R "$GET_RATE" -c "$CONNS" -s "$VSIZE" -d "$CPU_SECS" -k "$FILL_KEYS" -p g- --seed "$r")
    GC="$GC $1" GX="$GX $2"
    echo "round $r quorum GET at $GET_RATE/s: $1 us CPU, $2 switches per request (3 nodes summed); $(grep '^RESULT' "$TMP/get-$r.out" | tr ' ' '\n' | grep -E '^(ops_s|errors|p50_ms|p99_ms)=' | tr '\n' ' ')"
done
echo "RESULT cluster put_cpu_us=$(median $PC) put_ctx=$(median $PX) get_cpu_us=$(median $GC) get_ctx=$(median $GX) rounds=$ROUNDS secs=$CPU_SECS put_rate=$PUT_RATE get_rate=$GET_RATE dynkv=$(git -C "$TOP_SRC" rev-parse --short HEAD 2>/dev/null) load='$(cut -d' ' -f1-3 /proc/loadavg)'"
