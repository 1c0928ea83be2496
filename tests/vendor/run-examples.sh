#!/bin/sh
# tests/vendor/run-examples.sh - the example configurations under examples/
# really start a node, and the three-node files really form a cluster.
#
# 1. Each of examples/single-node.ini and examples/three-node/n{1,2,3}.ini
#    is loaded by dynkvd (so every key in it is known and valid), with only
#    the data folder, the listen ports and the plugin folder overridden; the
#    node must log "serving http://" and exit 0 on SIGTERM.
# 2. The three n*.ini files together, each node on its own loopback address
#    as written (127.0.0.1/.2/.3) but on free ports (so parallel test runs
#    do not collide) with the seed list rewritten to match: once all three
#    see each other, a write to n1 (quorum, as configured) reads back from
#    n3 and n2, a delete on n2 is gone on n1, and all stop with exit 0.
#
# Ends with "# dk-summary: P passed, F failed" (tests/vendor/lib.sh).
# Run alone with: make check TESTS=tests/vendor/run-examples.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

dynkvd=$DYNKV_BUILDDIR/server/dynkvd
ex=$DYNKV_SRCDIR/examples
if [ ! -x "$dynkvd" ]; then
    vt_fail "dynkvd not built at $dynkvd"
    vt_finish
fi

for f in single-node.ini three-node/n1.ini three-node/n2.ini three-node/n3.ini; do
    name=$(echo "$f" | tr / -)
    dir=$vt_tmp/$name
    mkdir -p "$dir"
    if vt_start "$dir/log" "$dynkvd" --config "$ex/$f" --set node.data_dir="$dir/data" \
            --set node.http_listen=127.0.0.1:"$(vt_free_port)" \
            --set node.rpc_listen=127.0.0.1:0 --set node.gossip_listen=127.0.0.1:0 \
            --set storage.plugin_dir="$DYNKV_PLUGIN_PATH"; then
        vt_check "$f starts and stops cleanly" vt_stop "$vt_pid"
    else
        vt_fail "$f: dynkvd did not start"
    fi
done

# The cluster: three free ports per node, bound on the node's own address.
seeds="" args1="" args2="" args3=""
for i in 1 2 3; do
    h=$(vt_free_port) r=$(vt_free_port) g=$(vt_free_port)
    eval "http$i=127.0.0.$i:$h"
    eval "args$i=\"--set node.http_listen=127.0.0.$i:$h --set node.rpc_listen=127.0.0.$i:$r --set node.gossip_listen=127.0.0.$i:$g\""
    seeds="$seeds${seeds:+,}127.0.0.$i:$g"
done
up=1
for i in 1 2 3; do
    mkdir -p "$vt_tmp/c$i"
    eval "a=\$args$i"
    # shellcheck disable=SC2086 # $a is a list of words on purpose
    if ! vt_start "$vt_tmp/c$i/log" "$dynkvd" --config "$ex/three-node/n$i.ini" \
            --set node.data_dir="$vt_tmp/c$i/data" $a --set cluster.seeds="$seeds" \
            --set storage.plugin_dir="$DYNKV_PLUGIN_PATH"; then
        up=0
        break
    fi
    eval "pid$i=\$vt_pid"
done

# All three members up and on the ring (ring status normal, when the node
# reports one) in n1's and n3's view (20 s at most).
formed() {
    for n in "$http1" "$http3"; do
        out=$(vt_http GET "http://$n/cluster")
        for id in n1 n2 n3; do
            printf '%s' "$out" | "$VT_PY" -c '
import json, sys
view = json.loads(sys.stdin.read().split(" ", 1)[1])
st = {m["id"]: (m["state"], m.get("status", "normal")) for m in view["members"]}
state, status = st.get(sys.argv[1], (None, None))
sys.exit(0 if state in ("up", "alive", "normal") and status == "normal" else 1)' "$id" 2>/dev/null || return 1
        done
    done
}
if [ "$up" -eq 1 ]; then
    i=0
    while ! formed && [ $i -lt 100 ]; do
        sleep 0.2
        i=$((i + 1))
    done
    vt_check "three-node: n1 and n3 see all three members" formed
    vt_status "three-node: PUT on n1" 200 PUT "http://$http1/kv/greeting" hello
    vt_expect "three-node: GET on n3" "200 hello" GET "http://$http3/kv/greeting"
    vt_expect "three-node: GET on n2" "200 hello" GET "http://$http2/kv/greeting"
    vt_status "three-node: DELETE on n2" 200 DELETE "http://$http2/kv/greeting"
    vt_status "three-node: gone on n1" 404 GET "http://$http1/kv/greeting"
else
    vt_fail "three-node: the three nodes did not all start"
fi
for i in 1 2 3; do
    eval "p=\${pid$i:-}"
    [ -n "$p" ] && vt_check "three-node: n$i stops cleanly" vt_stop "$p"
done
vt_finish
