#!/bin/sh
# dynkv-entrypoint - start dynkvd in a container from /etc/dynkv/node.ini
# and the environment, then exec it (so it is PID 1 and gets SIGTERM):
#   DYNKV_NODE_ID   node id (default: the host name, e.g. dynkv-0 in a
#                   StatefulSet), lowercased, other characters made '-'
#   POD_IP          the address to listen on and to be known by; default
#                   (or 0.0.0.0): listen on every interface (node.ini) and
#                   advertise DYNKV_ADVERTISE_ADDRESS, else the container's
#                   first address (hostname -i)
#   DYNKV_SEEDS     comma-separated host:port gossip seeds, passed as they
#                   are: the node resolves host names itself, again at each
#                   join attempt, so a pod name that is not in DNS yet works
#                   once it is
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
listen=${POD_IP:-0.0.0.0}
set -- "$@" --set "node.http_listen=$listen:${DYNKV_HTTP_PORT:-8080}" \
    --set "node.rpc_listen=$listen:${DYNKV_RPC_PORT:-7070}" \
    --set "node.gossip_listen=$listen:${DYNKV_GOSSIP_PORT:-7946}"
if [ "$listen" = 0.0.0.0 ]; then
    # a wildcard is not an address peers can use: say which one is ours
    adv=${DYNKV_ADVERTISE_ADDRESS:-$(hostname -i 2>/dev/null | awk '{ print $1 }')}
    [ -n "$adv" ] && set -- "$@" --set "node.advertise_address=$adv"
fi
if [ -n "${DYNKV_CLUSTER_KEY_FILE:-}" ]; then
    key=${TMPDIR:-/tmp}/dynkv-cluster.key
    (umask 077 && rm -f "$key" && cat "$DYNKV_CLUSTER_KEY_FILE" > "$key")
    set -- "$@" --set "security.cluster_key_file=$key"
fi
[ -n "${DYNKV_SEEDS:-}" ] && set -- "$@" --set "cluster.seeds=$DYNKV_SEEDS"
exec /usr/bin/dynkvd "$@"
