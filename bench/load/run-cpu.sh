#!/bin/sh
# bench/load/run-cpu.sh - server CPU and context switches per request: one
# dynkvd (lsm, sync = true) and one Redis (`appendfsync always`, automatic
# AOF rewrite off) driven by the same open-loop generator (dk_load, RESP
# mode for Redis) at the same fixed rates, in one run; writes
# bench/results/cpu-<date>.md.
#
#   bench/load/run-cpu.sh [-B BUILDDIR] [-o REPORT.md] [-q]
#
# -B  a configured build tree (default $DYNKV_BUILDDIR, else /tmp/b-load)
# -o  report file (default bench/results/cpu-YYYY-MM-DD.md in the source tree)
# -q  quick: short phases, to check that the script works
#
# What runs (about 2 minutes), ROUNDS (3) times, alternating the servers:
#  PUT: dk_load -m put -R PUT_RATE (3000) for CPU_SECS (10) s, new keys;
#       the same against Redis (SET).
#  GET: FILL_KEYS (20000) keys loaded once into each server; each round
#       reads every key WARM_READS (2) times in a row, unmeasured (the
#       node's cache admits a value at its second read), then runs
#       dk_load -m get -R GET_RATE (5000) for CPU_SECS s over them.
# Then group commit: closed-loop PUTs with WPF_CLIENTS (1 8 50 200)
# connections for WPF_SECS (4) s each, reporting PUTs per WAL fdatasync.
# Around each phase the server's user+sys CPU (/proc/PID/stat, all its
# threads) and context switches (voluntary + involuntary, summed over
# /proc/PID/task/*/status) are read; per request = delta / requests
# answered. Threads that end inside a phase would be missed: neither server
# starts or ends threads while serving. Medians of the rounds are reported.
# The raw output lists each phase per thread (run time from schedstat,
# voluntary and involuntary switches per request).
# Extra dynkvd settings: DYNKV_SET="--set node.worker_threads=4 ...".
set -eu

. "$(dirname "$0")/common.sh"
load_opts cpu 26 "$@"
if [ "$QUICK" = 1 ]; then
    CPU_SECS=${CPU_SECS:-2}
else
    CPU_SECS=${CPU_SECS:-10}
fi
PUT_RATE=${PUT_RATE:-3000}
GET_RATE=${GET_RATE:-5000}
DYNKV_SET=${DYNKV_SET:-}
WPF_CLIENTS=${WPF_CLIENTS:-1 8 50 200}
WPF_SECS=${WPF_SECS:-$([ "$QUICK" = 1 ] && echo 1 || echo 4)}
WARM_READS=${WARM_READS:-2}
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
HZ=$(getconf CLK_TCK)

load_tmp load-cpu NODE_PID REDIS_PID

say "building in $BUILD"
build_all "$BUILD"
need_redis redis-server redis-cli

# ---- servers --------------------------------------------------------------
PORT=$(free_port 127.0.0.1) || die "no free port"
mkdir -p "$TMP/node"
# shellcheck disable=SC2086  # DYNKV_SET is a list of words
"$DYNKVD" --set node.data_dir="$TMP/node/data" --set node.http_listen=127.0.0.1:"$PORT" \
    --set node.rpc_listen=127.0.0.1:$((PORT + 1)) --set node.gossip_listen=127.0.0.1:$((PORT + 2)) \
    --set storage.engine=lsm --set storage.sync=true $DYNKV_SET >"$TMP/node.log" 2>&1 &
NODE_PID=$!
wait_health "http://127.0.0.1:$PORT" "$NODE_PID" "$TMP/node.log"
start_redis

