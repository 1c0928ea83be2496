#!/bin/sh
# bench/load/put-sync.sh - one node's durable PUT against Redis `appendfsync
# always`, seen from the disk: both servers (and, with ALT=BUILDDIR, a
# second dynkvd from another build, for before/after pairs) run at once in
# the memory bound, each in turn under the same dk_load (RESP for Redis; a
# node gets new keys, Redis KEYS random ones), closed loop with CONNS (50)
# connections and 10 KiB values for SECS (8) s, or open loop at RATE/s;
# ROUNDS (3) rounds, servers in turn (A, [B,] Redis). Per run it prints:
# requests/s and p99; fdatasyncs per second and requests per sync; the
# sync's latency (p50 / p90 / p99 / mean, ms) and the gap from the end of
# one sync to the start of the next on the log's thread (p50 / p99 / mean,
# ms), both from `perf trace -e fdatasync`; other threads' syncs per
# second; the device's write requests, KiB written and cache flushes per
# request (/proc/diskstats of the data disk: everything on the machine, so
# quiet runs only); the server's CPU (user+sys, µs) and context switches
# per request, and under it the same per thread name (cpu µs / switches
# per request). The traces stay in OUTDIR (default /tmp/put-sync;
# TRACE_EV="fdatasync,writev,futex" traces more calls); PERF=1 also
# records each run there (perf record -g -F 999 -p PID: perf-ROUND-SRV.data).
#
# ALT_SET="--set K=V ..." gives node B options of its own (B = A's build
# when ALT is not set). ALT is used as built (this script does not make it).
#
#   [ALT=/tmp/other-build] [ALT_SET=...] [RATE=R] bench/load/put-sync.sh [-B BUILDDIR]
set -eu

. "$(dirname "$0")/common.sh"
load_opts put-sync 24 "$@"
SECS=${SECS:-8}
ALT=${ALT:-}
OUTDIR=${OUTDIR:-/tmp/put-sync}
# A node gets a new key per PUT (as run-node.sh); Redis keeps its whole data
# set in memory, so it overwrites KEYS (20000) random keys (as run-node.sh's
# redis-benchmark -r), or it outgrows the memory bound.
NEWKEYS="--perm -k 100000000"
RKEYS="-k ${KEYS:-20000}"
load_tmp put-sync NODE_PID NODE2_PID REDIS_PID TRACE_PID PERF_PID
build_all "$BUILD"
need_redis redis-server
mkdir -p "$OUTDIR"

# node NAME DYNKVD PLUGINS [--set K=V...]: start a node (lsm, sync = true,
# DYNKV_SET, the options given) on a free port; sets NPORT and NPID.
node() {
    nn=$1 nd=$2 np=$3
    shift 3
    NPORT=$(free_port 127.0.0.1) || die "no free port"
    mkdir -p "$TMP/$nn"
    # shellcheck disable=SC2086  # DYNKV_SET is a list of words
    DYNKV_PLUGIN_PATH=$np "$nd" --set node.data_dir="$TMP/$nn/data" --set node.http_listen=127.0.0.1:"$NPORT" \
        --set node.rpc_listen=127.0.0.1:$((NPORT + 1)) --set node.gossip_listen=127.0.0.1:$((NPORT + 2)) \
        --set storage.engine=lsm --set storage.sync=true ${DYNKV_SET:-} "$@" >"$TMP/$nn.log" 2>&1 &
    NPID=$!
    wait_health "http://127.0.0.1:$NPORT" "$NPID" "$TMP/$nn.log"
}
node A "$DYNKVD" "$BUILD/.libs"
NODE_PID=$NPID APORT=$NPORT
SERVERS="A"
if [ -n "$ALT" ] || [ -n "${ALT_SET:-}" ]; then
    [ -n "$ALT" ] || ALT=$BUILD
    [ -x "$ALT/server/dynkvd" ] || die "$ALT has no server/dynkvd (not built here)"
    # shellcheck disable=SC2086  # ALT_SET is a list of words
    node B "$ALT/server/dynkvd" "$ALT/.libs" ${ALT_SET:-}
    NODE2_PID=$NPID BPORT=$NPORT
    SERVERS="A B"
