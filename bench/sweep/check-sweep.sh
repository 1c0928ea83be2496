#!/bin/sh
# bench/sweep/check-sweep.sh - the sweep's quick mode (tiny sizes, one
# repetition) over the LSM engine with every compaction policy in the
# plugin folder, and RocksDB when it is built, then a check of the shape
# of what it wrote, not of its numbers:
#  - runs.csv parses with the documented columns; every workload x key
#    distribution x row has its run; the policies that ship with dynkv and
#    the test policy oneknob (tests/plugins/compaction-oneknob: one folder
#    and one local.mk, nothing in the sweep names it) are rows;
#  - throughput and latencies are numbers in order (p50 <= p99 <= p99.9);
#    write and space amplification (end and peak) are >= 1 for these
#    disk engines (space: "na" instead when a timeseries run ended with
#    every key expired) and peak >= end, and so is the LSM engine's write
#    amplification by its own counters; read amplification per get is a number
#    for both engines where the workload reads, and what RocksDB does not
#    count (blocks per scan, compactions, stalls, its own bytes written)
#    is "na", never a number;
#  - report.md has a table per workload with a row per cell, and every
#    plot it links exists and starts with the PNG signature.
# Ends with "# dk-summary: P passed, F failed". Needs gnuplot (skips
# without). Run alone with: make check TESTS=bench/sweep/check-sweep.sh
set -u
src=${DYNKV_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
plugins=${DYNKV_PLUGIN_PATH:-${DYNKV_BUILDDIR:-.}/.libs}
if ! command -v gnuplot >/dev/null 2>&1; then
    echo "SKIP: gnuplot is not installed (Debian: gnuplot-nox)"
    exit 77
fi
out=$(mktemp -d "${TMPDIR:-/tmp}/dk-sweep-check.XXXXXX") || exit 1
trap 'rm -rf "$out"' EXIT INT TERM
engines=lsm
[ -e "$plugins/engine-rocksdb.so" ] && engines=lsm,rocksdb
start=$(date +%s)
if ! python3 "$src/bench/sweep/dk_sweep.py" --quick --engines "$engines" --out "$out/r"; then
    echo "dk_sweep.py failed"
    echo "# dk-summary: 0 passed, 1 failed"
    exit 1
fi
echo "quick sweep took $(( $(date +%s) - start )) s"
python3 - "$out/r" "$engines" <<'PYEOF'
import csv, os, re, sys
out, engines = sys.argv[1], sys.argv[2].split(",")
bad = []
def check(cond, msg):
    if not cond:
        bad.append(msg)
def num(v):
    try:
        return float(v)
    except ValueError:
        return None
fields = ("workload dist engine policy rep ops secs ops_s p50_us p99_us p999_us load_ops_s wamp "
          "wamp_engine wamp_main samp samp_peak get_tables get_blocks get_bytes seek_blocks io_read_b_op "
          "compactions stall_ms du_mb live_mb").split()
with open(os.path.join(out, "runs.csv"), newline="") as f:
    r = csv.DictReader(f)
    check(r.fieldnames == fields, "runs.csv columns: %s" % r.fieldnames)
    runs = list(r)
workloads = ["fill-read", "overwrite-heavy", "read-heavy", "timeseries", "scan-heavy"]
dists = ["zipfian", "uniform"]
rows = sorted({(x["engine"], x["policy"]) for x in runs})
for p in ("leveled", "size_tiered", "time_window", "oneknob"):
    check(("lsm", p) in rows, "no row for lsm/%s" % p)
if "rocksdb" in engines:
    check(("rocksdb", "own") in rows, "no row for rocksdb")
cells = {}
for x in runs:
    cells.setdefault((x["workload"], x["dist"], x["engine"], x["policy"]), []).append(x)
for w in workloads:
    for d in dists:
        for e, p in rows:
            n = len(cells.get((w, d, e, p), []))
            check(n == 1, "cell %s %s %s/%s has %d runs, expected 1" % (w, d, e, p, n))
reads = {"fill-read", "overwrite-heavy", "read-heavy", "timeseries"}
for x in runs:
    c = "%s %s %s/%s" % (x["workload"], x["dist"], x["engine"], x["policy"])
    v = {k: num(x[k]) for k in fields[5:]}
    check(v["ops_s"] is not None and v["ops_s"] > 0, c + ": ops_s " + x["ops_s"])
    check(None not in (v["p50_us"], v["p99_us"], v["p999_us"]) and
          v["p50_us"] <= v["p99_us"] <= v["p999_us"], c + ": latencies out of order")
    check(v["wamp"] is not None and v["wamp"] >= 1, "%s: wamp = %s, expected >= 1" % (c, x["wamp"]))
    # Space amplification has no value when no byte is live: a timeseries
    # run that ends after every key expired (a slow run on a busy machine).
    for k in ("samp", "samp_peak"):
        if x[k] == "na":
            check(x["workload"] == "timeseries" and v["live_mb"] == 0,
                  "%s: %s = na, but live bytes %s MB" % (c, k, x["live_mb"]))
        else:
            check(v[k] is not None and v[k] >= 1, "%s: %s = %s, expected >= 1" % (c, k, x[k]))
    if v["samp"] is not None:
        check(v["samp_peak"] is not None and v["samp_peak"] >= v["samp"], c + ": samp_peak < samp")
    for k in ("get_tables", "get_blocks", "get_bytes", "seek_blocks", "compactions", "stall_ms"):
        check(x[k] == "na" or (v[k] is not None and v[k] >= 0), "%s: %s = %s" % (c, k, x[k]))
    if x["workload"] in reads:   # both engines count their lookups
        for k in ("get_tables", "get_blocks", "get_bytes"):
            check(v[k] is not None, "%s: %s = %s, expected a number" % (c, k, x[k]))
    if x["engine"] == "lsm":
        check(v["wamp_engine"] is not None and v["wamp_engine"] >= 1,
              c + ": wamp_engine = " + x["wamp_engine"] + ", expected >= 1")
        if x["workload"] == "scan-heavy":
            check(v["seek_blocks"] is not None, c + ": seek_blocks " + x["seek_blocks"])
        check(v["compactions"] is not None, c + ": compactions " + x["compactions"])
    else:   # what RocksDB does not count is na, never a number
        for k in ("seek_blocks", "compactions", "stall_ms", "wamp_engine"):
            check(x[k] == "na", "%s: %s = %s, but the engine does not count it" % (c, k, x[k]))
md = open(os.path.join(out, "report.md")).read()
for w in workloads:
    sec = md.split("## %s\n" % w)
    check(len(sec) == 2, "report.md: no section for " + w)
    if len(sec) != 2:
        continue
    body = sec[1].split("\n## ")[0]
    n = len([l for l in body.splitlines() if l.startswith("| ") and not l.startswith("| engine")])
    check(n == len(rows) * len(dists), "report.md %s: %d table rows, expected %d"
          % (w, n, len(rows) * len(dists)))
    pngs = re.findall(r"\]\(([^)]+\.png)\)", body)
    check(len(pngs) == 2, "report.md %s: %d plots linked, expected 2" % (w, len(pngs)))
    for p in pngs:
        path = os.path.join(out, p)
        ok = os.path.exists(path) and open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
        check(ok, "%s: missing or not a PNG" % p)
for b in bad:
    print("not ok: " + b)
print("checked %d runs, %d rows, %d cells: %s" % (len(runs), len(rows), len(cells),
                                                   "FAILED" if bad else "ok"))
sys.exit(1 if bad else 0)
PYEOF
rc=$?
if [ "$rc" -eq 0 ]; then echo "# dk-summary: 1 passed, 0 failed"; else echo "# dk-summary: 0 passed, 1 failed"; fi
exit "$rc"
