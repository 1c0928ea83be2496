#!/bin/sh
# tests/vendor/run-vendor.sh - a vendor builds an engine out of tree against
# an INSTALLED dynkv, and dynkvd serves with it. This proves the installed
# headers and dynkv-plugin.pc are complete.
#
# 1. `make install` this build into a temporary prefix (prefix=... on the
#    make command line; the .pc was written by configure with the configured
#    prefix, so pkg-config runs with --define-prefix, which derives it from
#    where the .pc file lies) and check the kit: programs, the conformance
#    runner, plugins without .la files, headers, the .pc, the example INI,
#    the man pages.
# 2. Copy examples/vendor-engine to a scratch folder, autoreconf, configure
#    it against that prefix (PKG_CHECK_MODULES + PKG_CHECK_VAR plugindir),
#    build and `make install` engine-vendorlog.so into the prefix's plugin
#    folder, next to the built-in plugins.
# 3. The installed conformance runner against it:
#    dynkv-engine-check engine-vendorlog.so, with and without an option of
#    its section.
# 4. The installed dynkvd with storage.engine=vendorlog: PUT, GET, scan,
#    DELETE over HTTP; a restart keeps the data; garbage appended to the log
#    (a torn write) is cut off at the next start; its own INI section
#    ([engine.vendorlog] max_file_size) reaches it, and a bad value there
#    stops the node with file:line; a flipped byte in the middle of the log
#    stops the node at start instead of serving bad data.
#
# Skips (exit 77) when autoreconf is missing. Ends with
# "# dk-summary: P passed, F failed". Run alone with:
#   make check TESTS=tests/vendor/run-vendor.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

if ! command -v autoreconf >/dev/null 2>&1; then
    echo "run-vendor: autoreconf not found: cannot build the vendor example"
    echo "# dk-summary: 0 passed, 0 failed, 1 skipped"
    exit 77
fi
prefix=$vt_tmp/prefix
pdir=$prefix/lib/dynkv/plugins

# 1. Install. The nested make must not inherit this make's flags (TESTS=...,
# the jobserver).
if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$DYNKV_BUILDDIR" install \
        prefix="$prefix" exec_prefix="$prefix" >"$vt_tmp/install.log" 2>&1; then
    vt_pass "make install into a temporary prefix"
else
    sed -n '1,40p' "$vt_tmp/install.log"
    vt_fail "make install into a temporary prefix"
    vt_finish
fi
for h in types.h plugin.h engine.h compaction.h conflict.h codec.h; do
    [ -f "$prefix/include/dynkv-plugin/dynkv/$h" ] || vt_fail "installed header dynkv/$h missing"
done
for f in bin/dynkvd bin/dynkv bin/dynkv-cluster bin/dynkv-engine-check \
        lib/dynkv/plugins/engine-lsm.so lib/dynkv/plugins/engine-memory.so \
        lib/dynkv/plugins/compaction-leveled.so lib/dynkv/plugins/conflict-vclock.so \
        lib/dynkv/plugins/codec-none.so lib/dynkv/plugins/codec-zstd.so lib/dynkv/plugins/codec-lz4.so \
        share/dynkv/single-node.ini share/man/man1/dynkvd.1 share/man/man1/dynkv.1 \
        share/man/man1/dynkv-cluster.1 share/man/man1/dynkv-engine-check.1; do
    [ -e "$prefix/$f" ] || vt_fail "make install did not install $f"
done
vt_check "no .la files in the installed plugin folder" test -z "$(find "$pdir" -name '*.la')"
vt_check "no test plugins installed" test -z "$(find "$pdir" -name '*-minimal.so' -o -name '*-bad*.so' -o -name '*-legacy.so')"

pc="pkg-config --define-prefix"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
got=$($pc --cflags dynkv-plugin | tr -d ' ')
vt_check "dynkv-plugin.pc Cflags: '$got'" test "$got" = "-I$prefix/include/dynkv-plugin"
got=$($pc --variable=plugindir dynkv-plugin)
vt_check "dynkv-plugin.pc plugindir: '$got'" test "$got" = "$pdir"

# 2. Build the example the way its README says.
src=$vt_tmp/vendor-engine
cp -R "$DYNKV_SRCDIR/examples/vendor-engine" "$src" && chmod -R u+w "$src"
if (cd "$src" && autoreconf -fi && ./configure PKG_CONFIG="$pc" && make && make install) \
        >"$vt_tmp/vendor-build.log" 2>&1 && [ -f "$pdir/engine-vendorlog.so" ]; then
    vt_pass "vendor engine builds against the installed headers and installs"
