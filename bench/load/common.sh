# bench/load/common.sh - shell helpers sourced by run-node.sh and
# run-cluster.sh: parse their options, build dk_load and the node, pick free
# ports, read fields of dk_load's RESULT lines, describe the machine. Not
# executable on its own.

LOAD_SRC=$(cd "$(dirname "$0")" && pwd)
TOP_SRC=$(cd "$LOAD_SRC/../.." && pwd)

die() { echo "$(basename "$0"): $*" >&2; exit 1; }
say() { echo "== $(date +%H:%M:%S) $*" >&2; }

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

# build_all BUILDDIR: the node, the plugins and dk_load with make (targeted, -j2).
build_all() {
    b=$1
    [ -f "$b/Makefile" ] || die "$b has no Makefile: mkdir -p $b && cd $b && $TOP_SRC/configure -q"
    make -C "$b" -j2 server/dynkvd bench/load/dk_load engine-lsm.la engine-memory.la \
        compaction-leveled.la conflict-vclock.la >"$b/bench-load-make.log" 2>&1 ||
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
