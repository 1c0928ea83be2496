#!/bin/sh
# tests/deploy/run-deploy.sh [pytest args...] - the deploy suite through tests/run-pytest.sh
# (automake runs one script per TESTS entry; see that script for the rest).
exec "$(dirname "$0")/../run-pytest.sh" deploy "$@"
