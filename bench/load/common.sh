# bench/load/common.sh - shell helpers sourced by the run-*.sh scripts of
# bench/load: parse their options, build dk_load and the node, make the temp
# folder and clean up at exit, wait for a node, start Redis or a cluster,
# pick free ports, read CPU time and fields of dk_load's RESULT lines,
# describe the machine and end a report. Not executable on its own.

LOAD_SRC=$(cd "$(dirname "$0")" && pwd)
TOP_SRC=$(cd "$LOAD_SRC/../.." && pwd)

die() { echo "$(basename "$0"): $*" >&2; exit 1; }
say() { echo "== $(date +%H:%M:%S) $*" >&2; }
# mem_bound / mem_unbound: the servers' memory bound (MEM_LIMIT).
. "$TOP_SRC/bench/mem-bound.sh"

# load_opts REPORT HELP_LINES "$@": the options of run-node.sh and
# run-cluster.sh (-B BUILDDIR, -o REPORT.md, -q quick, -h prints lines 2 to
# HELP_LINES of the script). Sets BUILD (absolute), OUT (default
# bench/results/REPORT-YYYY-MM-DD.md), QUICK (0/1) and the sizes both share,
# each overridable from the environment: ROUNDS PEAK_SECS OPEN_SECS WARM
# FILL_KEYS CONNS VSIZE (tiny ones with -q).
load_opts() {
    lo_report=$1 lo_help=$2
    shift 2
    BUILD=${DYNKV_BUILDDIR:-/tmp/b-load}
    OUT=
    QUICK=0
    while getopts B:o:qh opt; do
        case $opt in
        B) BUILD=$OPTARG ;;
        o) OUT=$OPTARG ;;
        q) QUICK=1 ;;
        h) sed -n "2,${lo_help}p" "$0"; exit 0 ;;
        *) exit 2 ;;
        esac
    done
    BUILD=$(cd "$BUILD" && pwd)
    [ -n "$OUT" ] || OUT=$TOP_SRC/bench/results/$lo_report-$(date +%F).md
    if [ "$QUICK" = 1 ]; then
        ROUNDS=${ROUNDS:-1} PEAK_SECS=${PEAK_SECS:-2} OPEN_SECS=${OPEN_SECS:-3} WARM=0.5
        FILL_KEYS=${FILL_KEYS:-2000}
    else
        ROUNDS=${ROUNDS:-3} PEAK_SECS=${PEAK_SECS:-8} OPEN_SECS=${OPEN_SECS:-15} WARM=${WARM:-2}
        FILL_KEYS=${FILL_KEYS:-20000}
    fi
    CONNS=${CONNS:-50}
    VSIZE=${VSIZE:-10240}
}

# build_all BUILDDIR: the node, every plugin (the node loads the crdt resolver
# and the codecs beside the configured ones) and dk_load with make -j2.
build_all() {
    b=$1
    [ -f "$b/Makefile" ] || die "$b has no Makefile: mkdir -p $b && cd $b && $TOP_SRC/configure -q"
    make -C "$b" -j2 all bench/load/dk_load >"$b/bench-load-make.log" 2>&1 ||
        { tail -20 "$b/bench-load-make.log" >&2; die "make failed (log: $b/bench-load-make.log)"; }
    DK_LOAD=$b/bench/load/dk_load
    DYNKVD=$b/server/dynkvd
    export DYNKV_PLUGIN_PATH="$b/.libs"
}

# free_port IP...: a TCP+UDP port free on every IP, with the next two free as well.
free_port() {
    python3 - "$@" <<'EOF'
import os, socket, sys
def free(p):
    return all(free1(ip, p) for ip in sys.argv[1:])
def free1(ip, p):
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind((ip, p))
        except OSError:
            return False
        finally:
            s.close()
    return True
start = 30000 + (os.getpid() * 131) % 20000
for i in range(0, 20000, 3):
    p = 30000 + (start - 30000 + i) % 20000
    if p + 2 < 50000 and all(free(p + k) for k in range(3)):
        print(p)
        sys.exit(0)
sys.exit(1)
EOF
}

# load_tmp NAME PIDVAR...: TMP, a fresh temp folder. At exit (Ctrl-C exits
# 130) the processes whose ids the variables PIDVAR... hold then are
# stopped and seen to end, a cluster made by cluster_up is removed, and TMP
# goes. The PIDVARs start empty.
load_tmp() {
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/dk-$1.XXXXXX")
    shift
    LOAD_PIDVARS="$*"
    for v in "$@"; do eval "$v=''"; done
    trap load_cleanup EXIT
    trap 'exit 130' INT TERM
    mem_bound
}

