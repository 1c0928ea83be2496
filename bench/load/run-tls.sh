#!/bin/sh
# bench/load/run-tls.sh - what HTTPS costs a node: two dynkvd with the same
# settings, one plain HTTP and one HTTPS ([security] tls_cert_file and
# tls_key_file, an ECDSA P-256 certificate from a throwaway CA made with the
# openssl command), driven by the same generator (dk_load, --cacert for the
# HTTPS one) in alternating order, in one run; writes
# bench/results/tls-<date>.md.
#
#   bench/load/run-tls.sh [-B BUILDDIR] [-o REPORT.md] [-q]
#
# -B  a configured build tree (default $DYNKV_BUILDDIR, else /tmp/b-load)
# -o  report file (default bench/results/tls-YYYY-MM-DD.md in the source tree)
# -q  quick: short phases, to check that the script works
#
# Each of ROUNDS (3) rounds, for each node (the order alternates by round):
#  GET peak: closed loop, CONNS (50) keep-alive connections, TLS_SECS (6) s,
#            over FILL_KEYS (20000) keys loaded once;
#  PUT peak: the same with new keys;
#  GET and PUT at fixed rates GET_RATE (3000) and PUT_RATE (1500) per s
#            (open loop): the server's CPU per request.
# Around each phase the node's user+sys CPU (/proc/PID/stat, all threads)
# is read; per request = delta / requests answered. Connections are kept
# alive, so the handshake is paid once per connection; the handshake alone
# is measured last with `openssl s_time -new` (one new TLS connection per
# GET /health, TLS 1.3 then 1.2), server CPU per handshake likewise.
# The nodes: lsm engine, storage.sync=false by default (SYNC=true for
# durable writes, whose fsync hides most of the difference), VSIZE 1024.
set -eu

. "$(dirname "$0")/common.sh"
VSIZE=${VSIZE:-1024}
load_opts tls 26 "$@"
if [ "$QUICK" = 1 ]; then
    TLS_SECS=${TLS_SECS:-1}
else
    TLS_SECS=${TLS_SECS:-6}
fi
GET_RATE=${GET_RATE:-3000}
PUT_RATE=${PUT_RATE:-1500}
SYNC=${SYNC:-false}
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
HZ=$(getconf CLK_TCK)
command -v openssl >/dev/null || die "openssl missing: apt-get install openssl"

load_tmp load-tls HTTP_PID TLS_PID

say "building in $BUILD"
build_all "$BUILD"

# ---- a CA and a certificate for 127.0.0.1 ---------------------------------
P=$TMP/pki
mkdir -p "$P"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/ca.key" -out "$P/ca.pem" \
    -days 2 -subj /CN=bench-ca >"$P/log" 2>&1 || die "openssl: CA"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/srv.key" -out "$P/srv.csr" \
    -subj /CN=127.0.0.1 >>"$P/log" 2>&1 || die "openssl: key"
echo "subjectAltName=IP:127.0.0.1" >"$P/ext"
openssl x509 -req -in "$P/srv.csr" -CA "$P/ca.pem" -CAkey "$P/ca.key" -CAcreateserial -out "$P/srv.pem" \
    -days 2 -extfile "$P/ext" >>"$P/log" 2>&1 || die "openssl: certificate"

# ---- the two nodes --------------------------------------------------------
# start_node NAME EXTRA...: prints "PID PORT".
start_node() {
    name=$1
    shift
    port=$(free_port 127.0.0.1) || die "no free port"
    mkdir -p "$TMP/$name"
    "$DYNKVD" --set node.data_dir="$TMP/$name/data" --set node.http_listen=127.0.0.1:"$port" \
        --set node.rpc_listen=127.0.0.1:0 --set node.gossip_listen=127.0.0.1:0 \
        --set storage.engine=lsm --set storage.sync="$SYNC" "$@" >"$TMP/$name.log" 2>&1 &
    echo "$! $port"
}
set -- $(start_node http)
HTTP_PID=$1 HTTP_PORT=$2
set -- $(start_node https --set security.tls_cert_file="$P/srv.pem" --set security.tls_key_file="$P/srv.key")
TLS_PID=$1 TLS_PORT=$2
wait_health "http://127.0.0.1:$HTTP_PORT" "$HTTP_PID" "$TMP/http.log"
wait_health "https://127.0.0.1:$TLS_PORT" "$TLS_PID" "$TMP/https.log" --cacert "$P/ca.pem"

