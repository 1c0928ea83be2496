#!/bin/sh
# bench/smoke.sh - run dk_bench briefly on the memory engine and check that
# every benchmark printed a RESULT line whose fields parse; then compare the
# three codec plugins on a tiny LSM database (--codec none,zstd,lz4) and
# check the comparison's RESULT lines. Prints the "# dk-summary" line that
# tests/summary.sh adds up.
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
passed=0
[ "$failed" -eq 0 ] && passed=1
cfailed=0
"$bin" --engine lsm --num 3000 --benchmarks fillrandom,readrandom --codec none,zstd,lz4 \
    --db "$out/cdb" >"$out/clog" 2>&1 || { echo "dk_bench --codec exited with $?"; cfailed=1; }
cat "$out/clog"
# One codec row per codec; every codec shrinks the tables but none; the
# direct measurement's ratio is 1 for none and below 0.8 for the others.
awk '
    /^RESULT .*bench=codec / {
        delete f
        for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
        seen[f["codec"]] = 1
        t[f["codec"]] = f["table_mb"] + 0
        if (f["readrandom_ops_s"] + 0 <= 0) { print "no reads for " f["codec"]; bad = 1 }
        if (f["codec"] == "none" && f["ratio"] + 0 != 1) { print "none compresses: " $0; bad = 1 }
        if (f["codec"] != "none" && f["ratio"] + 0 >= 0.8) { print "no compression: " $0; bad = 1 }
    }
    END {
        if (!("none" in seen) || !("zstd" in seen) || !("lz4" in seen)) { print "a codec row is missing"; bad = 1 }
        else if (!(t["zstd"] < t["none"] && t["lz4"] < t["none"])) { print "tables did not shrink"; bad = 1 }
        exit bad
    }' "$out/clog" || cfailed=1
[ "$cfailed" -eq 0 ] && passed=$((passed + 1))
echo "# dk-summary: $passed passed, $((failed + cfailed)) failed"
[ "$failed" -eq 0 ] && [ "$cfailed" -eq 0 ]