# ---- measurement ----------------------------------------------------------
RAW=$TMP/raw.txt
: >"$RAW"
# phase NAME PID DK_LOAD-ARGS...: run dk_load, print "cpu_us_per_req ctx_per_req requests".
phase() {
    name=$1 pid=$2
    shift 2
    echo "\$ dk_load $*" >>"$RAW"
    threads "$pid" >"$TMP/$name.th0"
    t0=$(cpu_ticks "$pid") c0=$(ctx "$pid")
    "$DK_LOAD" "$@" >"$TMP/$name.out" 2>&1 || true
    t1=$(cpu_ticks "$pid") c1=$(ctx "$pid")
    threads "$pid" >"$TMP/$name.th1"
    grep -v '^INTERVAL' "$TMP/$name.out" >>"$RAW"
    grep -q '^RESULT' "$TMP/$name.out" || { cat "$TMP/$name.out" >&2; die "dk_load $name failed"; }
    n=$(($(field ok "$TMP/$name.out") + $(field notfound "$TMP/$name.out")))
    [ "$n" -gt 0 ] || die "dk_load $name: no request answered"
    echo "# $name: cpu_ticks $t0 -> $t1 (HZ $HZ), ctx $c0 -> $c1, requests $n, errors $(field errors "$TMP/$name.out")" >>"$RAW"
    thread_delta "$TMP/$name.th0" "$TMP/$name.th1" "$n" >>"$RAW"
    awk -v t=$((t1 - t0)) -v c=$((c1 - c0)) -v n="$n" -v hz="$HZ" \
        'BEGIN { printf "%.1f %.2f %d\n", t * 1e6 / hz / n, c / n, n }'
}
DK=127.0.0.1:$PORT RD=127.0.0.1:$RPORT
COMMON="-c $CONNS -s $VSIZE -d $CPU_SECS"

say "loading $FILL_KEYS keys into each server"
"$DK_LOAD" -m put -c "$CONNS" -s "$VSIZE" -d 600 -n "$FILL_KEYS" --perm -k "$FILL_KEYS" -p g- "$DK" >"$TMP/fill-dk.out" 2>&1 ||
    { cat "$TMP/fill-dk.out" >&2; die "dynkv fill failed"; }
"$DK_LOAD" --redis -m put -c "$CONNS" -s "$VSIZE" -d 600 -n "$FILL_KEYS" --perm -k "$FILL_KEYS" -p g- "$RD" >"$TMP/fill-rd.out" 2>&1 ||
    { cat "$TMP/fill-rd.out" >&2; die "Redis fill failed"; }

# Warm-up, unmeasured, before each round's GETs: every key read WARM_READS
# (2) times in a row. A node keeps a value in its block cache from its
# second read on (engines/lsm/blob_set.c: the doorkeeper forgets after
# 16384 first reads, so two passes over 20000 keys would not do), and the
# round's PUTs flush the fill's last keys out of the memtable; Redis holds
# every value in memory from the SET. Unwarmed, the first GET round
# measured the cache filling (preadv2 from the page cache, the heap growing
# and its first touches: 1.4-1.8x the later rounds' CPU per GET in
# sessions 13 and 14), not a GET's steady cost.
warm_reads() {
    [ "$WARM_READS" -gt 0 ] || return 0
    for t in "$DK" "--redis $RD"; do
        # shellcheck disable=SC2086  # t is an option and a target
        "$DK_LOAD" -m get -c 8 -s "$VSIZE" -d 600 -n $((WARM_READS * FILL_KEYS)) --seq --repeat "$WARM_READS" \
            -k "$FILL_KEYS" -p g- $t >"$TMP/warm.out" 2>&1 || { cat "$TMP/warm.out" >&2; die "warm-up reads failed ($t)"; }
    done
}