else
    tail -n 40 "$vt_tmp/vendor-build.log"
    vt_fail "vendor engine builds against the installed headers and installs"
    vt_finish
fi
if grep -E 'vendorlog\.c:.*warning:' "$vt_tmp/vendor-build.log"; then
    vt_fail "vendor engine builds without warnings"
else
    vt_pass "vendor engine builds without warnings"
fi

# 3. Conformance, with the runner a vendor gets from `make install`.
if "$prefix/bin/dynkv-engine-check" --plugin-dir "$pdir" "$pdir/engine-vendorlog.so" \
        >"$vt_tmp/conformance.log" 2>&1; then
    vt_pass "installed dynkv-engine-check engine-vendorlog.so: $(grep '^# dk-summary' "$vt_tmp/conformance.log")"
else
    tail -n 40 "$vt_tmp/conformance.log"
    vt_fail "installed dynkv-engine-check engine-vendorlog.so"
fi
if "$prefix/bin/dynkv-engine-check" --plugin-dir "$pdir" --set max_file_size=64MiB \
        "$pdir/engine-vendorlog.so" >"$vt_tmp/conformance2.log" 2>&1; then
    vt_pass "dynkv-engine-check with [engine.vendorlog] max_file_size = 64MiB"
else
    tail -n 20 "$vt_tmp/conformance2.log"
    vt_fail "dynkv-engine-check with [engine.vendorlog] max_file_size = 64MiB"
fi
"$prefix/bin/dynkv-engine-check" --plugin-dir "$pdir" --set max_file_size=x "$pdir/engine-vendorlog.so" \
    >"$vt_tmp/conformance3.log" 2>&1
vt_check "dynkv-engine-check reports a bad engine option" \
    grep -qF -- "--set engine.vendorlog.max_file_size=x: expected a size" "$vt_tmp/conformance3.log"

# 4. The installed daemon with the vendor engine.
data=$vt_tmp/data
url=http://127.0.0.1:$(vt_free_port)
start() {
    vt_start "$vt_tmp/node.log" "$prefix/bin/dynkvd" --set node.data_dir="$data" \
        --set node.http_listen="${url#http://}" --set node.rpc_listen=127.0.0.1:0 \
        --set node.gossip_listen=127.0.0.1:0 --set cluster.n_replicas=1 \
        --set storage.engine=vendorlog --set storage.plugin_dir="$pdir"
}
if start; then
    vt_pass "dynkvd serves with storage.engine=vendorlog"
    vt_status "PUT alpha" 200 PUT "$url/kv/alpha" "first value"
    vt_status "PUT beta" 200 PUT "$url/kv/beta" "second value"
    vt_status "PUT gamma" 200 PUT "$url/kv/gamma" "third value"
    vt_expect "GET alpha" "200 first value" GET "$url/kv/alpha"
    vt_status "DELETE beta" 200 DELETE "$url/kv/beta"
    vt_status "GET deleted beta" 404 GET "$url/kv/beta"
    vt_check "scan lists alpha and gamma" sh -c "$(cat <<'EOF'
out=$(. "$1"; vt_http GET "$2/kv?prefix=") || exit 1
case $out in "200 "*'"alpha"'*'"gamma"'*) ;; *) echo "scan gave: $out"; exit 1 ;; esac
case $out in *'"beta"'*) echo "scan shows the deleted key: $out"; exit 1 ;; esac
EOF
)" - "$DYNKV_SRCDIR/tests/vendor/lib.sh" "$url"
    vt_check "dynkvd stops cleanly" vt_stop "$vt_pid"
else
    vt_fail "dynkvd serves with storage.engine=vendorlog"
    vt_finish
fi

log=$data/engine/vendorlog.log
[ -f "$log" ] || log=$(find "$data" -name vendorlog.log | head -n 1)
if start; then
    vt_expect "after a restart: alpha" "200 first value" GET "$url/kv/alpha"
    vt_expect "after a restart: gamma" "200 third value" GET "$url/kv/gamma"
    vt_status "after a restart: beta still deleted" 404 GET "$url/kv/beta"
    vt_check "dynkvd stops cleanly after the restart" vt_stop "$vt_pid"
else
    vt_fail "dynkvd restarts on its vendorlog data"
fi

