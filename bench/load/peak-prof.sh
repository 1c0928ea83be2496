#!/bin/sh
# bench/load/peak-prof.sh - where the CPU of a 3-node quorum PUT goes at its
# peak: the run-cluster.sh cluster (lsm, n_replicas 3, sync = true, plus
# $DYNKV_CREATE) under a closed-loop PUT (CONNS 50, new 10 KiB keys, quorum)
# for PROF_SECS (10) s after a 15 s fill, ROUNDS (1) times; for each round
# prints the PUT rate, then per thread role (loop 0 = each node's main
# thread, loop N = the other `dynkvd` threads, lsm-wal, lsm-flush,
# lsm-compact, the rest) the CPU (user / sys) and the context switches
# (voluntary + involuntary; of them involuntary) and minor page faults per PUT, summed over the 3 nodes, from
# /proc/PID/task/*/{stat,status} read before and after. PERF=1 also records
# `perf record -a -g -F 499` over the window into $PERF_OUT (default
# /tmp/peak-prof.perf.data; PERF_G="--call-graph dwarf" for user-space
# callers, default -g) and prints its top symbols; SYSCALLS=1 counts
# the system calls per PUT by role (perf stat -e raw_syscalls:sys_enter)
# and, of them, the reads, writes, writevs, epoll_waits and futexes.
# RATE=R runs the window open loop at R PUT/s instead of closed loop: the
# counts per PUT then compare across builds at one rate (at the peak they
# move with the rate the machine allowed in that run); with a RATE, the
# per-second lines (dk_load -i: p99, max) follow the round's line. The
# runq_us column is the time the role's threads waited runnable for a CPU
# (/proc/PID/task/*/schedstat, second field), per PUT: the delay a busy
# machine adds to every hop of a write (loop, WAL thread, loop again).
# CALLGRIND=1 runs the three nodes under valgrind --tool=callgrind
# (instrumentation off outside the window) and sends every PUT to node 1 only, at
# RATE (default 100/s), after a short fill: node 1 then coordinates every
# PUT (its local write included) and nodes 2 and 3 only serve PUT_REPLICA.
# Prints the instructions per PUT of each node (machine-independent: no
# clock, no other helper's load) and its CG_TOP (25) functions by inclusive
# instructions per PUT; the dumps stay in CG_OUT (/tmp/peak-prof-cg).
#
#   [DYNKV_CREATE="--set ..."] bench/load/peak-prof.sh [-B BUILDDIR]
set -eu

. "$(dirname "$0")/common.sh"
load_opts peak-prof 15 "$@"
PROF_SECS=${PROF_SECS:-10}
ROUNDS=${PROF_ROUNDS:-1}
PERF=${PERF:-0}
SYSCALLS=${SYSCALLS:-0}
PERF_OUT=${PERF_OUT:-/tmp/peak-prof.perf.data}
load_tmp peak-prof
build_all "$BUILD"
CALLGRIND=${CALLGRIND:-0}
if [ "$CALLGRIND" = 1 ]; then
    CG_OUT=${CG_OUT:-/tmp/peak-prof-cg}
    RATE=${RATE:-100}
    rm -rf "$CG_OUT" && mkdir -p "$CG_OUT"
    # dynkv-cluster starts $DYNKVD: this wrapper execs valgrind (same pid).
    printf '#!/bin/sh\nexec valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=%s/cg.%%p %s "$@"\n' \
        "$CG_OUT" "$DYNKVD" >"$TMP/dynkvd-cg"
    chmod +x "$TMP/dynkvd-cg"
    export DYNKVD="$TMP/dynkvd-cg"
fi
# shellcheck disable=SC2086  # DYNKV_CREATE is a list of words
cluster_up --nodes 3 --engine lsm --set cluster.n_replicas=3 --set storage.sync=true ${DYNKV_CREATE:-}
PIDS=$(cat "$CL"/n*/pid)
ALL_TARGETS=$TARGETS
if [ "$CALLGRIND" = 1 ]; then
    TARGETS=${TARGETS%%,*} # node 1 coordinates every PUT
    FILL="-n 300"
fi

# snap OUT: every node's counters (GET /metrics, no histograms), "name value" lines
snap() {
    for t in $(echo "$ALL_TARGETS" | tr ',' ' '); do
        curl -s --max-time 5 "http://$t/metrics" | grep -v '^#' | grep -v '_bucket\|_sum\|_count\|_seconds\|_bytes ' || true
    done | awk 'NF >= 2 { print $1, $NF }' >"$1"
}

