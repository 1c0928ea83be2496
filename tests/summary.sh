#!/usr/bin/env bash
# tests/summary.sh BUILDDIR... - add up every suite's results after `make check`
# in one or more build trees
# and print the one closing line CI reads: "N passed, N failed[, N skipped]".
#
# A test program that prints "# dk-summary: P passed, F failed[, S skipped]"
# (CUnit programs via cu_main.h, pytest and fuzz wrappers) counts its cases;
# any other test counts as one case from automake's .trs result. A test whose
# .trs says FAIL/ERROR counts at least one failure even if its log claims
# otherwise. Exits 1 on any failure and when nothing ran at all.
set -u
[ $# -gt 0 ] || set -- .
passed=0 failed=0 skipped=0 tests=0
while IFS= read -r trs; do
    tests=$((tests + 1))
    log=${trs%.trs}.log
    result=$(sed -n 's/^:test-result: //p' "$trs" | head -n 1)
    line=$(grep -E '^# dk-summary: ' "$log" 2>/dev/null | tail -n 1)
    if [ -n "$line" ]; then
        p=$(sed -E 's/.* ([0-9]+) passed.*/\1/' <<<"$line")
        f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
        s=0
        grep -q skipped <<<"$line" && s=$(sed -E 's/.* ([0-9]+) skipped.*/\1/' <<<"$line")
        case $result in FAIL|ERROR|XPASS) [ "$f" -eq 0 ] && f=1 ;; esac
        passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
    else
        case $result in
        PASS|XFAIL) passed=$((passed + 1)) ;;
        SKIP) skipped=$((skipped + 1)) ;;
        *) failed=$((failed + 1)) ;;
        esac
    fi
    case $result in FAIL|ERROR|XPASS) echo "failed suite: ${trs%.trs}" >&2 ;; esac
done < <(find "$@" -name '*.trs' | sort)
if [ "$tests" -eq 0 ]; then
    echo "no test results found under $*" >&2
    failed=$((failed + 1))
fi
if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
