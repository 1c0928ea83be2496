#!/bin/sh
# dynkv-prestop - the Kubernetes preStop hook of a dynkv pod: decommission
# the node when the StatefulSet is scaled down past it, else just let the
# endpoints drop the pod before SIGTERM drains it.
#
# The rule: a StatefulSet removes its highest ordinals first, so a pod whose
# ordinal (dynkv-3 -> 3) is >= the StatefulSet's desired replicas (its
# scale subresource, read with the pod's service account) is going away
# for good: POST /admin/decommission (its ranges stream to their next
# owners), then wait until the node reports itself left, at most
# DYNKV_DECOMMISSION_TIMEOUT seconds (default 1500; the pod's
# terminationGracePeriodSeconds must be longer). Any other stop (a rolling
# update, a node drain, a crash-restart) keeps the member: sleep 5 s.
# When the replicas cannot be read the node is not decommissioned (a stop
# must never lose a member by accident); when the node refuses (409: fewer
# than n_replicas nodes would remain) the pod stops anyway and the member
# is down until `dynkv removenode`. Messages go to the container's log.
#
#   POD_IP, DYNKV_HTTP_PORT   where the node's HTTP API is (default
#                             127.0.0.1, 8080)
#   DYNKV_STATEFULSET         the StatefulSet (default: the host name
#                             without its ordinal)
#   DYNKV_ADMIN_TOKEN_FILE    a client token with the admin role, for nodes
#                             with [security] tokens_file (default
#                             /etc/dynkv/admin-token/token; none: no header)
set -u
log() { echo "dynkv-prestop: $*" >> "${DYNKV_PRESTOP_LOG:-/proc/1/fd/2}" 2>/dev/null || echo "dynkv-prestop: $*" >&2; }
name=${HOSTNAME:-$(hostname)}
ord=${name##*-}
sts=${DYNKV_STATEFULSET:-${name%-*}}
id=$(printf '%s' "$name" | tr 'A-Z' 'a-z' | tr -c 'a-z0-9_-' '-')
ip=${POD_IP:-127.0.0.1}
[ "$ip" = 0.0.0.0 ] && ip=127.0.0.1
node=http://$ip:${DYNKV_HTTP_PORT:-8080}
sa=${DYNKV_SA_DIR:-/var/run/secrets/kubernetes.io/serviceaccount}
api=https://${KUBERNETES_SERVICE_HOST:-kubernetes.default.svc}:${KUBERNETES_SERVICE_PORT:-443}
token_file=${DYNKV_ADMIN_TOKEN_FILE:-/etc/dynkv/admin-token/token}
auth=
[ -r "$token_file" ] && auth="Authorization: Bearer $(cat "$token_file")"

case $ord in ''|*[!0-9]*) log "no ordinal in host name $name: not decommissioning"; sleep 5; exit 0;; esac
replicas=$(curl -sf --max-time 10 --cacert "$sa/ca.crt" -H "Authorization: Bearer $(cat "$sa/token" 2>/dev/null)" \
    "$api/apis/apps/v1/namespaces/$(cat "$sa/namespace" 2>/dev/null)/statefulsets/$sts/scale" 2>/dev/null |
    tr -d ' \n' | sed -n 's/.*"spec":{"replicas":\([0-9][0-9]*\)}.*/\1/p')
if [ -z "$replicas" ]; then
    log "cannot read the replicas of statefulset $sts: stopping $id without decommissioning"
    sleep 5
    exit 0
fi
if [ "$ord" -lt "$replicas" ]; then
    sleep 5     # the endpoints drop the pod; SIGTERM drains it next
    exit 0
fi
log "$sts is scaled to $replicas and $name is ordinal $ord: decommissioning $id"
out=$(curl -s --max-time 30 -X POST ${auth:+-H "$auth"} -w '\n%{http_code}' "$node/admin/decommission")
code=$(printf '%s' "$out" | tail -n 1)
if [ "$code" != 200 ]; then
    log "decommission refused ($code): $(printf '%s' "$out" | sed '$d'); stopping anyway"
    exit 0
fi
deadline=$(( $(date +%s) + ${DYNKV_DECOMMISSION_TIMEOUT:-1500} ))
while [ "$(date +%s)" -lt "$deadline" ]; do
    if curl -s --max-time 5 ${auth:+-H "$auth"} "$node/cluster" |
        grep -q "\"id\": *\"$id\", *\"state\": *\"[a-z]*\", *\"status\": *\"left\""; then
        log "$id left the ring"
        exit 0
    fi
    sleep 2
done
log "$id did not finish leaving within ${DYNKV_DECOMMISSION_TIMEOUT:-1500} s; stopping anyway"
exit 0