m_writes0=$(metric "http://$DK" dynkv_coord_local_writes_async_total)
m_reads0=$(metric "http://$DK" dynkv_coord_local_reads_worker_total)
DK_PUT_CPU='' DK_PUT_CTX='' RD_PUT_CPU='' RD_PUT_CTX=''
DK_GET_CPU='' DK_GET_CTX='' RD_GET_CPU='' RD_GET_CTX='' BLOB_READS=0 MEMO_HITS=0
for r in $(seq 1 "$ROUNDS"); do
    say "round $r: PUT at $PUT_RATE/s"
    # shellcheck disable=SC2086,SC2046
    set -- $(phase dk-put-$r "$NODE_PID" -m put -R "$PUT_RATE" $COMMON --perm -k 100000000 -p "p$r-" "$DK")
    DK_PUT_CPU="$DK_PUT_CPU $1" DK_PUT_CTX="$DK_PUT_CTX $2"
    # shellcheck disable=SC2086,SC2046
    set -- $(phase rd-put-$r "$REDIS_PID" --redis -m put -R "$PUT_RATE" $COMMON --perm -k 100000000 -p "p$r-" "$RD")
    RD_PUT_CPU="$RD_PUT_CPU $1" RD_PUT_CTX="$RD_PUT_CTX $2"
    say "round $r: GET at $GET_RATE/s (after $WARM_READS unmeasured reads of every key)"
    warm_reads
    # shellcheck disable=SC2086,SC2046
    b0=$(metric "http://$DK" dynkv_engine_lsm_blob_reads_total)
    h0=$(metric "http://$DK" dynkv_engine_lsm_get_memo_hits_total)
    set -- $(phase dk-get-$r "$NODE_PID" -m get -R "$GET_RATE" $COMMON -k "$FILL_KEYS" -p g- --seed "$r" "$DK")
    DK_GET_CPU="$DK_GET_CPU $1" DK_GET_CTX="$DK_GET_CTX $2"
    b1=$(metric "http://$DK" dynkv_engine_lsm_blob_reads_total)
    BLOB_READS=$((BLOB_READS + ${b1:-0} - ${b0:-0}))
    h1=$(metric "http://$DK" dynkv_engine_lsm_get_memo_hits_total)
    MEMO_HITS=$((MEMO_HITS + ${h1:-0} - ${h0:-0}))
    # shellcheck disable=SC2086,SC2046
    set -- $(phase rd-get-$r "$REDIS_PID" --redis -m get -R "$GET_RATE" $COMMON -k "$FILL_KEYS" -p g- --seed "$r" "$RD")
    RD_GET_CPU="$RD_GET_CPU $1" RD_GET_CTX="$RD_GET_CTX $2"
done
m_writes1=$(metric "http://$DK" dynkv_coord_local_writes_async_total)
m_reads1=$(metric "http://$DK" dynkv_coord_local_reads_worker_total)
DK_PUTS=$((ROUNDS * PUT_RATE * CPU_SECS)) DK_GETS=$((ROUNDS * GET_RATE * CPU_SECS))

# Group commit: closed-loop PUTs with 1, 8, 50 and 200 clients; durable
# writes per WAL fdatasync from the engine's counters.
WPF_ROWS=''
for cl in $WPF_CLIENTS; do
    say "group commit: $cl clients"
    s0=$(metric "http://$DK" dynkv_engine_lsm_wal_syncs_total)
    echo "\$ dk_load -m put -c $cl -s $VSIZE -d $WPF_SECS --perm -k 100000000 -p w$cl-" >>"$RAW"
    "$DK_LOAD" -m put -c "$cl" -s "$VSIZE" -d "$WPF_SECS" --perm -k 100000000 -p "w$cl-" "$DK" >"$TMP/wpf-$cl.out" 2>&1 || true
    s1=$(metric "http://$DK" dynkv_engine_lsm_wal_syncs_total)
    grep -v '^INTERVAL' "$TMP/wpf-$cl.out" >>"$RAW"
    ok=$(field ok "$TMP/wpf-$cl.out")
    WPF_ROWS="$WPF_ROWS
| $cl | ${ok:-0} | $((${s1:-0} - ${s0:-0})) | $(ratio "${ok:-0}" "$((${s1:-0} - ${s0:-0}))") | $(field ops_s "$TMP/wpf-$cl.out") | $(field p99_ms "$TMP/wpf-$cl.out") |"
done

