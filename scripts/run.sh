#!/usr/bin/env bash
# scripts/run.sh - install dependencies, build, and start a dynkv node on
# 127.0.0.1 with the embedded defaults (data under ./data). Ctrl-C stops it.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh"
"$top/scripts/build.sh"
cd "$top"
port=${DYNKV_HTTP_PORT:-8080}
echo "dynkv: try   curl -X PUT --data-binary hello http://127.0.0.1:$port/kv/greeting && curl http://127.0.0.1:$port/kv/greeting" >&2
exec _build/server/dynkvd --set node.data_dir=./data/n1 --set node.http_listen=127.0.0.1:$port "$@"
