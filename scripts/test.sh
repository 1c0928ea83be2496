#!/usr/bin/env bash
# scripts/test.sh - install dependencies, build, run every test suite (unit,
# black-box HTTP, fuzz, cluster) and end with the line "N passed, N failed".
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh" || exit 1
"$top/scripts/build.sh" || { echo "0 passed, 1 failed"; exit 1; }
cd "$top/_build"
find . -name '*.trs' -delete
make -j"$(nproc)" -k check >/dev/null 2>&1
make_rc=$?
for log in $(grep -l -E '^:test-result: (FAIL|ERROR)' $(find . -name '*.trs') 2>/dev/null); do
    echo "==== ${log%.trs}.log" ; tail -n 40 "${log%.trs}.log"
done
"$top/tests/summary.sh" .
rc=$?
[ $make_rc -eq 0 ] || rc=1
exit $rc
