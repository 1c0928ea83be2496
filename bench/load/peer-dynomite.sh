# bench/load/peer-dynomite.sh - the cluster peer of run-cluster.sh and
# run-cpu-cluster.sh: Netflix Dynomite over three Redis, three racks of one
# node each (every rack holds every key: RF = 3), DC_QUORUM reads and
# writes, on this machine. Sourced after common.sh; not executable on its own.
#
# Dynomite is not in Debian and dynkv does not ship or build it: the user
# builds it and names the binary in $DYNOMITE (e.g. DYNOMITE=/opt/dynomite/
# src/dynomite). Without it the scripts skip the peer and say so. Redis runs
# as Dynomite is deployed, without persistence (`--save '' --appendonly no`):
# Dynomite never fsyncs, dynkv does (the reports say so beside the numbers).
# PEER_FSYNC=1 makes the peer durable the way dynkv is: each Redis appends
# every write to its AOF and fsyncs it before answering (`--appendonly yes
# --appendfsync always`, no automatic rewrite, no snapshots), so a ratio
# against it prices the store, not the fsync. Its Redis run outside the
# memory bound either way (dyno_redis_args says why).
#
# Ports: free_port on 127.0.0.1-6 gives P, P+1, P+2 free on all six. Node i
# is Dynomite on 127.0.0.i (client P, peer P+1, stats P+2) over a Redis on
# 127.0.0.(i+3):P. The client port speaks RESP, so dk_load --redis drives it.

# dyno_start DIR: start the peer in DIR (a temp dir the caller removes). Sets
# DYNO_TARGETS (client ports, comma-separated), DYNO_PIDS (the six server
# pids), DYNO_VERSION. Returns 1 (and says why on stderr) when $DYNOMITE is
# unset or not executable, or redis-server is missing: the caller skips.
dyno_start() {
    DYNO_PIDS='' DYNO_TARGETS='' DYNO_VERSION=''
    if [ -z "${DYNOMITE:-}" ]; then
        say "DYNOMITE unset: skipping the Dynomite peer (set DYNOMITE=/path/to/dynomite)"
        return 1
    fi
    [ -x "$DYNOMITE" ] || { say "DYNOMITE=$DYNOMITE is not executable: skipping the peer"; return 1; }
    command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
        { say "redis-server/redis-cli missing: skipping the Dynomite peer"; return 1; }
    dd=$1
    mkdir -p "$dd"
    dp=$(free_port 127.0.0.1 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5 127.0.0.6) || die "no free port for Dynomite"
    DYNO_VERSION=$("$DYNOMITE" -V 2>&1 | sed -n 's/^This is //p')
    for i in 1 2 3; do
        mkdir -p "$dd/r$i"
        # shellcheck disable=SC2046  # the persistence flags are words
        mem_outside_exec redis-server --port "$dp" --bind "127.0.0.$((i + 3))" --dir "$dd/r$i" --save '' \
            $(dyno_redis_args) --daemonize no --logfile "$dd/r$i/redis.log" &
        DYNO_PIDS="$DYNO_PIDS $!"
    done
    for i in 1 2 3; do
        dyno_wait "127.0.0.$((i + 3))" "$dp" || die "Redis $i of the peer did not start"
    done
    for i in 1 2 3; do
        {
            echo "dyn_o_mite:"
            echo "  datacenter: dc1"
            echo "  rack: rack$i"
            echo "  tokens: '101134286'"
            echo "  listen: 127.0.0.$i:$dp"
            echo "  dyn_listen: 127.0.0.$i:$((dp + 1))"
            echo "  stats_listen: 127.0.0.$i:$((dp + 2))"
            echo "  dyn_seeds:"
            for j in 1 2 3; do
                [ "$j" = "$i" ] || echo "  - 127.0.0.$j:$((dp + 1)):rack$j:dc1:101134286"
            done
            echo "  servers:"
            echo "  - 127.0.0.$((i + 3)):$dp:1"
            echo "  data_store: 0"
            echo "  secure_server_option: none"
            echo "  read_consistency: DC_QUORUM"
            echo "  write_consistency: DC_QUORUM"
        } >"$dd/dynomite$i.yml"
        mem_outside_exec "$DYNOMITE" -c "$dd/dynomite$i.yml" -o "$dd/dynomite$i.log" &
        DYNO_PIDS="$DYNO_PIDS $!"
        DYNO_TARGETS="$DYNO_TARGETS${DYNO_TARGETS:+,}127.0.0.$i:$dp"
    done
    for i in 1 2 3; do
        dyno_wait "127.0.0.$i" "$dp" || die "Dynomite $i did not start (log: $dd/dynomite$i.log)"
    done
    # Ready when a quorum write through each node reads back through the next
    # (the peer connections are up).
    n=0
    for i in 1 2 3; do
        j=$((i % 3 + 1))
        until redis-cli -h "127.0.0.$i" -p "$dp" set "dyno-ready-$i" v >/dev/null 2>&1 &&
            [ "$(redis-cli -h "127.0.0.$j" -p "$dp" get "dyno-ready-$i" 2>/dev/null)" = v ]; do
            n=$((n + 1))
            [ $n -lt 150 ] || die "Dynomite peers did not connect (logs: $dd/dynomite*.log)"
            sleep 0.2
        done
    done
}

# dyno_redis_args: the persistence flags of the peer's Redis (PEER_FSYNC).
# They run outside the memory bound even when durable: each holds its whole
# data set in memory (PEER_KEYS values), and three of them under the bound
# with the nodes beside them met the OOM killer (session 11); an AOF's pages
# are then fresh pages of an unbounded page cache, which this VM makes slow
# on first touch (bench/results/membound-2026-12-05-s11.md), so a durable
# peer is if anything handicapped here, and the report says so.
dyno_redis_args() {
    if [ "${PEER_FSYNC:-0}" = 1 ]; then
        echo "--appendonly yes --appendfsync always --auto-aof-rewrite-percentage 0"
    else
        echo "--appendonly no"
    fi
}

# dyno_persistence: the peer's persistence in words, for the reports.
dyno_persistence() {
    if [ "${PEER_FSYNC:-0}" = 1 ]; then
        echo "with \`--appendonly yes --appendfsync always\` (PEER_FSYNC=1: each Redis fsyncs its AOF before it answers, as dynkv's W replicas do; outside the memory bound)"
    else
        echo "without persistence (\`--save '' --appendonly no\`: Dynomite never fsyncs; dynkv fsyncs every write on W replicas before answering)"
    fi
}

# dyno_wait IP PORT: wait up to 20 s for a RESP server to answer PING.
dyno_wait() {
    k=0
    until [ "$(redis-cli -h "$1" -p "$2" ping 2>/dev/null)" = PONG ]; do
        k=$((k + 1))
        [ $k -lt 100 ] || return 1
        sleep 0.2
    done
}

# dyno_stop: stop the peer's processes (by pid), if any.
dyno_stop() {
    for p in ${DYNO_PIDS:-}; do
        kill "$p" 2>/dev/null
    done
    for p in ${DYNO_PIDS:-}; do
        wait "$p" 2>/dev/null
    done
    DYNO_PIDS=''
}
