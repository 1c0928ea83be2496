#!/bin/sh
# tests/run-pytest.sh SUITE [pytest args...] - run one pytest suite of
# tests/SUITE (blackbox, cluster) against the built dynkvd with Debian's
# /usr/bin/python3, and end with the one line that tests/summary.sh reads:
# "# dk-summary: P passed, F failed, S skipped". The suite's conftest.py
# writes its counts to the file named by DK_PYTEST_COUNTS.
#
# Under `make check` automake exports DYNKV_BUILDDIR, DYNKV_SRCDIR and
# DYNKV_PLUGIN_PATH.  By hand, from a build dir:
#   DYNKV_SRCDIR=/work/main /work/main/tests/run-pytest.sh blackbox -k scan -x
# Extra arguments go to pytest (-k EXPR, -x, -v, a test file or node id).
# Exits 0 only when pytest ran at least one test and nothing failed.
set -u
suite=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
srcdir=${DYNKV_SRCDIR:-$(cd "$here/.." && pwd)}
DYNKV_BUILDDIR=${DYNKV_BUILDDIR:-$(pwd)}
DYNKV_PLUGIN_PATH=${DYNKV_PLUGIN_PATH:-$DYNKV_BUILDDIR/.libs}
export DYNKV_BUILDDIR DYNKV_PLUGIN_PATH DYNKV_SRCDIR="$srcdir"
python=${DK_PYTHON:-/usr/bin/python3}

summary() {
    echo "# dk-summary: $1 passed, $2 failed, $3 skipped"
}

if ! "$python" -c 'import pytest' 2>/dev/null; then
    echo "run-pytest $suite: $python has no pytest (apt-get install python3-pytest)" >&2
    summary 0 1 0
    exit 1
fi
if [ ! -x "${DYNKVD:-$DYNKV_BUILDDIR/server/dynkvd}" ]; then
    echo "run-pytest $suite: ${DYNKVD:-$DYNKV_BUILDDIR/server/dynkvd} is not built" >&2
    summary 0 1 0
    exit 1
fi

counts=$(mktemp "${TMPDIR:-/tmp}/dk-$suite.XXXXXX") || exit 1
trap 'rm -f "$counts"' EXIT INT TERM
# No bytecode or cache files: the source tree is read-only under distcheck.
# No ini file and no conftest.py from a parent folder changes the run.
PYTHONDONTWRITEBYTECODE=1 DK_PYTEST_COUNTS=$counts \
    "$python" -m pytest -q -p no:cacheprovider -c /dev/null \
    --rootdir="$srcdir/tests/$suite" --confcutdir="$srcdir/tests/$suite" \
    -rfE --durations=5 "$srcdir/tests/$suite" "$@"
rc=$?

read -r passed failed skipped < "$counts" 2>/dev/null
passed=${passed:-0} failed=${failed:-0} skipped=${skipped:-0}
# An interrupted run, an internal error or zero tests collected (rc 5) is a
# failure even when no test reported one.
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    echo "run-pytest $suite: pytest exited $rc" >&2
    failed=1
fi
if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
    failed=1
fi
summary "$passed" "$failed" "$skipped"
[ "$failed" -eq 0 ]
