#!/bin/sh
# bench/load/run-get-cluster.sh - the quorum GET alone on a 3-node cluster
# (as run-cluster.sh: tools/dynkv-cluster, lsm, n_replicas 3, sync = true):
# FILL_KEYS (20000) 10 KiB keys, then ROUNDS (3) x (GET peak, closed loop,
# CONNS (50) connections, PEAK_SECS (8) s; GET at a fixed GET_RATE (3000)/s
# for CPU_SECS (10) s), with the server CPU and context switches per GET
# summed over the three dynkvd (and the bytes they wrote, from
# /proc/PID/io wchar, and their read + write syscalls, per GET: exact counts
# where CPU time is noisy), and the read counters (digest reads,
# mismatches, widened reads, replica reads) at the end. For A/B runs of the
# read path without the PUT phases of run-cluster.sh and run-cpu-cluster.sh;
# prints lines, no report file.
#
#   bench/load/run-get-cluster.sh [-B BUILDDIR] [-q]
set -eu

. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/peer-dynomite.sh"
load_opts get-cluster 11 "$@"
HZ=$(getconf CLK_TCK)
CPU_SECS=${CPU_SECS:-10}
GET_RATE=${GET_RATE:-3000}
load_tmp digest-get
build_all "$BUILD"
cluster_up --nodes 3 --engine lsm --set cluster.n_replicas=3 --set storage.sync=true
PIDS=$(cat "$CL"/n*/pid)
Q="X-Consistency: quorum"
"$DK_LOAD" -m put -c "$CONNS" -s "$VSIZE" -d 600 -n "$FILL_KEYS" --perm -k "$FILL_KEYS" -p g- \
    -H "$Q" "$TARGETS" >"$TMP/fill.out" 2>&1 || { cat "$TMP/fill.out" >&2; die "fill failed"; }
# io_sum KEY PID...: a /proc/PID/io field summed over the processes
io_sum() {
    k=$1
    shift
    for p in "$@"; do cat "/proc/$p/io"; done | awk -v k="$k:" '$1 == k { s += $2 } END { printf "%.0f\n", s }'
}
# phase NAME DK_LOAD-ARGS...: "cpu_us ctx wchar_bytes syscalls", per request, of the three nodes
phase() {
    name=$1
    shift
    # shellcheck disable=SC2086
    t0=$(proc_ticks $PIDS) c0=$(proc_ctx $PIDS) w0=$(io_sum wchar $PIDS) s0=$(($(io_sum syscr $PIDS) + $(io_sum syscw $PIDS)))
    "$DK_LOAD" "$@" >"$TMP/$name.out" 2>&1 || true
    # shellcheck disable=SC2086
    t1=$(proc_ticks $PIDS) c1=$(proc_ctx $PIDS) w1=$(io_sum wchar $PIDS) s1=$(($(io_sum syscr $PIDS) + $(io_sum syscw $PIDS)))
    n=$(($(field ok "$TMP/$name.out") + $(field notfound "$TMP/$name.out")))
    awk -v t=$((t1 - t0)) -v c=$((c1 - c0)) -v w=$((w1 - w0)) -v s=$((s1 - s0)) -v n="$n" -v hz="$HZ" \
        'BEGIN { printf "%.1f %.2f %.0f %.2f\n", t * 1e6 / hz / n, c / n, w / n, s / n }'
}
PK='' PC='' PX='' PW='' PS='' GC='' GX=''
for r in $(seq 1 "$ROUNDS"); do
    # shellcheck disable=SC2046
    set -- $(phase peak-$r -m get -c "$CONNS" -s "$VSIZE" -d "$PEAK_SECS" -k "$FILL_KEYS" -p g- --seed "$r" -H "$Q" "$TARGETS")
    PK="$PK $(field ops_s "$TMP/peak-$r.out")" PC="$PC $1" PX="$PX $2" PW="$PW $3" PS="$PS $4"
    echo "round $r GET peak: $(field ops_s "$TMP/peak-$r.out")/s p99 $(field p99_ms "$TMP/peak-$r.out") ms errors $(field errors "$TMP/peak-$r.out"); $1 us CPU, $2 switches, $3 bytes written, $4 syscalls per GET"
    # shellcheck disable=SC2046
    set -- $(phase get-$r -m get -R "$GET_RATE" -c "$CONNS" -s "$VSIZE" -d "$CPU_SECS" -k "$FILL_KEYS" -p g- --seed "$r" -H "$Q" "$TARGETS")
    GC="$GC $1" GX="$GX $2"
    echo "round $r GET at $GET_RATE/s: $(field ops_s "$TMP/get-$r.out")/s errors $(field errors "$TMP/get-$r.out"); $1 us CPU, $2 switches, $3 bytes written, $4 syscalls per GET"
done
DIG=$(for t in $(echo "$TARGETS" | tr , ' '); do curl -s --max-time 5 "http://$t/metrics"; done |
    awk '/^dynkv_(coord_digest_reads|coord_digest_mismatches|coord_reads_widened|replica_reads|coord_reads)_total / { s[$1] += $2 }
         END { for (k in s) printf "%s=%d ", substr(k, 7), s[k] }')
echo "counters (3 nodes summed): $DIG"
# shellcheck disable=SC2086
echo "RESULT get_peak=$(median $PK) peak_cpu_us=$(median $PC) peak_ctx=$(median $PX) peak_wchar=$(median $PW) peak_syscalls=$(median $PS) get_cpu_us=$(median $GC) get_ctx=$(median $GX) rounds=$ROUNDS build=$BUILD mem=$MEM_BOUND load='$(cut -d' ' -f1-3 /proc/loadavg)'"