# threads OUT: one line per thread of the PIDS: "pid tid role utime stime switches minflt involuntary runq_ns"
threads() {
    for p in $PIDS; do
        for t in /proc/"$p"/task/*; do
            tid=${t##*/}
            name=$(cat "$t/comm" 2>/dev/null) || continue
            st=$(sed 's/^.*) //' "$t/stat" 2>/dev/null) || continue
            sw=$(awk '/^(non)?voluntary_ctxt_switches/ { s += $2 } /^nonvoluntary/ { i = $2 } END { print s + 0, i + 0 }' "$t/status" 2>/dev/null) || continue
            wq=$(cut -d' ' -f2 "$t/schedstat" 2>/dev/null) || continue
            echo "$p $tid $name $(echo "$st" | cut -d' ' -f12,13) ${sw% *} $(echo "$st" | cut -d' ' -f8) ${sw#* } $wq"
        done
    done >"$1"
}

# shellcheck disable=SC2086  # FILL is a list of words
"$DK_LOAD" -m put -c "$CONNS" -d 15 ${FILL:-} --perm -k 100000000 -p "f-" -s "$VSIZE" -H 'X-Consistency: quorum' "$TARGETS" >"$TMP/fill.out" 2>&1 || true
echo "fill: $(field ops_s "$TMP/fill.out")/s; DYNKV_CREATE=${DYNKV_CREATE:-}; load $(cut -d' ' -f1-3 /proc/loadavg)"
# cg_report N: per node, instructions per PUT over N PUTs and the top functions
# (inclusive) of the last callgrind dump.
cg_report() {
    i=0
    for p in $PIDS; do
        i=$((i + 1))
        f=$(ls -t "$CG_OUT"/cg."$p".* 2>/dev/null | head -1)
        [ -n "$f" ] || { echo "  node $i: no callgrind dump"; continue; }
        callgrind_annotate --inclusive=yes --threshold=100 "$f" 2>/dev/null >"$f.txt"
        echo "  node $i ($([ $i = 1 ] && echo coordinator || echo replica)), pid $p: $(awk -v n="$1" '/^summary:|^totals:/ { printf "%.0f", $2 / n; exit }' "$f") instructions per PUT; top ${CG_TOP:-25} inclusive (Ir per PUT, function):"
        awk -v n="$1" '/^ *[0-9,]+ .*[:(]/ { v = $1; gsub(",", "", v); $1 = ""; if (c++ < '"${CG_TOP:-25}"') printf "    %9.0f %s\n", v / n, substr($0, 1, 140) }' "$f.txt"
    done
}
for r in $(seq 1 "$ROUNDS"); do
    threads "$TMP/t0"
    snap "$TMP/m0"
    if [ "$CALLGRIND" = 1 ]; then
        for p in $PIDS; do callgrind_control -i on "$p" >/dev/null; done
    fi
    if [ "$PERF" = 1 ]; then
        # shellcheck disable=SC2086  # PERF_G is a list of words
        perf record -a ${PERF_G:--g} -F 499 -o "$PERF_OUT" -- sleep "$PROF_SECS" >"$TMP/perf.log" 2>&1 &
        PERF_PID=$!
    fi
    if [ "$SYSCALLS" = 1 ]; then
        perf stat -e raw_syscalls:sys_enter,syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_futex --per-thread -x, -o "$TMP/sys.csv" -p "$(echo $PIDS | tr ' ' ,)" -- sleep "$PROF_SECS" >/dev/null 2>&1 &
        SYS_PID=$!
    fi
    # shellcheck disable=SC2046  # no words, or "-R RATE"
    "$DK_LOAD" -m put -c "$CONNS" $([ -n "${RATE:-}" ] && echo "-i -R $RATE") -d "$PROF_SECS" --perm -k 100000000 -p "r$r-" -s "$VSIZE" -H 'X-Consistency: quorum' "$TARGETS" >"$TMP/run.out" 2>&1 || true
    if [ "$CALLGRIND" = 1 ]; then
        for p in $PIDS; do
            callgrind_control -d "round$r" "$p" >/dev/null
            callgrind_control -i off "$p" >/dev/null
        done
    fi
    threads "$TMP/t1"
    snap "$TMP/m1"
    [ "$PERF" = 1 ] && wait "$PERF_PID"
    [ "$SYSCALLS" = 1 ] && wait "$SYS_PID"
    n=$(field ok "$TMP/run.out")
    echo "round $r: $(field ops_s "$TMP/run.out") PUT/s (ok $n, p99 $(field p99_ms "$TMP/run.out") ms), load $(cut -d' ' -f1-3 /proc/loadavg)"
    grep '^INTERVAL' "$TMP/run.out" | awk '{ printf "  %s %s %s %s\n", $2, $3, $7, $8 }' || true
    awk -v n="$n" -v hz="$(getconf CLK_TCK)" '
        function role(pid, tid, name) {
            if (name == "dynkvd") return (pid == tid) ? "loop0" : "loopN"
            if (name ~ /^lsm-/) return name
            return "other"
        }
        FNR == NR { u[$2] = $4; s[$2] = $5; c[$2] = $6; mf[$2] = $7; iv[$2] = $8; wq[$2] = $9; next }
        {
            k = role($1, $2, $3)
            du = $4 - u[$2]; ds = $5 - s[$2]; dc = $6 - c[$2]; df = $7 - mf[$2]; di = $8 - iv[$2]; dw = $9 - wq[$2]
            U[k] += du; S[k] += ds; C[k] += dc; F[k] += df; I[k] += di; W[k] += dw
            TU += du; TS += ds; TC += dc; TF += df; TI += di; TW += dw
            if (du + ds > 0 && k == "loopN") { NT[k]++; if (du + ds > MX[k]) MX[k] = du + ds }
        }
        END {
            f = 1e6 / hz / n
            printf "  %-12s %8s %8s %8s %9s %7s %7s %8s\n", "role", "cpu_us", "user", "sys", "switches", "invol", "minflt", "runq_us"
            for (k in U) printf "  %-12s %8.1f %8.1f %8.1f %9.2f %7.2f %7.2f %8.1f\n", k, (U[k] + S[k]) * f, U[k] * f, S[k] * f, C[k] / n, I[k] / n, F[k] / n, W[k] / 1e3 / n
            printf "  %-12s %8.1f %8.1f %8.1f %9.2f %7.2f %7.2f %8.1f\n", "total", (TU + TS) * f, TU * f, TS * f, TC / n, TI / n, TF / n, TW / 1e3 / n
            printf "  (loopN: %d busy threads, the busiest %.1f us per PUT)\n", NT["loopN"], MX["loopN"] * f
        }' "$TMP/t0" "$TMP/t1" | sort
    if [ "$SYSCALLS" = 1 ]; then
        echo "  syscalls per PUT by role (perf stat raw_syscalls:sys_enter, 3 nodes summed):"
        # lines "comm-tid,count,...": the role from the thread list
        awk -v n="$n" -F, '
            FNR == NR { split($0, f, " "); r = f[3]; if (r == "dynkvd") r = (f[1] == f[2]) ? "loop0" : "loopN"; role[f[2]] = r; next }
            $1 ~ /-[0-9]+$/ && $2 ~ /^[0-9]+$/ {
                t = $1; sub(/^.*-/, "", t); k = (t in role) ? role[t] : "other"
                e = $4; sub(/^.*sys_enter_?/, "", e); if (e == "") e = "all"
                S[k, e] += $2; R[k] = 1; E[e] = 1; T[e] += $2
            }
            END {
                printf "    %-12s %6s %6s %6s %6s %6s %6s\n", "role", "all", "read", "write", "writev", "epoll", "futex"
                R["total"] = 1
                for (k in R) {
                    printf "    %-12s", k
                    split("all read write writev epoll_wait futex", ev, " ")
                    for (i = 1; i <= 6; i++) printf " %6.2f", (k == "total" ? T[ev[i]] : S[k, ev[i]]) / n
                    printf "\n"
                }
            }' "$TMP/t1" "$TMP/sys.csv" | sort
    fi
    [ "$CALLGRIND" = 1 ] && cg_report "$n"
    echo "  counters per PUT (3 nodes summed, those >= 0.01):"
    awk -v n="$n" 'FNR == NR { a[$1] += $2; next } { b[$1] += $2 } END { for (k in b) if ((b[k] - a[k]) / n >= 0.01) printf "    %-60s %8.3f\n", k, (b[k] - a[k]) / n }' "$TMP/m0" "$TMP/m1" | sort
done
if [ "$PERF" = 1 ]; then
    perf report -i "$PERF_OUT" --no-children --sort comm,dso,sym --stdio 2>/dev/null | grep -v '^#' | grep '%' | head -60
fi
