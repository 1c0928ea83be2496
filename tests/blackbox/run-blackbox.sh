#!/bin/sh
# tests/blackbox/run-blackbox.sh [pytest args...] - the blackbox suite through tests/run-pytest.sh
# (automake runs one script per TESTS entry; see that script for the rest).
exec "$(dirname "$0")/../run-pytest.sh" blackbox "$@"
