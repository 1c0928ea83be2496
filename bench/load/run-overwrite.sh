#!/bin/sh
# bench/load/run-overwrite.sh - server CPU per quorum PUT that overwrites a
# stored large value, against the same for fresh keys: a 3-node cluster
# (tools/dynkv-cluster, lsm, n_replicas 3, sync = true) with the lww
# resolver, so that an overwrite supersedes the stored copy as a client
# writing with its context does under vclock (blind PUTs under vclock keep
# both values as siblings instead); summed over the three dynkvd.
#
#   bench/load/run-overwrite.sh [-B BUILDDIR] [-q]      ALT=OTHER_BUILDDIR for an A/B
#
# DYNKV_CREATE / ALT_CREATE: extra `dynkv-cluster create` arguments for the
# A / B clusters (a later --set wins), e.g. the same build twice with
# ALT=BUILDDIR ALT_CREATE="--set engine.lsm.blob_head=0".
#
# Per round and build (with ALT the two builds alternate, each on a cluster
# of its own): FILL_KEYS (30000) keys of VSIZE (10 KiB) written at quorum
# and flushed on every node (so the values lie in blob files), 4 s of
# overwrites to warm up, then CPU_SECS (10) s of overwrites at RATE
# (1500/s) over those keys and CPU_SECS s of fresh keys at the same rate.
# Prints per phase: CPU and context switches per PUT (utime+stime and
# switches of the three processes), and per PUT the blob values read from
# files and the replica merges judged from the stored object's head
# (dynkv_engine_lsm_blob_reads_total, dynkv_store_head_merges_total; a
# build without a counter prints 0); then the medians per build.
set -eu

. "$(dirname "$0")/common.sh"
load_opts overwrite 21 "$@"
CPU_SECS=${CPU_SECS:-$([ "$QUICK" = 1 ] && echo 2 || echo 10)}
RATE=${RATE:-1500}
FILL_KEYS=${FILL_KEYS_OW:-$([ "$QUICK" = 1 ] && echo 2000 || echo 30000)}
HZ=$(getconf CLK_TCK)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
load_tmp overwrite
Q="X-Consistency: quorum"

# counters TARGETS: "blob_reads head_merges" summed over the nodes.
counters() {
    for t in $(echo "$1" | tr , ' '); do curl -s --max-time 5 "http://$t/metrics"; done |
        awk '/^dynkv_engine_lsm_blob_reads_total / { b += $2 } /^dynkv_store_head_merges_total / { h += $2 }
             END { printf "%d %d\n", b, h }'
}

# phase BUILD NAME ROUND DK_LOAD-ARGS...: one measured phase on the running cluster.
phase() {
    ph_b=$1 ph_name=$2 ph_r=$3
    shift 3
    # shellcheck disable=SC2086
    t0=$(proc_ticks $PIDS) x0=$(proc_ctx $PIDS)
    set -- $(counters "$TARGETS") "$@"
    b0=$1 h0=$2
    shift 2
    "$DK_LOAD" -m put -R "$RATE" -c "$CONNS" -s "$VSIZE" -d "$CPU_SECS" -H "$Q" "$@" "$TARGETS" \
        >"$TMP/$ph_b-$ph_name-$ph_r.out" 2>&1 || true
    # shellcheck disable=SC2086
    t1=$(proc_ticks $PIDS) x1=$(proc_ctx $PIDS)
    set -- $(counters "$TARGETS")
    n=$(field ok "$TMP/$ph_b-$ph_name-$ph_r.out")
    [ "${n:-0}" -gt 0 ] || { cat "$TMP/$ph_b-$ph_name-$ph_r.out" >&2; die "$ph_name: no request answered"; }
    awk -v b="$ph_b" -v p="$ph_name" -v r="$ph_r" -v t=$((t1 - t0)) -v x=$((x1 - x0)) -v n="$n" -v hz="$HZ" \
        -v br=$(($1 - b0)) -v hm=$(($2 - h0)) -v p99="$(field p99_ms "$TMP/$ph_b-$ph_name-$ph_r.out")" \
        'BEGIN { printf "%s %s %s %.1f %.2f %.2f %.2f %s\n", b, p, r, t * 1e6 / hz / n, x / n, br / n, hm / n, p99 }'
}

# round BUILDDIR NAME R EXTRA: a fresh cluster of that build (EXTRA: more
# create arguments), filled, measured, removed.
round() {
    build_all "$1"
    BUILD=$1 # cluster_up runs this build's dynkvd
    # shellcheck disable=SC2086  # EXTRA is a list of words
    cluster_up --nodes 3 --engine lsm --set cluster.n_replicas=3 --set storage.sync=true \
        --set conflict.resolver=lww $4
    PIDS=$(cat "$CL"/n*/pid)
    "$DK_LOAD" -m put -c "$CONNS" -s "$VSIZE" -d 600 -n "$FILL_KEYS" --perm -k "$FILL_KEYS" -p o- -H "$Q" \
        "$TARGETS" >"$TMP/fill.out" 2>&1 || { cat "$TMP/fill.out" >&2; die "fill failed"; }
    for t in $(echo "$TARGETS" | tr , ' '); do curl -s -o /dev/null -X POST "http://$t/admin/flush"; done
    "$DK_LOAD" -m put -R "$RATE" -c "$CONNS" -s "$VSIZE" -d 4 -k "$FILL_KEYS" -p o- -H "$Q" "$TARGETS" >/dev/null 2>&1
    # shellcheck disable=SC2086
    settle $PIDS
    phase "$2" overwrite "$3" -k "$FILL_KEYS" -p o- --seed "$3" >>"$TMP/lines"
    phase "$2" fresh "$3" --perm -k 100000000 -p "f$3-" >>"$TMP/lines"
    python3 "$CTL" destroy "$CL" >/dev/null 2>&1
    CL=''
}

echo "# build phase round cpu_us/PUT switches/PUT blob_reads/PUT head_merges/PUT p99_ms (3 nodes summed; $RATE PUT/s, $CPU_SECS s)"
: >"$TMP/lines"
A_BUILD=$BUILD
for r in $(seq 1 "$ROUNDS"); do
    round "$A_BUILD" A "$r" "${DYNKV_CREATE:-}"
    [ -z "${ALT:-}" ] || round "$(cd "$ALT" && pwd)" B "$r" "${ALT_CREATE:-}"
    tail -n "$([ -z "${ALT:-}" ] && echo 2 || echo 4)" "$TMP/lines"
done
for b in A B; do
    for p in overwrite fresh; do
        v=$(awk -v b=$b -v p=$p '$1 == b && $2 == p { print $4 }' "$TMP/lines")
        [ -n "$v" ] || continue
        # shellcheck disable=SC2086
        echo "RESULT build=$b phase=$p cpu_us=$(median $v) switches=$(median $(awk -v b=$b -v p=$p '$1 == b && $2 == p { print $5 }' "$TMP/lines")) blob_reads=$(median $(awk -v b=$b -v p=$p '$1 == b && $2 == p { print $6 }' "$TMP/lines")) head_merges=$(median $(awk -v b=$b -v p=$p '$1 == b && $2 == p { print $7 }' "$TMP/lines")) rounds=$ROUNDS"
    done
done
echo "A=$A_BUILD B=${ALT:-none} load at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg)"
