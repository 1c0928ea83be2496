#!/bin/sh
# tests/plugins/run-plugin-options.sh - plugins' own INI sections, end to
# end through dynkvd:
#  1. a policy that is one folder and one local.mk line
#     (tests/plugins/compaction-oneknob) reads [compaction.oneknob] runs from
#     a file and from --set, and the node serves with it;
#  2. a bad value, an unknown key, a section for a plugin the node does not
#     load, an option for a plugin that takes none, and a key that moved to
#     a plugin section each stop the node with exit 2 and "file:line: ...";
#  3. a policy built against the ABI 1.0 headers (tests/plugins/abi-1.0)
#     loads and serves; an option for it is refused (it cannot read one);
#  4. codec plugins: data written with [engine.lsm] codec = lz4 is served
#     after the engine is reconfigured for zstd (tables name their codec),
#     a codec without a plugin is refused at start, and a table whose codec
#     plugin is missing from the plugin folder stops the node, naming it.
# Ends with "# dk-summary: P passed, F failed" (tests/vendor/lib.sh).
# Run alone with: make check TESTS=tests/plugins/run-plugin-options.sh
. "$(cd "$(dirname "$0")/../vendor" && pwd)/lib.sh"

dynkvd=$DYNKV_BUILDDIR/server/dynkvd
if [ ! -x "$dynkvd" ]; then
    vt_fail "dynkvd not built at $dynkvd"
    vt_finish
fi

# ini NAME TEXT: write $vt_tmp/NAME.ini (printf-style escapes in TEXT).
ini() {
    printf "$2" >"$vt_tmp/$1.ini"
}

# node LOG INI [ARGS...]: start a node on free ports with the given INI.
node() {
    nlog=$1 nini=$2
    shift 2
    vt_start "$nlog" "$dynkvd" --config "$nini" --set node.data_dir="$vt_tmp/data-$(basename "$nini" .ini)" \
        --set node.http_listen=127.0.0.1:"$(vt_free_port)" --set node.rpc_listen=127.0.0.1:0 \
        --set node.gossip_listen=127.0.0.1:0 --set cluster.n_replicas=1 \
        --set storage.plugin_dir="$DYNKV_PLUGIN_PATH" "$@"
}

# refused NAME WANT INI [ARGS...]: dynkvd exits 2 with WANT (a fixed
# string) on stderr.
refused() {
    rname=$1 rwant=$2 rini=$3
    shift 3
    "$dynkvd" --config "$rini" --set node.data_dir="$vt_tmp/data-refused" \
        --set node.http_listen=127.0.0.1:"$(vt_free_port)" --set node.rpc_listen=127.0.0.1:0 \
        --set node.gossip_listen=127.0.0.1:0 --set storage.plugin_dir="$DYNKV_PLUGIN_PATH" "$@" \
        >"$vt_tmp/refused.log" 2>&1 &
    rpid=$!
    vt_pids="$vt_pids $rpid"
    ri=0
    while kill -0 "$rpid" 2>/dev/null && [ $ri -lt 100 ]; do
        sleep 0.1
        ri=$((ri + 1))
    done
    kill -KILL "$rpid" 2>/dev/null
    wait "$rpid"
    rrc=$?
    if [ "$rrc" -eq 2 ] && grep -qF -- "$rwant" "$vt_tmp/refused.log"; then
        vt_pass "$rname"
    else
        vt_fail "$rname: exit $rrc, expected 2 and '$rwant'; got:"
        sed -n '1,10p' "$vt_tmp/refused.log"
    fi
}

