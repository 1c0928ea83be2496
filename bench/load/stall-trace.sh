#!/bin/bash
# bench/load/stall-trace.sh BUILD OUT RATE [dynkvd --set args...] - one dynkvd
# (lsm, sync=true) from BUILD, 5 s of closed-loop PUTs to fill level 0/1, then
# an open-loop PUT run at RATE/s for 15 s (dk_load -i --slow 10) while
# `perf record -a -k mono` records the scheduler, the sync-type syscalls of
# every thread and jbd2 commits on the same CLOCK_MONOTONIC axis as dk_load's
# SLOW lines. Leaves OUT/{open.out,perf.data,threads.txt,m0.txt,m1.txt,
# load0.txt,load1.txt}; bench/load/stall-timeline.py OUT reads them.
# CONNS=N: the open loop's connections (50). NODE_WRAP='cmd args': run
# dynkvd under a wrapper (e.g. one that sets a scheduling attribute). DK_LOAD=path overrides the load generator (e.g. a newer one for an old
# build); PERF=0 runs without perf. Needs root (perf -a). Also leaves
# OUT/lsm-trace.txt (the engine's file operations and flush/compaction/switch
# events, DK_LSM_TRACE, env_posix.c) and OUT/sample.txt (stall-sample.py: per
# 10 ms /proc/stat, vmstat, pressure and every thread's schedstat; SAMPLE=0
# skips it). perf also records block requests (discards), writeback, reclaim,
# compaction and DAMON scheme applications.
set -u
B=$1 OUT=$2 RATE=$3 CONNS=${CONNS:-50} NODE_WRAP=${NODE_WRAP:-}
shift 3
DK_LOAD=${DK_LOAD:-$B/bench/load/dk_load}
mkdir -p "$OUT"
rm -rf "$OUT/data"
PORT=$(python3 -c '
import socket, random
while True:
    p = random.randrange(20000, 60000, 3); ok = True
    for q in (p, p + 1, p + 2):
        s = socket.socket()
        try: s.bind(("127.0.0.1", q))
        except OSError: ok = False
        s.close()
    if ok: print(p); break')
rm -f "$OUT/lsm-trace.txt"
# shellcheck disable=SC2086  # NODE_WRAP is a command and its arguments
DK_LSM_TRACE="$OUT/lsm-trace.txt" $NODE_WRAP "$B/server/dynkvd" --set node.data_dir="$OUT/data" --set node.http_listen=127.0.0.1:"$PORT" \
    --set node.rpc_listen=127.0.0.1:$((PORT + 1)) --set node.gossip_listen=127.0.0.1:$((PORT + 2)) \
    --set storage.engine=lsm --set storage.sync=true "$@" >"$OUT/node.log" 2>&1 &
NP=$!
trap 'kill $NP 2>/dev/null; wait $NP 2>/dev/null; rm -rf "$OUT/data"' EXIT
for _ in $(seq 50); do
    kill -0 $NP 2>/dev/null || { tail -3 "$OUT/node.log"; exit 1; }
    curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break
    sleep 0.2
done
"$DK_LOAD" -m put -c 50 -d 5 --perm -k 100000000 -p w- -s 10240 127.0.0.1:"$PORT" >"$OUT/warm.out" 2>&1
curl -s "http://127.0.0.1:$PORT/metrics" | grep '^dynkv_engine_lsm' >"$OUT/m0.txt"
for t in "/proc/$NP/task/"*; do echo "$(basename "$t") $(cat "$t/comm")"; done >"$OUT/threads.txt"
PP=
if [ "${PERF:-1}" = 1 ]; then
    ev=
    for s in fdatasync fsync sync_file_range openat renameat2 rename ftruncate unlink unlinkat fallocate; do
        ev="$ev -e syscalls:sys_enter_$s -e syscalls:sys_exit_$s"
    done
    # shellcheck disable=SC2086  # ev is a list of words
    perf record -q -a -k mono -o "$OUT/perf.data" -e sched:sched_switch -e sched:sched_wakeup $ev \
        -e jbd2:jbd2_start_commit -e jbd2:jbd2_end_commit -e block:block_rq_issue -e block:block_rq_complete \
        -e writeback:writeback_start -e writeback:writeback_written -e vmscan:mm_vmscan_kswapd_wake \
        -e vmscan:mm_vmscan_direct_reclaim_begin -e compaction:mm_compaction_begin \
        -e compaction:mm_compaction_end -e damon:damos_before_apply -- sleep 16 2>"$OUT/perf.err" &
    PP=$!
    sleep 0.5
fi
cut -d' ' -f1-3 /proc/loadavg >"$OUT/load0.txt"
"$DK_LOAD" -m put -c "$CONNS" -R "$RATE" -d 15 -w 2 --perm -k 100000000 -p o- -s 10240 -i --slow 10 \
    127.0.0.1:"$PORT" >"$OUT/open.out" 2>&1 &
LP=$!
SP=
if [ "${SAMPLE:-1}" = 1 ]; then
    python3 "$(dirname "$0")/stall-sample.py" "$OUT/sample.txt" 17.5 "$NP" "$LP" &
    SP=$!
fi
wait "$LP"
[ -n "$SP" ] && wait "$SP"
cut -d' ' -f1-3 /proc/loadavg >"$OUT/load1.txt"
[ -n "$PP" ] && wait "$PP"
curl -s "http://127.0.0.1:$PORT/metrics" | grep '^dynkv_engine_lsm' >"$OUT/m1.txt"
grep -E '^INTERVAL|latency ms' "$OUT/open.out"