# A torn write: half a frame header at the end of the log.
if [ -f "$log" ] && printf '\021\000\000' >>"$log" && start; then
    vt_check "a torn tail is reported" grep -q 'dropping 3 bytes of an unfinished write' "$vt_tmp/node.log" ||
        sed -n '1,20p' "$vt_tmp/node.log"
    vt_expect "after a torn tail: alpha" "200 first value" GET "$url/kv/alpha"
    vt_status "after a torn tail: writes work" 200 PUT "$url/kv/delta" "fourth"
    vt_check "dynkvd stops cleanly after the torn tail" vt_stop "$vt_pid"
else
    vt_fail "dynkvd starts on a log with a torn tail ($log)"
fi

# Its own INI section: [engine.vendorlog] max_file_size caps the log (a
# fresh data folder, so the cap is what the test writes), and a bad value
# stops the node with the file and line.
printf '[storage]\nengine = vendorlog\n[engine.vendorlog]\nmax_file_size = 4KiB\n' >"$vt_tmp/vendor.ini"
if vt_start "$vt_tmp/capped.log" "$prefix/bin/dynkvd" --config "$vt_tmp/vendor.ini" \
        --set node.data_dir="$vt_tmp/capped" --set node.http_listen="${url#http://}" \
        --set node.rpc_listen=127.0.0.1:0 --set node.gossip_listen=127.0.0.1:0 \
        --set cluster.n_replicas=1 --set storage.plugin_dir="$pdir"; then
    vt_status "[engine.vendorlog]: a small PUT fits under max_file_size" 200 PUT "$url/kv/small" "tiny"
    big=$(head -c 6000 /dev/zero | tr '\0' 'x')
    out=$(vt_http PUT "$url/kv/big" "$big")
    vt_check "[engine.vendorlog]: a PUT past max_file_size is refused (${out%% *})" test "${out%% *}" != 200
    vt_check "[engine.vendorlog]: the refusal is logged" grep -q 'would pass max_file_size (4096)' "$vt_tmp/capped.log"
    vt_check "dynkvd stops cleanly (capped)" vt_stop "$vt_pid"
else
    vt_fail "dynkvd starts with [engine.vendorlog] max_file_size = 4KiB"
fi
printf '[storage]\nengine = vendorlog\n[engine.vendorlog]\nmax_file_size = lots\n' >"$vt_tmp/vendor-bad.ini"
"$prefix/bin/dynkvd" --config "$vt_tmp/vendor-bad.ini" --set node.data_dir="$vt_tmp/capped2" \
    --set node.http_listen="${url#http://}" --set node.rpc_listen=127.0.0.1:0 \
    --set node.gossip_listen=127.0.0.1:0 --set storage.plugin_dir="$pdir" >"$vt_tmp/vbad.log" 2>&1
rc=$?
vt_check "[engine.vendorlog]: a bad value exits 2 (got $rc)" test "$rc" -eq 2
vt_check "[engine.vendorlog]: ... naming the file and line" \
    grep -qF "$vt_tmp/vendor-bad.ini:4: [engine.vendorlog] max_file_size = lots: expected a size" "$vt_tmp/vbad.log"

# Corruption: flip one byte of the first frame's payload (past the 8-byte
# magic and 8-byte frame header); later frames follow, so it is not a tail.
if [ -f "$log" ] && "$VT_PY" -c '
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(20); b = f.read(1); f.seek(20); f.write(bytes([b[0] ^ 0x40]))' "$log"; then
    "$prefix/bin/dynkvd" --set node.data_dir="$data" --set node.http_listen="${url#http://}" \
        --set node.rpc_listen=127.0.0.1:0 --set node.gossip_listen=127.0.0.1:0 \
        --set cluster.n_replicas=1 --set storage.engine=vendorlog \
        --set storage.plugin_dir="$pdir" >"$vt_tmp/corrupt.log" 2>&1 &
    cpid=$!
    vt_pids="$vt_pids $cpid"
    i=0
    while kill -0 "$cpid" 2>/dev/null && [ $i -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -KILL "$cpid" 2>/dev/null
    wait "$cpid"
    rc=$?
    vt_check "a corrupt log stops the node (exit $rc)" test "$rc" -ne 0 -a "$rc" -lt 128
    vt_check "the corruption is reported with its offset" grep -q 'bad frame at offset 8 ' "$vt_tmp/corrupt.log"
else
    vt_fail "could not corrupt the log ($log)"
fi
vt_finish
