#!/bin/sh
# ab.sh OP RATE PAIRS SECS SIDE_A SIDE_B: alternate open loops (dk_load -R RATE,
# 50 conns, 10 KiB, SECS s after 2 s warm-up) against two servers started once.
# SIDE: "redis" or "dk:BUILDDIR[:--set k=v ...]" . OP put|get. Prints one line per run.
set -eu
OP=$1 RATE=$2 PAIRS=$3 SECS=$4 SA=$5 SB=$6
cd /work/wt-tail/bench/load
. ./common.sh
BUILD=/tmp/tail-b
load_tmp tail-ab PA PB
DK_LOAD=/tmp/tail-b/bench/load/dk_load
export DYNKV_PLUGIN_PATH
start_side() { # start_side SIDE VAR-PREFIX
    case $1 in
    redis) PORT=; start_redis; eval "$2_PID=\$REDIS_PID $2_T=127.0.0.1:\$RPORT $2_R=--redis" ;;
    dk:*)
        b=$(echo "$1" | cut -d: -f2); set_=$(echo "$1" | cut -d: -f3-)
        p=$(free_port 127.0.0.1); mkdir -p "$TMP/$2"
        DYNKV_PLUGIN_PATH=$b/.libs "$b/server/dynkvd" --set node.data_dir="$TMP/$2/data" --set node.http_listen=127.0.0.1:$p \
            --set node.rpc_listen=127.0.0.1:$((p + 1)) --set node.gossip_listen=127.0.0.1:$((p + 2)) \
            --set storage.engine=lsm --set storage.sync=true $set_ >"$TMP/$2.log" 2>&1 &
        eval "$2_PID=\$! $2_T=127.0.0.1:$p $2_R="
        wait_health "http://127.0.0.1:$p" "$!" "$TMP/$2.log" ;;
    esac
}
start_side "$SA" A; PA=$A_PID
start_side "$SB" B; PB=$B_PID
if [ "$OP" = get ]; then
    for s in A B; do eval "t=\$${s}_T r=\$${s}_R"
        $DK_LOAD $r -m put -c 50 -s 10240 -d 600 -n 20000 --perm -k 20000 -p g- "$t" >/dev/null 2>&1; done
fi
settle() { si=0; while [ $si -lt 15 ]; do c0=$(cpu_ticks "$1"); sleep 1; c1=$(cpu_ticks "$1"); [ $((c1 - c0)) -lt 5 ] && return 0; si=$((si+1)); done; }
for i in $(seq 1 "$PAIRS"); do
    for s in A B; do
        eval "t=\$${s}_T r=\$${s}_R pid=\$${s}_PID"
        settle "$PA"; settle "$PB"
        la=$(cut -d' ' -f1 /proc/loadavg)
        if [ "$OP" = put ]; then args="-m put --perm -k 100000000 -p $s$i-"; else args="-m get -k 20000 -p g- --seed $i"; fi
        sampler_start "$pid" "$TMP/s.$s$i"
        c0=$(cpu_ticks "$pid"); x0=$(ctx "$pid")
        eval "gen=\${GEN_$s:-}"
        $gen $DK_LOAD $r $args -c 50 -s 10240 -R "$RATE" -d "$SECS" -w 2 "$t" >"$TMP/o.$s$i" 2>&1 || true
        c1=$(cpu_ticks "$pid"); x1=$(ctx "$pid")
        sampler_stop
        n=$(field ok "$TMP/o.$s$i")
        tot=$(sampler_totals "$TMP/s.$s$i" | awk '{ printf "%s=%s+q%s ", $1, $2, $3 }')
        echo "$s$i load=$la ach=$(field ops_s "$TMP/o.$s$i") p50=$(field p50_ms "$TMP/o.$s$i") p99=$(field p99_ms "$TMP/o.$s$i") p999=$(field p999_ms "$TMP/o.$s$i") max=$(field max_ms "$TMP/o.$s$i") err=$(field errors "$TMP/o.$s$i") unf=$(field unfinished "$TMP/o.$s$i") late99=$(field late_p99_ms "$TMP/o.$s$i") svc50=$(field svc_p50_ms "$TMP/o.$s$i") svc99=$(field svc_p99_ms "$TMP/o.$s$i") cpu_us=$(awk -v a=$c0 -v b=$c1 -v n=$n "BEGIN { printf \"%.1f\", (b - a) * 1e4 / n }") ctx=$(awk -v a=$x0 -v b=$x1 -v n=$n "BEGIN { printf \"%.2f\", (b - a) / n }") | $tot"
    done
done
for s in A B; do eval "t=\$${s}_T r=\$${s}_R"; if [ -z "$r" ]; then curl -s "http://$t/metrics" | grep -E "^dynkv_engine_lsm_(wal_syncs|wal_syncs_le_[0-9]+ms|group_commit_waits)_total|wal_sync_seconds_total|wal_sync_max|group_commit_wait_seconds" | grep -v "^#" | sed "s/^/$s /"; fi; done