load_cleanup() {
    set +e
    for v in $LOAD_PIDVARS; do
        eval "p=\${$v:-}"
        [ -n "$p" ] && kill "$p" 2>/dev/null || continue
        # wait only reaps this shell's children: a process started in a
        # $(...) is not one, so also watch it go (10 s at most).
        wait "$p" 2>/dev/null
        i=0
        while kill -0 "$p" 2>/dev/null && [ $i -lt 100 ]; do
            sleep 0.1
            i=$((i + 1))
        done
    done
    [ -n "${CL:-}" ] && [ -f "$CL/cluster.json" ] && DYNKV_BUILDDIR=$BUILD python3 "$CTL" destroy "$CL" >/dev/null 2>&1
    rm -rf "$TMP"
    mem_unbound
}

# wait_health URL PID LOG [CURL-OPTION...]: wait up to 15 s for GET
# URL/health to answer; if it does not, or the process PID ends, print LOG
# and die.
wait_health() {
    wh_url=$1 wh_pid=$2 wh_log=$3
    shift 3
    i=0
    until curl -s --max-time 1 "$@" "$wh_url/health" >/dev/null; do
        i=$((i + 1))
        if [ $i -ge 150 ] || ! kill -0 "$wh_pid" 2>/dev/null; then
            cat "$wh_log" >&2
            die "dynkvd did not start"
        fi
        sleep 0.1
    done
}

# need_redis COMMAND...: install redis-server and redis-tools with apt-get
# when one of the COMMANDs is missing (as root; otherwise die saying so).
need_redis() {
    for c in "$@"; do
        command -v "$c" >/dev/null && continue
        [ "$(id -u)" = 0 ] || die "$(echo "$*" | tr ' ' /) missing: apt-get install redis-server redis-tools"
        say "installing redis-server redis-tools"
        apt-get install -y redis-server redis-tools >"$TMP/apt.log" 2>&1 || die "apt-get failed"
        return
    done
}

# start_redis: a private redis-server on a free port of 127.0.0.1 other
# than PORT..PORT+2 (RPORT), data in $TMP/redis, every write fsynced
# (appendfsync always), no snapshots, and automatic AOF rewrites off: a
# rewrite forks and copies the whole data set in the middle of a SET peak,
# which dynkv's runs never pay for. Waits until it answers. Sets
# REDIS_PID, RPORT, REDIS_ARGS (those options, as reports quote them) and
# REDIS_VERSION.
start_redis() {
    RPORT=$(free_port 127.0.0.1) || die "no free port"
    while [ -n "${PORT:-}" ] && [ "$RPORT" -ge "$PORT" ] && [ "$RPORT" -le $((PORT + 2)) ]; do
        RPORT=$((RPORT + 3))
    done
    mkdir -p "$TMP/redis"
    REDIS_ARGS="--appendonly yes --appendfsync always --auto-aof-rewrite-percentage 0 --save ''"
    redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$TMP/redis" --appendonly yes --appendfsync always \
        --auto-aof-rewrite-percentage 0 --save '' --daemonize no --logfile "$TMP/redis.log" &
    REDIS_PID=$!
    i=0
    until redis-cli -p "$RPORT" ping >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt 100 ] || die "redis-server did not start"
        sleep 0.1
    done
    REDIS_VERSION=$(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/')
}

# cluster_up CREATE-OPTION...: a cluster in $TMP/cluster (CL), made with
# `tools/dynkv-cluster create CL CREATE-OPTION...` on free ports of
# 127.0.0.1 to .3, and started. Sets TARGETS, the nodes' HTTP addresses
# (host:port, comma separated). load_tmp's clean-up removes it.
cluster_up() {
    CL=$TMP/cluster
    CTL="$TOP_SRC/tools/dynkv-cluster"
    export DYNKV_BUILDDIR="$BUILD"
    BASE_PORT=$(free_port 127.0.0.1 127.0.0.2 127.0.0.3) || die "no free port"
    python3 "$CTL" create "$CL" "$@" --base-port "$BASE_PORT" >/dev/null
    say "starting the cluster"
    python3 "$CTL" start "$CL" --timeout 60 >"$TMP/start.log" 2>&1 ||
        { cat "$TMP/start.log" >&2; die "cluster did not start"; }
    TARGETS=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(",".join("%s:%d" % (n["ip"], n["http"]) for n in d["nodes"]))' "$CL/cluster.json")
}

