#!/bin/sh
# dynkv-entrypoint - start dynkvd in a container from /etc/dynkv/node.ini
# and the environment, then exec it (so it is PID 1 and gets SIGTERM):
#   DYNKV_NODE_ID   node id (default: the host name, e.g. dynkv-0 in a
#                   StatefulSet), lowercased, other characters made '-'
#   POD_IP          the address to listen on and to be known by (gossip and
#                   RPC carry the address a node listens on, so it must be
#                   the pod's own IP, not 0.0.0.0); default: the node.ini's
#   DYNKV_SEEDS     comma-separated host:port gossip seeds; host names are
#                   resolved here (getent) because the node takes numeric
#                   seeds; those that do not resolve yet are left out
#                   (while none resolves, it retries for up to 60 s)
#   DYNKV_HTTP_PORT, DYNKV_RPC_PORT, DYNKV_GOSSIP_PORT  (8080, 7070, 7946)
#   DYNKV_CLUSTER_KEY_FILE  the cluster's key (`dynkvd keygen`), e.g. from a
#                   mounted Secret; copied to a private 0600 file first
#                   (Secret volumes may be group-readable, which dynkvd
#                   refuses). Required: the node listens on a non-loopback
#                   address, which needs [security] cluster_key_file
# Extra arguments are passed to dynkvd (e.g. --set storage.engine=memory).
set -eu
conf=/etc/dynkv/node.ini
id=${DYNKV_NODE_ID:-$(hostname)}
id=$(printf '%s' "$id" | tr 'A-Z' 'a-z' | tr -c 'a-z0-9_-' '-')
set -- --config "$conf" --set "node.id=$id" "$@"
if [ -n "${POD_IP:-}" ]; then
    set -- "$@" --set "node.http_listen=$POD_IP:${DYNKV_HTTP_PORT:-8080}" \
        --set "node.rpc_listen=$POD_IP:${DYNKV_RPC_PORT:-7070}" \
        --set "node.gossip_listen=$POD_IP:${DYNKV_GOSSIP_PORT:-7946}"
fi
if [ -n "${DYNKV_CLUSTER_KEY_FILE:-}" ]; then
    key=${TMPDIR:-/tmp}/dynkv-cluster.key
    (umask 077 && rm -f "$key" && cat "$DYNKV_CLUSTER_KEY_FILE" > "$key")
    set -- "$@" --set "security.cluster_key_file=$key"
fi
if [ -n "${DYNKV_SEEDS:-}" ]; then
    # Seeds that resolve now are used; only when none does (DNS not ready
    # yet), wait for one, at most 60 s. A StatefulSet's later pods do not
    # exist yet when the first one starts: it is its own seed.
    deadline=$(( $(date +%s) + 60 ))
    while :; do
        seeds=
        for s in $(printf '%s' "$DYNKV_SEEDS" | tr ',' ' '); do
            host=${s%:*} port=${s##*:}
            ip=$(getent ahostsv4 "$host" 2>/dev/null | awk 'NR == 1 { print $1 }')
            [ -n "$ip" ] && seeds="$seeds${seeds:+,}$ip:$port"
        done
        [ -n "$seeds" ] && break
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "dynkv-entrypoint: no seed of $DYNKV_SEEDS resolves; starting without seeds" >&2
            break
        fi
        sleep 1
    done
    [ -n "$seeds" ] && set -- "$@" --set "cluster.seeds=$seeds"
fi
exec /usr/bin/dynkvd "$@"
