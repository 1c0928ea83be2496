#!/bin/sh
# tests/cluster/run-cluster.sh [pytest args...] - the cluster suite through tests/run-pytest.sh
# (automake runs one script per TESTS entry; see that script for the rest).
exec "$(dirname "$0")/../run-pytest.sh" cluster "$@"