# 1. The one-knob policy, from a file and from --set.
ini oneknob '[storage]\nmemtable_size = 1MiB\n[compaction]\npolicy = oneknob\n\n[compaction.oneknob]\nruns = 2\n'
if node "$vt_tmp/oneknob.log" "$vt_tmp/oneknob.ini"; then
    url=$(sed -n 's|.*serving \(http://[0-9.:]*\).*|\1|p' "$vt_tmp/oneknob.log" | head -n 1)
    vt_check "oneknob read runs = 2 from its section" grep -q 'oneknob: compacting at 2 level-0 runs' "$vt_tmp/oneknob.log"
    vt_status "oneknob: PUT" 200 PUT "$url/kv/k1" "v1"
    vt_expect "oneknob: GET" "200 v1" GET "$url/kv/k1"
    vt_check "oneknob: node stops cleanly" vt_stop "$vt_pid"
else
    vt_fail "a node with compaction policy oneknob starts"
fi
if node "$vt_tmp/oneknob2.log" "$vt_tmp/oneknob.ini" --set compaction.oneknob.runs=7; then
    vt_check "--set compaction.oneknob.runs=7 overrides the file" \
        grep -q 'oneknob: compacting at 7 level-0 runs' "$vt_tmp/oneknob2.log"
    vt_check "oneknob (--set): node stops cleanly" vt_stop "$vt_pid"
else
    vt_fail "a node with --set compaction.oneknob.runs=7 starts"
fi

# 2. Refusals, each naming the file and line.
f=$vt_tmp/bad1.ini
ini bad1 '[compaction]\npolicy = oneknob\n[compaction.oneknob]\nruns = 1\n'
refused "a value out of range" "$f:4: [compaction.oneknob] runs = 1: expected an integer in 2..100" "$f"
f=$vt_tmp/bad2.ini
ini bad2 '[compaction]\npolicy = oneknob\n[compaction.oneknob]\n; a comment\nrun = 3\n'
refused "an unknown key" "$f:5: [compaction.oneknob] run = 3: unknown key 'run' in [compaction.oneknob]; expected one of: runs" "$f"
f=$vt_tmp/bad3.ini
ini bad3 '[engine.lsm]\ncodec = none\nbloom_bits_per_key = 99\n'
refused "an engine option out of range" "$f:3: [engine.lsm] bloom_bits_per_key = 99: expected an integer in 1..32" "$f"
f=$vt_tmp/bad4.ini
ini bad4 '[storage]\nengine = lsm\n[engine.rocksdb]\ncodec = none\n'
refused "a section for an engine not in use" "$f:4: [engine.rocksdb] codec = none: [engine.rocksdb] configures the engine 'rocksdb', but [storage] engine = lsm" "$f"
f=$vt_tmp/bad5.ini
ini bad5 '[conflict]\nresolver = lww\n[conflict.lww]\nmode = fast\n'
refused "an option for a plugin that takes none" "$f:4: [conflict.lww] mode = fast: the conflict plugin 'lww' takes no options" "$f"
f=$vt_tmp/bad6.ini
ini bad6 '[compaction]\npolicy = leveled\nl0_trigger = 8\n'
refused "a key that moved" "$f:3: [compaction] l0_trigger moved to the plugin's own section: write it under [compaction.leveled]" "$f"
f=$vt_tmp/bad7.ini
ini bad7 '[node]\nid = n1\n'
refused "a bad value from --set" "--set compaction.leveled.level_ratio=1: expected an integer in 2..100" "$f" \
    --set compaction.leveled.level_ratio=1

# 3. A policy built against the ABI 1.0 headers.
ini legacy '[compaction]\npolicy = legacy\n'
if node "$vt_tmp/legacy.log" "$vt_tmp/legacy.ini"; then
    url=$(sed -n 's|.*serving \(http://[0-9.:]*\).*|\1|p' "$vt_tmp/legacy.log" | head -n 1)
    vt_check "the ABI 1.0 policy loads and opens with its defaults" \
        grep -q 'legacy (ABI 1.0): l0_trigger 4, target_file_size 0' "$vt_tmp/legacy.log"
    vt_status "ABI 1.0 policy: PUT" 200 PUT "$url/kv/k" "v"
    vt_expect "ABI 1.0 policy: GET" "200 v" GET "$url/kv/k"
    vt_check "ABI 1.0 policy: node stops cleanly" vt_stop "$vt_pid"