fi
# shellcheck disable=SC2034  # start_redis keeps clear of PORT..PORT+2
PORT=$APORT
start_redis
SERVERS="$SERVERS R"
DEV=$(df -P "$TMP" | awk 'NR == 2 { sub("/dev/", "", $1); print $1 }')
# threads PID: "tid name utime+stime switches" per thread
threads() {
    for t in /proc/"$1"/task/*; do
        st=$(sed 's/^.*) //' "$t/stat" 2>/dev/null) || continue
        echo "${t##*/} $(tr ' ' _ <"$t/comm") $(echo "$st" | awk '{ print $12 + $13 }') $(awk '/ctxt_switches/ { s += $2 } END { print s }' "$t/status")"
    done
}
disk() { awk -v d="$DEV" '$3 == d { print $8, $10, $19 }' /proc/diskstats; }

echo "# put-sync $(date -u '+%F %T') UTC; A=$BUILD (git $(git -C "$TOP_SRC" rev-parse --short HEAD))${ALT:+ B=$ALT ${ALT_SET:-}} R=redis $REDIS_VERSION ($REDIS_ARGS); ${RATE:+open loop $RATE/s, }$CONNS conns, $VSIZE B, ${SECS}s; bound $MEM_BOUND; load $(cut -d' ' -f1-3 /proc/loadavg)"
# A warm-up second each: the engine starts its WAL thread at the first write
# (perf trace -p only follows the threads there when it attaches).
for s in $SERVERS; do
    case $s in
    A) tgt=127.0.0.1:$APORT proto='' keys=$NEWKEYS ;;
    B) tgt=127.0.0.1:$BPORT proto='' keys=$NEWKEYS ;;
    R) tgt=127.0.0.1:$RPORT proto=--redis keys=$RKEYS ;;
    esac
    # shellcheck disable=SC2086  # proto, keys
    "$DK_LOAD" $proto -m put -c "$CONNS" -d 1 $keys -p "w$s-" -s "$VSIZE" "$tgt" >/dev/null 2>&1 || true
done
printf '%-5s %-3s %8s %7s %7s %6s %26s %16s %5s %6s %7s %6s %7s %6s\n' round srv req_s p99_ms sync_s req/sy "sync p50/p90/p99/mean ms" "gap p50/p99/mean" oth/s wr/req KiB/req fl/req cpu_us cs/req
for r in $(seq 1 "$ROUNDS"); do
    for s in $SERVERS; do
        case $s in
        A) pid=$NODE_PID tgt=127.0.0.1:$APORT proto='' keys=$NEWKEYS ;;
        B) pid=$NODE2_PID tgt=127.0.0.1:$BPORT proto='' keys=$NEWKEYS ;;
        R) pid=$REDIS_PID tgt=127.0.0.1:$RPORT proto=--redis keys="$RKEYS --seed $r" ;;
        esac
        tr=$OUTDIR/trace-$r-$s.txt
        perf trace -e "${TRACE_EV:-fdatasync}" -p "$pid" -o "$tr" >/dev/null 2>&1 &
        TRACE_PID=$!
        sleep 0.5
        if [ "${PERF:-0}" = 1 ]; then
            perf record -g -F 999 -p "$pid" -o "$OUTDIR/perf-$r-$s.data" >/dev/null 2>&1 &
            PERF_PID=$!
        fi
        threads "$pid" >"$TMP/th0"
        d0=$(disk) c0=$(cpu_ticks "$pid") x0=$(ctx "$pid")
        # shellcheck disable=SC2046,SC2086  # -R RATE or nothing; proto
        "$DK_LOAD" $proto -m put -c "$CONNS" $([ -n "${RATE:-}" ] && echo "-R $RATE") -d "$SECS" -w 0 \
            $keys -p "$s$r-" -s "$VSIZE" "$tgt" >"$TMP/run.out" 2>&1 || true
        d1=$(disk) c1=$(cpu_ticks "$pid") x1=$(ctx "$pid")
        threads "$pid" >"$TMP/th1"
        if [ -n "${PERF_PID:-}" ]; then kill -INT "$PERF_PID" 2>/dev/null; wait "$PERF_PID" 2>/dev/null || true; fi
        PERF_PID=
        kill -INT "$TRACE_PID" 2>/dev/null
        wait "$TRACE_PID" 2>/dev/null || true
        TRACE_PID=
        n=$(field ok "$TMP/run.out")
        [ -n "$n" ] || { cat "$TMP/run.out" >&2; die "dk_load failed"; }
        # trace lines: "T ( D ms): comm/tid fdatasync(...) = 0"
        python3 "$LOAD_SRC/put-sync.py" "$tr" "$r" "$s" "$n" "$(field ops_s "$TMP/run.out")" \
            "$(field p99_ms "$TMP/run.out")" "$d0" "$d1" "$((c1 - c0))" "$((x1 - x0))" "$(getconf CLK_TCK)" \
            "$TMP/th0" "$TMP/th1"
    done
done