# ---- report ---------------------------------------------------------------
m() { median "$@"; }
row() { # row LABEL DK-LIST RD-LIST
    echo "| $1 | $(m $2) | $(m $3) | $(ratio "$(m $2)" "$(m $3)") | $2 / $3 |"
}
mkdir -p "$(dirname "$OUT")"
{
    echo "# Server CPU per request: one dynkvd vs Redis \`appendfsync always\`, $((VSIZE / 1024)) KiB values ($(date '+%F %H:%M'))"
    echo
    [ "$QUICK" = 1 ] && echo "**Quick mode (-q): short phases, a check of the script, not a measurement.**" && echo
    echo "Both servers are driven by the same open-loop generator (dk_load; \`--redis\` speaks"
    echo "RESP) at the same fixed rates, $CONNS connections, one after the other in each of"
    echo "$ROUNDS rounds; medians of the rounds. CPU is the server process's user+sys time"
    echo "(all threads, /proc/PID/stat) over the phase divided by the requests answered;"
    echo "context switches are voluntary + involuntary, summed over its threads."
    echo
    echo "| per request, at a fixed rate | dynkv | Redis $REDIS_VERSION | dynkv / Redis | rounds (dynkv / Redis) |"
    echo "|---|--:|--:|--:|---|"
    row "durable PUT at $PUT_RATE/s: CPU µs" "$DK_PUT_CPU" "$RD_PUT_CPU"
    row "durable PUT at $PUT_RATE/s: context switches" "$DK_PUT_CTX" "$RD_PUT_CTX"
    row "GET at $GET_RATE/s: CPU µs" "$DK_GET_CPU" "$RD_GET_CPU"
    row "GET at $GET_RATE/s: context switches" "$DK_GET_CTX" "$RD_GET_CTX"
    echo
    echo "Latency of the last round (open loop, from the intended send time),"
    echo "p50 / p99 / max ms: dynkv PUT $(field p50_ms "$TMP/dk-put-$ROUNDS.out") / $(field p99_ms "$TMP/dk-put-$ROUNDS.out") / $(field max_ms "$TMP/dk-put-$ROUNDS.out"),"
    echo "Redis SET $(field p50_ms "$TMP/rd-put-$ROUNDS.out") / $(field p99_ms "$TMP/rd-put-$ROUNDS.out") / $(field max_ms "$TMP/rd-put-$ROUNDS.out"),"
    echo "dynkv GET $(field p50_ms "$TMP/dk-get-$ROUNDS.out") / $(field p99_ms "$TMP/dk-get-$ROUNDS.out") / $(field max_ms "$TMP/dk-get-$ROUNDS.out"),"
    echo "Redis GET $(field p50_ms "$TMP/rd-get-$ROUNDS.out") / $(field p99_ms "$TMP/rd-get-$ROUNDS.out") / $(field max_ms "$TMP/rd-get-$ROUNDS.out")."
    echo
    echo "Over the fixed-rate phases, dynkv's local writes queued from the loop (write_async):"
    echo "$((${m_writes1:-0} - ${m_writes0:-0})) of $DK_PUTS PUTs; local reads the engine could not answer from"
    echo "memory (sent to a worker): $((${m_reads1:-0} - ${m_reads0:-0})) of $DK_GETS GETs; values read from blob"
    echo "files (not in the block cache) during the GET phases: $BLOB_READS; GETs the lookup memo answered"
    echo "(no table searched; engine.lsm.lookup_memo): $MEMO_HITS. Every key was read $WARM_READS"
    echo "times in a row before each round's GETs, unmeasured (WARM_READS; 0 measures the cache filling too)."
    echo
    echo "Group commit (closed loop, new keys, $WPF_SECS s each; requests counted after the 0 s warm-up):"
    echo
    echo "| clients | durable PUTs | WAL fdatasyncs | PUTs per fdatasync | PUT/s | p99 ms |"
    echo "|--:|--:|--:|--:|--:|--:|$WPF_ROWS"
    echo
    echo "## Commands"
    echo
    echo "- \`bench/load/run-cpu.sh$([ "$QUICK" = 1 ] && echo ' -q')\` (ROUNDS=$ROUNDS CPU_SECS=$CPU_SECS WPF_CLIENTS='$WPF_CLIENTS' WPF_SECS=$WPF_SECS PUT_RATE=$PUT_RATE GET_RATE=$GET_RATE FILL_KEYS=$FILL_KEYS WARM_READS=$WARM_READS CONNS=$CONNS VSIZE=$VSIZE DYNKV_SET='$DYNKV_SET')"
    echo "- node: \`dynkvd --set node.data_dir=DATA --set node.http_listen=127.0.0.1:PORT ... --set storage.engine=lsm --set storage.sync=true $DYNKV_SET\`;"
    echo "  its start-up line: \`$(grep -m1 'serving http' "$TMP/node.log" | sed 's/`//g; s/^.*node /node /')\`"
    echo "- Redis: \`redis-server --port PORT --bind 127.0.0.1 --dir DIR $REDIS_ARGS\`"
    echo "- dynkv PUT: \`dk_load -m put -R $PUT_RATE $COMMON --perm -k 100000000 -p pN- HOST:PORT\`;"
    echo "  Redis SET: the same with \`--redis\`. GET: \`dk_load [--redis] -m get -R $GET_RATE $COMMON -k $FILL_KEYS -p g- --seed N\`"
    echo "  after \`dk_load [--redis] -m put -n $FILL_KEYS --perm -k $FILL_KEYS -p g-\`."
    echo
    report_tail "- Redis: $(redis-server --version)"
} >"$OUT"
say "wrote $OUT"
