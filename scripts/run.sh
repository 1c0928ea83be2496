#!/usr/bin/env bash
# scripts/run.sh - install dependencies, build, and start a local 3-node
# dynkv cluster (nodes on 127.0.0.1, .2 and .3, port 8080; data under
# ./cluster, LSM engine, replication factor 3; `create` writes the cluster's
# secret key to ./cluster/cluster.key and every node.ini names it, so gossip
# and RPC between the nodes are authenticated). Running it again restarts the
# same cluster with its data. Stop it with: tools/dynkv-cluster stop cluster
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh"
"$top/scripts/build.sh"
cd "$top"
dir=${DYNKV_CLUSTER_DIR:-$top/cluster}
export DYNKV_BUILDDIR=$top/_build
[ -f "$dir/cluster.json" ] || tools/dynkv-cluster create "$dir" --nodes 3 --engine lsm
tools/dynkv-cluster start "$dir"
tools/dynkv-cluster status "$dir"
cat >&2 <<MSG
dynkv: a 3-node cluster is running. Try:
  curl -X PUT --data-binary hello http://127.0.0.1:8080/kv/greeting && curl http://127.0.0.2:8080/kv/greeting
  _build/client/dynkv -n 127.0.0.3:8080 get greeting
  curl http://127.0.0.1:8080/cluster
Stop it with: tools/dynkv-cluster stop $dir
MSG
