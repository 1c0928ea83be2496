#!/bin/bash
# bench/load/stall-redis.sh OUT RATE [CONNS] - the peer of stall-trace.sh's
# PERF=0 run: one redis-server (appendfsync always, no snapshots, no
# automatic AOF rewrite: common.sh's start_redis options), 5 s of
# closed-loop 10 KiB SETs, then 15 s of open-loop SETs at RATE/s over CONNS
# (50) connections with dk_load --redis -i --slow 10 (the same client, keys
# and measurement as the dynkv runs). Leaves OUT/{open.out,warm.out,
# load0.txt,load1.txt}.
set -u
OUT=$1 RATE=$2 CONNS=${3:-50}
DK_LOAD=${DK_LOAD:?DK_LOAD=path of dk_load}
mkdir -p "$OUT/redis"
rm -rf "$OUT/redis"/*
PORT=$(python3 -c '
import socket, random
while True:
    p = random.randrange(20000, 60000); s = socket.socket()
    try: s.bind(("127.0.0.1", p)); s.close(); print(p); break
    except OSError: s.close()')
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$OUT/redis" --appendonly yes --appendfsync always \
    --auto-aof-rewrite-percentage 0 --save '' --daemonize no --logfile "$OUT/redis.log" &
RP=$!
trap 'kill $RP 2>/dev/null; wait $RP 2>/dev/null; rm -rf "$OUT/redis"' EXIT
for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
"$DK_LOAD" --redis -m put -c 50 -d 5 --perm -k 100000000 -p w- -s 10240 127.0.0.1:"$PORT" >"$OUT/warm.out" 2>&1
cut -d' ' -f1-3 /proc/loadavg >"$OUT/load0.txt"
"$DK_LOAD" --redis -m put -c "$CONNS" -R "$RATE" -d 15 -w 2 --perm -k 100000000 -p o- -s 10240 -i --slow 10 \
    127.0.0.1:"$PORT" >"$OUT/open.out" 2>&1
cut -d' ' -f1-3 /proc/loadavg >"$OUT/load1.txt"
grep -E '^INTERVAL|latency ms' "$OUT/open.out"