else
    vt_fail "a node with the ABI 1.0 compaction policy starts"
fi
f=$vt_tmp/bad8.ini
ini bad8 '[compaction]\npolicy = legacy\n[compaction.legacy]\nl0_trigger = 2\n'
refused "an option for an ABI 1.0 plugin" "$f:4: [compaction.legacy] l0_trigger = 2: the compaction plugin 'legacy' takes no options" "$f"

# 4. Codecs. The same data folder and ports throughout.
cdata=$vt_tmp/codec-data
curl_port=$(vt_free_port)
cnode() {
    vt_start "$1" "$dynkvd" --set node.data_dir="$cdata" --set node.http_listen=127.0.0.1:"$curl_port" \
        --set node.rpc_listen=127.0.0.1:0 --set node.gossip_listen=127.0.0.1:0 --set cluster.n_replicas=1 \
        --set storage.plugin_dir="$2" --set engine.lsm.codec="$3"
}
curl=http://127.0.0.1:$curl_port
val=$(printf 'abcdefgh%.0s' $(seq 1 64))
if cnode "$vt_tmp/c1.log" "$DYNKV_PLUGIN_PATH" lz4; then
    n=0
    for i in 1 2 3 4 5 6 7 8; do
        [ "$(vt_http PUT "$curl/kv/key$i" "$val$i" | cut -d' ' -f1)" = 200 ] && n=$((n + 1))
    done
    vt_check "codec lz4: 8 PUTs" test "$n" -eq 8
    vt_check "codec lz4: node stops cleanly" vt_stop "$vt_pid"
else
    vt_fail "a node with [engine.lsm] codec = lz4 starts"
fi
# A restart with lz4 writes what the WAL held into an lz4 table.
if cnode "$vt_tmp/c2.log" "$DYNKV_PLUGIN_PATH" lz4; then
    vt_check "codec lz4: node stops cleanly after a restart" vt_stop "$vt_pid"
fi
if cnode "$vt_tmp/c3.log" "$DYNKV_PLUGIN_PATH" zstd; then
    vt_expect "codec zstd now: a key written with lz4 reads back" "200 ${val}3" GET "$curl/kv/key3"
    vt_check "codec zstd now: the lz4 plugin was loaded for the old tables" \
        grep -q "loaded codec plugin 'lz4'" "$vt_tmp/c3.log"
    vt_check "codec zstd now: node stops cleanly" vt_stop "$vt_pid"
else
    vt_fail "a node reconfigured to codec = zstd starts on lz4 tables"
fi
f=$vt_tmp/bad9.ini
ini bad9 '[engine.lsm]\ncodec = brotli\n'
refused "a codec without a plugin" "$f:2: [engine.lsm] codec = brotli: no codec plugin 'brotli' (codec-brotli.so) in the plugin folder" "$f"
# A plugin folder without codec-lz4.so: the lz4 tables cannot be read.
mkdir -p "$vt_tmp/nolz4"
for so in "$DYNKV_PLUGIN_PATH"/*.so; do
    case $so in */codec-lz4.so) ;; *) cp "$so" "$vt_tmp/nolz4/" ;; esac
done
"$dynkvd" --set node.data_dir="$cdata" --set node.http_listen=127.0.0.1:"$curl_port" \
    --set node.rpc_listen=127.0.0.1:0 --set node.gossip_listen=127.0.0.1:0 \
    --set storage.plugin_dir="$vt_tmp/nolz4" --set engine.lsm.codec=zstd >"$vt_tmp/c4.log" 2>&1
rc=$?
vt_check "a missing codec plugin for an existing table stops the node (exit $rc)" test "$rc" -eq 1
vt_check "... naming the table and the plugin" grep -qE \
    "table $cdata/engine/[0-9]+\.sst was written with codec 'lz4' \(id 2\), which cannot be opened .*codec-lz4\.so" \
    "$vt_tmp/c4.log" || sed -n '1,20p' "$vt_tmp/c4.log"
vt_finish
