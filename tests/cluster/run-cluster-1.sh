#!/bin/sh
# tests/cluster/run-cluster-1.sh [pytest args...] - half 1 of the cluster suite
# (conftest.py, DK_CLUSTER_SHARD): make check runs both halves side by side.
# The whole suite at once: run-cluster.sh.
DK_CLUSTER_SHARD=1
export DK_CLUSTER_SHARD
exec "$(dirname "$0")/../run-pytest.sh" cluster "$@"