# cpu_ticks PID: utime + stime of the whole process, in clock ticks.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
# settle PID...: wait (15 s at most) until the PIDs used under 50 ms of CPU
# each in a second: an open loop then measures the load it offers, not the
# flushes and compactions of the phase before it (every store is settled,
# the peer too).
settle() {
    st_hz=$(getconf CLK_TCK) st_i=0
    while [ $st_i -lt 15 ]; do
        st_c0=0 st_c1=0
        for st_p in "$@"; do
            st_v=$(cpu_ticks "$st_p" 2>/dev/null) || return 0
            st_c0=$((st_c0 + st_v))
        done
        sleep 1
        for st_p in "$@"; do
            st_v=$(cpu_ticks "$st_p" 2>/dev/null) || return 0
            st_c1=$((st_c1 + st_v))
        done
        [ $(((st_c1 - st_c0) * 1000 / st_hz)) -lt $((50 * $#)) ] && return 0
        st_i=$((st_i + 1))
    done
}
# ctx PID: voluntary + involuntary context switches summed over its threads.
ctx() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^(non)?voluntary_ctxt_switches/ { s += $2 } END { print s + 0 }'; }
# proc_ticks PID...: utime + stime of the processes (all threads), in clock ticks.
proc_ticks() {
    t=0
    for p in "$@"; do
        t=$((t + $(cpu_ticks "$p")))
    done
    echo $t
}

# proc_ctx PID...: voluntary + involuntary context switches, summed over threads.
proc_ctx() {
    t=0
    for p in "$@"; do
        t=$((t + $(ctx "$p")))
    done
    echo $t
}
# threads PID: one line per thread: tid name run-ns voluntary involuntary
# (run time from schedstat: exact, not ticks). For thread_delta.
threads() {
    for t in /proc/"$1"/task/*; do
        printf '%s %s %s %s\n' "${t##*/}" "$(tr ' ' _ <"$t/comm")" "$(cut -d' ' -f1 "$t/schedstat")" \
            "$(awk '/^voluntary_ctxt/ { v = $2 } /^nonvoluntary_ctxt/ { n = $2 } END { print v + 0, n + 0 }' "$t/status")"
    done 2>/dev/null | sort
}
# thread_delta BEFORE AFTER N: per thread that ran or switched, its CPU
# (us), voluntary and involuntary switches per request over N requests.
thread_delta() {
    join "$1" "$2" | awk -v n="$3" '{
        c = ($7 - $3) / 1e3 / n; v = ($8 - $4) / n; i = ($9 - $5) / n
        if (c >= 0.01 || v + i >= 0.001) printf "#   %-8s %-16s cpu %7.2f us  vol %.3f  invol %.3f\n", $1, $2, c, v, i }'
}

# field NAME FILE: the value of NAME= in the last RESULT line of FILE.
field() {
    awk -v k="$1" '/^RESULT /{ for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) v = kv[2] } } END { print v }' "$2"
}

# median A B C ...: the median of numbers (lower middle for an even count).
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# ratio A B: A/B with two decimals, "n/a" when B is 0 or empty.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f\n", a / b }'
}

# half X: X/2 rounded down, at least 1.
half() {
    awk -v x="$1" 'BEGIN { h = int(x / 2); if (h < 1) h = 1; print h }'
}

# machine_info DIR: Markdown lines describing this machine and DIR's disk.
machine_info() {
    echo "- CPU: $(nproc) x $(awk -F': ' '/model name/{ print $2; exit }' /proc/cpuinfo)"
    echo "- memory: $(awk '/MemTotal/{ printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "- kernel: $(uname -sr)"
    echo "- data disk: $(df -PT "$1" | awk 'NR == 2 { print $1 " (" $2 ")" }')"
    echo "- dynkv: $(git -C "$TOP_SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
        "$( [ -n "$(git -C "$TOP_SRC" status --porcelain 2>/dev/null | grep -v '^??')" ] && echo '(with uncommitted changes)')"
    echo "- load average at start: $LOAD_START; at end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- memory bound of the servers and the load generator (MEM_LIMIT): ${MEM_BOUND:-none}"
}

# report_tail [LINE...]: the end of a report: "## Machine" (machine_info on
# TMP's disk, then each LINE) and "## Raw output" ($RAW in a code block).
report_tail() {
    echo "## Machine"
    echo
    machine_info "$TMP"
    for l in "$@"; do echo "$l"; done
    echo
    echo "## Raw output"
    echo
    echo '```'
    cat "$RAW"
    echo '```'
}

# metric URL NAME: one unlabelled sample of GET URL/metrics (empty if absent).
metric() {
    curl -s --max-time 5 "$1/metrics" | awk -v k="$2" '$1 == k { print $2 }'
}

# interval_lines DIR: the report's per-second open-loop lines (dk_load -i) of
# DIR/put-open.out then DIR/get-open.out, as a titled Markdown code block.
interval_lines() {
    echo "Per-second open-loop lines (dk_load -i), PUT then GET:"
    echo
    echo '```'
    grep '^INTERVAL' "$1/put-open.out" || true
    echo
    grep '^INTERVAL' "$1/get-open.out" || true
    echo '```'
}