# ---- measurement ----------------------------------------------------------
RAW=$TMP/raw.txt
: >"$RAW"
# phase NAME PID DK_LOAD-ARGS...: prints "ops_s cpu_us_per_req requests".
phase() {
    name=$1 pid=$2
    shift 2
    echo "\$ dk_load $*" >>"$RAW"
    t0=$(cpu_ticks "$pid")
    "$DK_LOAD" "$@" >"$TMP/$name.out" 2>&1 || true
    t1=$(cpu_ticks "$pid")
    grep -v '^INTERVAL' "$TMP/$name.out" >>"$RAW"
    grep -q '^RESULT' "$TMP/$name.out" || { cat "$TMP/$name.out" >&2; die "dk_load $name failed"; }
    n=$(($(field ok "$TMP/$name.out") + $(field notfound "$TMP/$name.out")))
    [ "$n" -gt 0 ] || die "dk_load $name: no request answered"
    e=$(field errors "$TMP/$name.out")
    echo "# $name: cpu_ticks $t0 -> $t1 (HZ $HZ), requests $n, errors $e" >>"$RAW"
    awk -v t=$((t1 - t0)) -v n="$n" -v hz="$HZ" -v o="$(field ops_s "$TMP/$name.out")" \
        'BEGIN { printf "%d %.1f %d\n", o, t * 1e6 / hz / n, n }'
}
HT=127.0.0.1:$HTTP_PORT TT=127.0.0.1:$TLS_PORT
TLSARG="--cacert $P/ca.pem"

say "loading $FILL_KEYS keys of $VSIZE B into each node"
"$DK_LOAD" -m put -c "$CONNS" -s "$VSIZE" -d 600 -n "$FILL_KEYS" --perm -k "$FILL_KEYS" -p g- "$HT" >"$TMP/fill-h.out" 2>&1 ||
    { cat "$TMP/fill-h.out" >&2; die "fill (http) failed"; }
# shellcheck disable=SC2086
"$DK_LOAD" $TLSARG -m put -c "$CONNS" -s "$VSIZE" -d 600 -n "$FILL_KEYS" --perm -k "$FILL_KEYS" -p g- "$TT" >"$TMP/fill-t.out" 2>&1 ||
    { cat "$TMP/fill-t.out" >&2; die "fill (https) failed"; }

# Lists per node (h = http, t = https) and measure.
for v in GPK_OPS GPK_CPU PPK_OPS PPK_CPU GFX_CPU PFX_CPU GFX_P99 PFX_P99; do
    eval "h_$v=''; t_$v=''"
done
# one_node h|t PID TARGET ROUND EXTRA...
one_node() {
    k=$1 pid=$2 tgt=$3 r=$4
    shift 4
    ex="$*"
    say "round $r: $k GET peak, PUT peak, GET at $GET_RATE/s, PUT at $PUT_RATE/s"
    # shellcheck disable=SC2086,SC2046
    set -- $(phase "$k-gpk-$r" "$pid" $ex -m get -c "$CONNS" -s "$VSIZE" -d "$TLS_SECS" -k "$FILL_KEYS" -p g- --seed "$r" "$tgt")
    eval "${k}_GPK_OPS=\"\$${k}_GPK_OPS $1\" ${k}_GPK_CPU=\"\$${k}_GPK_CPU $2\""
    # shellcheck disable=SC2086,SC2046
    set -- $(phase "$k-ppk-$r" "$pid" $ex -m put -c "$CONNS" -s "$VSIZE" -d "$TLS_SECS" --perm -k 100000000 -p "p$r-" "$tgt")
    eval "${k}_PPK_OPS=\"\$${k}_PPK_OPS $1\" ${k}_PPK_CPU=\"\$${k}_PPK_CPU $2\""
    # shellcheck disable=SC2086,SC2046
    set -- $(phase "$k-gfx-$r" "$pid" $ex -m get -R "$GET_RATE" -c "$CONNS" -s "$VSIZE" -d "$TLS_SECS" -k "$FILL_KEYS" -p g- --seed "$r" "$tgt")
    eval "${k}_GFX_CPU=\"\$${k}_GFX_CPU $2\" ${k}_GFX_P99=\"\$${k}_GFX_P99 $(field p99_ms "$TMP/$k-gfx-$r.out")\""
    # shellcheck disable=SC2086,SC2046
    set -- $(phase "$k-pfx-$r" "$pid" $ex -m put -R "$PUT_RATE" -c "$CONNS" -s "$VSIZE" -d "$TLS_SECS" --perm -k 100000000 -p "q$r-" "$tgt")
    eval "${k}_PFX_CPU=\"\$${k}_PFX_CPU $2\" ${k}_PFX_P99=\"\$${k}_PFX_P99 $(field p99_ms "$TMP/$k-pfx-$r.out")\""
}
for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then
        one_node h "$HTTP_PID" "$HT" "$r"
        # shellcheck disable=SC2086
        one_node t "$TLS_PID" "$TT" "$r" $TLSARG
    else
        # shellcheck disable=SC2086
        one_node t "$TLS_PID" "$TT" "$r" $TLSARG
        one_node h "$HTTP_PID" "$HT" "$r"
    fi
done

# The handshake: a new TLS connection per GET /health.
HS_ROWS=''
for v in tls1_3 tls1_2; do
    say "handshakes ($v)"
    t0=$(cpu_ticks "$TLS_PID")
    echo "\$ openssl s_time -connect $TT -new -time $TLS_SECS -$v -CAfile ca.pem -verify 1 -www /health" >>"$RAW"
    openssl s_time -connect "$TT" -new -time "$TLS_SECS" -"$v" -CAfile "$P/ca.pem" -verify 1 -www /health \
        >"$TMP/hs-$v.out" 2>&1 || true
    t1=$(cpu_ticks "$TLS_PID")
    grep -v '^verify' "$TMP/hs-$v.out" | grep -i 'connections' >>"$RAW" || true
    n=$(awk '/connections in [0-9.]+s/ { print $1; exit }' "$TMP/hs-$v.out")
    [ -n "$n" ] && [ "$n" -gt 0 ] || { cat "$TMP/hs-$v.out" >&2; die "s_time $v failed"; }
    echo "# hs-$v: cpu_ticks $t0 -> $t1 (HZ $HZ), connections $n" >>"$RAW"
    HS_ROWS="$HS_ROWS
