#!/bin/sh
# bench/smoke.sh - run dk_bench briefly on the memory engine and check that
# every benchmark printed a RESULT line whose fields parse. Prints the
# "# dk-summary" line that tests/summary.sh adds up.
set -u
bin=${DYNKV_BUILDDIR:-.}/bench/engine/dk_bench
out=$(mktemp -d "${TMPDIR:-/tmp}/dk-bench-smoke.XXXXXX") || exit 1
trap 'rm -rf "$out"' EXIT INT TERM
failed=0
"$bin" --engine memory --num 2000 --benchmarks fillrandom,readrandom,readmissing,seekrandom \
    --db "$out/db" --seek-nexts 10 >"$out/log" 2>&1 || { echo "dk_bench exited with $?"; failed=1; }
cat "$out/log"
# One RESULT line per benchmark plus the summary, each field name=value;
# numbers where they must be, ops equal to --num, and every read a hit.
awk -v want="fillrandom readrandom readmissing seekrandom summary" '
    /^RESULT / {
        delete f
        for (i = 2; i <= NF; i++) {
            if (split($i, kv, "=") != 2) { print "bad field: " $i; bad = 1; continue }
            f[kv[1]] = kv[2]
        }
        seen[f["bench"]] = 1
        if (f["engine"] != "memory") { print "bad engine: " $0; bad = 1 }
        if (f["bench"] != "summary") {
            if (f["ops"] != 2000) { print "ops != 2000: " $0; bad = 1 }
            if (f["ops_s"] !~ /^[0-9]+$/ || f["ops_s"] + 0 <= 0) { print "bad ops_s: " $0; bad = 1 }
            if (f["p50_us"] !~ /^[0-9.]+$/ || f["p99_us"] + 0 < f["p50_us"] + 0 || \
                f["p999_us"] + 0 < f["p99_us"] + 0) { print "bad latencies: " $0; bad = 1 }
            if (f["rss_mb"] + 0 <= 0) { print "bad rss: " $0; bad = 1 }
        }
        if (f["bench"] == "readrandom" && f["found"] != 2000) { print "misses in readrandom: " $0; bad = 1 }
        if (f["bench"] == "readmissing" && f["found"] != 0) { print "hits in readmissing: " $0; bad = 1 }
        if (f["bench"] == "seekrandom" && f["found"] != 2000) { print "seek missed: " $0; bad = 1 }
    }
    END {
        n = split(want, w, " ")
        for (i = 1; i <= n; i++) if (!(w[i] in seen)) { print "no RESULT line for " w[i]; bad = 1 }
        exit bad
    }' "$out/log" || failed=1
if [ "$failed" -eq 0 ]; then
    echo "# dk-summary: 1 passed, 0 failed"
else
    echo "# dk-summary: 0 passed, 1 failed"
fi
exit "$failed"