# sampler_start PID FILE: every 100 ms, append to FILE one line: the
# monotonic time (/proc/uptime, the clock of dk_load's mono_s on this
# machine), the system's CPU, memory and I/O pressure stall totals (us,
# /proc/pressure/*: "some"), and each thread of PID and of this script's
# dk_load children (the load generator shares the cores) as
# tid:name:run-ns:wait-ns (schedstat: time on a CPU, time runnable but
# waiting for one). Sets SAMPLER_PID; sampler_stop ends it. For telling
# a latency stall apart: the node's own background threads (lsm-flush,
# lsm-compact, lsm-wal, workers) running, reclaim (memory), other
# processes taking the CPUs (cpu pressure with the node's threads idle),
# or the server's or generator's threads queued behind one another (wait).
sampler_start() {
    (
        set +e # a thread that ends between listing and reading fails awk
        while kill -0 "$1" 2>/dev/null; do
            sa_pids=$1
            for c in $(cat /proc/$$/task/*/children 2>/dev/null); do
                if [ "$(cat /proc/"$c"/comm 2>/dev/null)" = dk_load ]; then sa_pids="$sa_pids $c"; fi
            done
            # shellcheck disable=SC2046  # one word per file name
            awk 'FILENAME == "/proc/uptime" { printf "%s", $1; next }
                 FILENAME ~ /^\/proc\/pressure\// { if ($1 == "some") { split($5, a, "="); printf " %s", a[2] }; next }
                 FILENAME ~ /comm$/ { n = $1; next }
                 { f = FILENAME; sub(/\/schedstat$/, "", f); sub(/^.*\//, "", f); printf " %s:%s:%s:%s", f, n, $1, $2 }
                 END { print "" }' /proc/uptime /proc/pressure/cpu /proc/pressure/memory /proc/pressure/io \
                $(for p in $sa_pids; do for t in /proc/"$p"/task/*; do echo "$t/comm $t/schedstat"; done; done) 2>/dev/null
            sleep 0.1
        done
    ) >>"$2" &
    SAMPLER_PID=$!
}
sampler_stop() {
    if [ -n "${SAMPLER_PID:-}" ]; then
        kill "$SAMPLER_PID" 2>/dev/null || true
        wait "$SAMPLER_PID" 2>/dev/null || true # 143: the kill above
    fi
    SAMPLER_PID=
}

# sampler_seconds SAMPLES LOADOUT: for each INTERVAL line of LOADOUT
# (dk_load -i), the second's p99/max and, from SAMPLES (sampler_start),
# per thread name (threads of one name summed; "dynkvd" = loops and
# workers) the ms on a CPU and, after "+q", the ms waiting runnable for
# one, and the ms of CPU, memory and I/O pressure stalls on the machine.
sampler_seconds() {
    awk 'FNR == NR { t[++n] = $1; cpu[n] = $2; mem[n] = $3; io[n] = $4
                     for (i = 5; i <= NF; i++) { split($i, a, ":"); r[n, a[2]] += a[3]; q[n, a[2]] += a[4]; names[a[2]] = 1 }
                     next }
         /^INTERVAL/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
                       e = v["mono_s"]; s = e - 1; i0 = 0; i1 = 0
                       for (k = 1; k <= n; k++) { if (t[k] <= s) i0 = k; if (t[k] <= e) i1 = k }
                       if (!i0 || i1 <= i0) next
                       line = sprintf("t=%s p99_ms=%s max_ms=%s |", v["t"], v["p99_ms"], v["max_ms"])
                       for (nm in names) {
                           d = (r[i1, nm] - r[i0, nm]) / 1e6; w = (q[i1, nm] - q[i0, nm]) / 1e6
                           if (d >= 1 || w >= 1) line = line sprintf(" %s=%.0f+q%.0f", nm, d, w) }
                       printf "%s | stall ms: cpu=%.0f mem=%.0f io=%.0f\n", line, (cpu[i1] - cpu[i0]) / 1e3, (mem[i1] - mem[i0]) / 1e3, (io[i1] - io[i0]) / 1e3 }' "$1" "$2"
}

# sampler_totals SAMPLES: per thread name, the ms on a CPU and waiting
# runnable over the whole of SAMPLES, one "name run_ms wait_ms" line each.
sampler_totals() {
    awk 'NR == 1 { for (i = 5; i <= NF; i++) { split($i, a, ":"); r0[a[1]] = a[3]; q0[a[1]] = a[4] } }
         { for (i = 5; i <= NF; i++) { split($i, a, ":"); nm[a[1]] = a[2]; r1[a[1]] = a[3]; q1[a[1]] = a[4] } }
         END { for (t in nm) { rr[nm[t]] += (r1[t] - r0[t]) / 1e6; qq[nm[t]] += (q1[t] - q0[t]) / 1e6 }
               for (n in rr) if (rr[n] >= 1 || qq[n] >= 1) printf "%s %.0f %.0f\n", n, rr[n], qq[n] }' "$1" | sort -k2,2nr
}