| $v | $n | $(awk -v n="$n" -v s="$TLS_SECS" 'BEGIN { printf "%.0f", n / s }') | $(awk -v t=$((t1 - t0)) -v n="$n" -v hz="$HZ" 'BEGIN { printf "%.0f", t * 1e6 / hz / n }') |"
done
FAILS=$(curl -s --cacert "$P/ca.pem" "https://$TT/metrics" | awk '$1 == "dynkv_http_tls_handshake_failures_total" { print $2 }')

# ---- report ---------------------------------------------------------------
m() { median "$@"; }
row() { # row LABEL HTTP-LIST HTTPS-LIST
    echo "| $1 | $(m $2) | $(m $3) | $(ratio "$(m $3)" "$(m $2)") | $2 / $3 |"
}
mkdir -p "$(dirname "$OUT")"
{
    echo "# HTTPS vs HTTP on one node, $VSIZE B values ($(date '+%F %H:%M'))"
    echo
    [ "$QUICK" = 1 ] && echo "**Quick mode (-q): short phases, a check of the script, not a measurement.**" && echo
    echo "Two dynkvd with the same settings (lsm, storage.sync=$SYNC), one plain HTTP, one"
    echo "HTTPS with an ECDSA P-256 certificate; the same generator (dk_load, \`--cacert\` for"
    echo "HTTPS: TLS 1.3, the certificate verified) drives each in turn, the order alternating"
    echo "by round, $ROUNDS rounds of $TLS_SECS s phases, $CONNS keep-alive connections; medians."
    echo "CPU is the node's user+sys time (all threads) over the phase divided by the"
    echo "requests answered. The generator runs on the same 2 cores as the node, so peak"
    echo "figures are shared with it (and with whatever else runs): compare the ratio."
    echo
    echo "| per node | HTTP | HTTPS | HTTPS / HTTP | rounds (HTTP / HTTPS) |"
    echo "|---|--:|--:|--:|---|"
    row "GET peak, requests/s (closed loop)" "$h_GPK_OPS" "$t_GPK_OPS"
    row "GET peak: CPU µs per request" "$h_GPK_CPU" "$t_GPK_CPU"
    row "PUT peak, requests/s (closed loop, new keys)" "$h_PPK_OPS" "$t_PPK_OPS"
    row "PUT peak: CPU µs per request" "$h_PPK_CPU" "$t_PPK_CPU"
    row "GET at $GET_RATE/s: CPU µs per request" "$h_GFX_CPU" "$t_GFX_CPU"
    row "GET at $GET_RATE/s: p99 ms (open loop)" "$h_GFX_P99" "$t_GFX_P99"
    row "PUT at $PUT_RATE/s: CPU µs per request" "$h_PFX_CPU" "$t_PFX_CPU"
    row "PUT at $PUT_RATE/s: p99 ms (open loop)" "$h_PFX_P99" "$t_PFX_P99"
    echo
    echo "New connections: \`openssl s_time -new\` (one TLS connection per GET /health,"
    echo "one at a time, the certificate verified; $TLS_SECS s each):"
    echo
    echo "| protocol | connections | per s | node CPU µs per connection |"
    echo "|---|--:|--:|--:|$HS_ROWS"
    echo
    echo "Handshake failures counted by the HTTPS node over the run: ${FAILS:-0}."
    echo
    echo "## Commands"
    echo
    echo "- \`bench/load/run-tls.sh$([ "$QUICK" = 1 ] && echo ' -q')\` (ROUNDS=$ROUNDS TLS_SECS=$TLS_SECS GET_RATE=$GET_RATE PUT_RATE=$PUT_RATE FILL_KEYS=$FILL_KEYS CONNS=$CONNS VSIZE=$VSIZE SYNC=$SYNC)"
    echo "- nodes: \`dynkvd --set storage.engine=lsm --set storage.sync=$SYNC ...\`, the HTTPS one with"
    echo "  \`--set security.tls_cert_file=srv.pem --set security.tls_key_file=srv.key\`"
    echo "- GET peak: \`dk_load [--cacert ca.pem] -m get -c $CONNS -s $VSIZE -d $TLS_SECS -k $FILL_KEYS -p g- --seed N\`;"
    echo "  PUT peak: \`dk_load [--cacert ca.pem] -m put -c $CONNS -s $VSIZE -d $TLS_SECS --perm -k 100000000 -p pN-\`;"
    echo "  fixed rates: the same with \`-R $GET_RATE\` / \`-R $PUT_RATE\`"
    echo
    report_tail "- OpenSSL: $(openssl version)"
} >"$OUT"
say "wrote $OUT"
