#!/usr/bin/env python3
"""bench/sweep/dk_sweep.py - sweep compaction policies x engines x workloads.

Runs bench/engine/dk_bench once per cell and repetition (a fresh data
folder each time, the same seed for every cell), and writes into the output
folder:
  report.md      the command, machine and build, then per workload a
                 Markdown table (policies and engines as rows) of medians
                 with min-max over the repetitions, and its two plots
  runs.csv       one row per run (every repetition of every cell)
  WORKLOAD-tput-wamp.png   throughput vs write amplification, per row
  WORKLOAD-p99.png         p99 over time per row, one panel per key
                           distribution (the run with the median ops/s)
  *.dat, *.gp    the plot data and gnuplot scripts (re-plot by hand)
  logs/          dk_bench's output of every run

Rows are the LSM engine with every compaction policy (by default every
compaction-*.so in the plugin folder, so a new policy plugin shows up by
name with no edit here) plus every other engine once: adapters keep their
library's own compaction and ignore the policy (policy column "own").
The workload names, their dk_bench benchmarks and what a cell reports are
in bench/README.md ("Sweeping policies, engines and workloads").

Standard library only; plots need gnuplot (Debian gnuplot-nox).
"""
import argparse
import configparser
import csv
import datetime
import glob
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

# name -> (dk_bench benchmarks, extra options, main phase, load phase)
WORKLOADS = {
    "fill-read": ("fillrandom,readrandom", [], "readrandom", "fillrandom"),
    "overwrite-heavy": ("fillrandom,mixed", ["--read-pct", "10"], "mixed", "fillrandom"),
    "read-heavy": ("fillrandom,mixed", ["--read-pct", "95"], "mixed", "fillrandom"),
    "timeseries": ("timeseries", ["--read-pct", "10"], "timeseries", None),
    "scan-heavy": ("fillrandom,mixed", ["--read-pct", "0", "--scan-pct", "95"], "mixed", "fillrandom"),
}
DISTS = ("zipfian", "uniform")
# The default engines besides lsm, when built. LMDB only by name: its
# adapter fdatasyncs every commit, ~100 s for 20000 puts here.
ADAPTERS = ("rocksdb", "leveldb")

CSV_FIELDS = ["workload", "dist", "engine", "policy", "rep", "ops", "secs", "ops_s", "p50_us",
              "p99_us", "p999_us", "load_ops_s", "wamp", "wamp_engine", "wamp_main", "samp", "samp_peak",
              "get_tables", "get_blocks", "get_bytes", "seek_blocks", "io_read_b_op",
              "compactions", "stall_ms", "du_mb", "live_mb"]

QUICK = {"num": 2000, "ops": 2000, "reps": 1, "value_size": 100, "memtable_size": 65536,
         "cache_size": 65536,
         "ttl_ms": 100, "timeline_ms": 20, "seek_nexts": 10}
FULL = {"num": 50000, "ops": 50000, "reps": 3, "value_size": 100, "memtable_size": 1 << 20,
        "cache_size": 1 << 20,
        "ttl_ms": 250, "timeline_ms": 100, "seek_nexts": 50}


def fail(msg):
    print("dk_sweep: " + msg, file=sys.stderr)
    sys.exit(2)


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Sweep compaction policies x engines x workloads with dk_bench.")
    p.add_argument("--config", help="INI file: [sweep] keys as the long options "
                   "(engines, policies, workloads, dists, num, ops, reps, ...), [set] S.K = V")
    p.add_argument("-B", "--builddir", help="build tree (default $DYNKV_BUILDDIR or .)")
    p.add_argument("--plugin-dir", help="plugin folder (default $DYNKV_PLUGIN_PATH or BUILDDIR/.libs)")
    p.add_argument("--engines", help="comma-separated (default lsm and the built adapters: "
                   + ",".join(ADAPTERS) + ")")
    p.add_argument("--policies", help="comma-separated, or all (default): every compaction-*.so")
    p.add_argument("--workloads", help="comma-separated of " + ",".join(WORKLOADS) + " (all)")
    p.add_argument("--dists", help="comma-separated of " + ",".join(DISTS) + " (both)")
    p.add_argument("--num", type=int, help="keys loaded (full %d, quick %d)" % (FULL["num"], QUICK["num"]))
    p.add_argument("--ops", type=int, help="operations of the measured phase (default --num)")
    p.add_argument("--value-size", type=int, help="value bytes (100)")
    p.add_argument("--memtable-size", type=int, help="memtable bytes (full 1 MiB, quick 64 KiB)")
    p.add_argument("--cache-size", type=int, help="block cache bytes (full 1 MiB, quick 64 KiB):"
                   " smaller than the data, so reads reach the files")
    p.add_argument("--ttl-ms", type=int, help="timeseries TTL, shorter than the phase so data"
                   " expires during it (full 250, quick 100)")
    p.add_argument("--timeline-ms", type=int, help="p99 interval (full 100, quick 20)")
    p.add_argument("--seek-nexts", type=int, help="keys per scan (full 50, quick 10)")
    p.add_argument("--reps", type=int, help="repetitions per cell (full 3, quick 1)")
    p.add_argument("--seed", type=int, default=None, help="seed of every cell (301)")
    p.add_argument("--set", action="append", default=[], metavar="S.K=V",
                   help="plugin option for every cell, e.g. compaction.leveled.l0_trigger=8")
    p.add_argument("--quick", action="store_true", help="tiny sizes, one repetition (the test)")
    p.add_argument("--out", help="output folder (default bench/results/sweep-DATE under the source)")
    p.add_argument("--no-plots", action="store_true", help="skip gnuplot")
    a = p.parse_args(argv)
    conf = configparser.ConfigParser()
    if a.config:
        if not conf.read(a.config):
            fail("cannot read %s" % a.config)
    sect = conf["sweep"] if conf.has_section("sweep") else {}
    known = {"engines", "policies", "workloads", "dists", "num", "ops", "value_size",
             "memtable_size", "cache_size", "ttl_ms", "timeline_ms", "seek_nexts", "reps", "seed", "quick"}
    for k in sect:
        if k.replace("-", "_") not in known:
            fail("%s: [sweep] %s: unknown key (known: %s)" % (a.config, k, ", ".join(sorted(known))))
    for k in sect:
        key = k.replace("-", "_")
        if getattr(a, key, None) in (None, False):
            v = sect[k]
            if key == "quick":
                a.quick = v.lower() in ("1", "yes", "true", "on")
            elif key in ("engines", "policies", "workloads", "dists"):
                setattr(a, key, v)
            else:
                try:
                    setattr(a, key, int(v))
                except ValueError:
                    fail("%s: [sweep] %s = %s: expected an integer" % (a.config, k, v))
    if conf.has_section("set"):
        a.set = ["%s=%s" % (k, v) for k, v in conf["set"].items()] + a.set
    dflt = QUICK if a.quick else FULL
    for k, v in dflt.items():
        if getattr(a, k, None) is None:
            setattr(a, k, v)
    if a.ops is None:
        a.ops = a.num
    if a.seed is None:
        a.seed = 301
    return a


def probe_policy(a, pol):
    """None when dk_bench runs the LSM engine with policy pol, else why not."""
    db = tempfile.mkdtemp(prefix="dk_sweep.probe.")
    try:
        p = subprocess.run([a.dk_bench, "--engine", "lsm", "--plugin-dir", a.plugin_dir,
                            "--compaction", pol, "--db", db, "--num", "10", "--benchmarks",
                            "fillseq", "--final-compact", "0"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True)
    finally:
        shutil.rmtree(db, ignore_errors=True)
    if p.returncode == 0:
        return None
    lines = [x for x in p.stdout.splitlines() if x.startswith("dk_bench: ")]
    return lines[0][len("dk_bench: "):] if lines else "exit %d" % p.returncode


def discover(a):
    a.skipped = []
    a.builddir = os.path.abspath(a.builddir or os.environ.get("DYNKV_BUILDDIR") or ".")
    a.dk_bench = os.path.join(a.builddir, "bench", "engine", "dk_bench")
    if not os.access(a.dk_bench, os.X_OK):
        fail("%s not found: build first, or give -B BUILDDIR" % a.dk_bench)
    a.plugin_dir = os.path.abspath(a.plugin_dir or os.environ.get("DYNKV_PLUGIN_PATH")
                                   or os.path.join(a.builddir, ".libs"))

    def have(kind, name):
        return os.path.exists(os.path.join(a.plugin_dir, "%s-%s.so" % (kind, name)))

    if a.policies in (None, "", "all"):
        pols = sorted(os.path.basename(f)[len("compaction-"):-3]
                      for f in glob.glob(os.path.join(a.plugin_dir, "compaction-*.so")))
        # The plugin folder's policies, by name; a build tree also holds
        # test plugins made to fail (tests/unit/bad_plugins), so each one
        # must open under the LSM engine first, else it is left out (noted
        # in the report).
        a.policies, a.skipped = [], []
        for pol in pols:
            why = probe_policy(a, pol)
            if why:
                a.skipped.append((pol, why))
            else:
                a.policies.append(pol)
    else:
        a.policies = [x for x in a.policies.split(",") if x]
    if a.engines:
        a.engines = [x for x in a.engines.split(",") if x]
    else:
        a.engines = ["lsm"] + [e for e in ADAPTERS if have("engine", e)]
    a.workloads = [x for x in (a.workloads or ",".join(WORKLOADS)).split(",") if x]
    a.dists = [x for x in (a.dists or ",".join(DISTS)).split(",") if x]
    for w in a.workloads:
        if w not in WORKLOADS:
            fail("unknown workload %s (known: %s)" % (w, ", ".join(WORKLOADS)))
    for d in a.dists:
        if d not in DISTS:
            fail("unknown distribution %s (known: %s)" % (d, ", ".join(DISTS)))
    for e in a.engines:
        if not have("engine", e):
            fail("no engine plugin %s in %s" % (e, a.plugin_dir))
    for pol in a.policies:
        if not have("compaction", pol):
            fail("no compaction policy plugin %s in %s" % (pol, a.plugin_dir))
    if "lsm" in a.engines and not a.policies:
        fail("no compaction policy plugin in %s" % a.plugin_dir)
    if a.reps < 1 or a.num < 1 or a.ops < 1:
        fail("need --reps, --num and --ops >= 1")


def rows_of(a):
    """(engine, policy) rows: lsm with each policy, every other engine once."""
    rows = []
    for e in a.engines:
        if e == "lsm":
            rows += [("lsm", p) for p in a.policies]
        else:
            rows.append((e, "own"))
    return rows


def parse_lines(text):
    """RESULT lines by bench name, TIMELINE lines by bench name."""
    res, tl = {}, {}
    for line in text.splitlines():
        if line.startswith("RESULT ") or line.startswith("TIMELINE "):
            f = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
            (res if line.startswith("RESULT") else tl)[f.get("bench")] = f
    return res, tl


def num_or_na(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def run_cell(a, work, wl, dist, engine, policy, rep, logdir):
    benches, extra, main, load = WORKLOADS[wl]
    db = tempfile.mkdtemp(prefix="dk_sweep.", dir=work)
    cmd = [a.dk_bench, "--engine", engine, "--plugin-dir", a.plugin_dir,
           "--compaction", policy if engine == "lsm" else "none", "--db", db,
           "--benchmarks", benches, "--num", str(a.num), "--reads", str(a.ops),
           "--value-size", str(a.value_size), "--memtable-size", str(a.memtable_size),
           "--cache-size", str(a.cache_size),
           "--dist", dist, "--ttl-ms", str(a.ttl_ms), "--timeline-ms", str(a.timeline_ms),
           "--seek-nexts", str(a.seek_nexts), "--seed", str(a.seed), "--final-compact", "0"]
    cmd += extra
    for s in a.set:
        cmd += ["--set", s]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True)
    shutil.rmtree(db, ignore_errors=True)
    log = os.path.join(logdir, "%s-%s-%s-%s-%d.log" % (wl, dist, engine, policy, rep))
    with open(log, "w") as f:
        f.write(" ".join(cmd) + "\n" + p.stdout)
    if p.returncode != 0:
        fail("run failed (exit %d), see %s" % (p.returncode, log))
    res, tl = parse_lines(p.stdout)
    m, s = res.get(main), res.get("summary")
    if not m or not s:
        fail("no RESULT line for %s or summary, see %s" % (main, log))
    comp = [num_or_na(r.get("compactions")) for b, r in res.items() if b != "summary"]
    stall = [num_or_na(r.get("stall_ms")) for b, r in res.items() if b != "summary"]
    row = {"workload": wl, "dist": dist, "engine": engine, "policy": policy, "rep": rep,
           "ops": m["ops"], "secs": m["secs"], "ops_s": m["ops_s"], "p50_us": m["p50_us"],
           "p99_us": m["p99_us"], "p999_us": m["p999_us"],
           "load_ops_s": res[load]["ops_s"] if load and load in res else "na",
           "wamp": s["wamp"], "wamp_engine": s.get("wamp_engine", "na"), "wamp_main": m["wamp"],
           "samp": s["samp"],
           "samp_peak": s["samp_peak"], "get_tables": m["get_tables"],
           "get_blocks": m["get_blocks"], "get_bytes": m["get_bytes"],
           "seek_blocks": m["seek_blocks"], "io_read_b_op": m["io_read_b_op"],
           "compactions": "na" if None in comp else "%.0f" % sum(comp),
           "stall_ms": "na" if None in stall else "%.0f" % sum(stall),
           "du_mb": s["du_mb"], "live_mb": s["live_mb"]}
    t = tl.get(main, {})
    timeline = [float(x) for x in t.get("p99_us", "").split(",") if x]
    return row, timeline, int(t.get("interval_ms", a.timeline_ms) or a.timeline_ms)


def fmt_s(sec):
    sec = int(sec + 0.5)
    return "%d:%02d" % (sec // 60, sec % 60)


def median_cell(runs, key, digits, spread):
    """Median (min-max) of the runs' numbers; "na" when none has one, and
    "k na" appended when some did not (e.g. samp once every key expired)."""
    allv = [num_or_na(r[key]) for r in runs]
    vals = [v for v in allv if v is not None]
    if not vals:
        return "na"
    med = statistics.median(vals)
    f = "%%.%df" % digits
    txt = (f + " (" + f + "–" + f + ")") % (med, min(vals), max(vals)) \
        if spread and len(vals) > 1 else f % med
    return txt if len(vals) == len(allv) else "%s, %d na" % (txt, len(allv) - len(vals))


def machine_line():
    try:
        load = open("/proc/loadavg").read().split()[:3]
    except OSError:
        load = ["?"]
    return "%s, %d CPUs, kernel %s, load average %s" % (
        platform.node(), os.cpu_count() or 0, platform.release(), " ".join(load))


def git_rev(src):
    try:
        return subprocess.run(["git", "-C", src, "describe", "--always", "--dirty"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              universal_newlines=True).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def write_plots(a, out, wl, cells, timelines):
    """gnuplot data and scripts for one workload; returns the PNG names."""
    tput, p99 = "%s-tput-wamp.png" % wl, "%s-p99.png" % wl
    dat = os.path.join(out, "%s-tput-wamp.dat" % wl)
    blocks = []
    with open(dat, "w") as f:
        for dist in a.dists:
            f.write("# %s: label wamp ops_s\n" % dist)
            for (d, e, p), runs in cells.items():
                if d != dist:
                    continue
                w = [num_or_na(r["wamp"]) for r in runs]
                o = [num_or_na(r["ops_s"]) for r in runs]
                if None in w or None in o:
                    continue
                f.write('"%s/%s" %.4f %.1f\n' % (e, p, statistics.median(w), statistics.median(o)))
            f.write("\n\n")
            blocks.append(dist)
    plots = ", ".join("'%s-tput-wamp.dat' index %d using 2:3:1 with labels point pt %d "
                      "offset char 0.5,0.6 font ',8' title '%s'" % (wl, i, 7 + 2 * i, d)
                      for i, d in enumerate(blocks))
    gp = os.path.join(out, "%s-tput-wamp.gp" % wl)
    with open(gp, "w") as f:
        f.write("set terminal pngcairo noenhanced size 900,600 font ',10'\nset output '%s'\n" % tput)
        f.write("set title '%s: throughput vs write amplification (medians of %d runs)'\n"
                % (wl, a.reps))
        f.write("set xlabel 'write amplification (disk bytes written / user bytes)'\n")
        f.write("set ylabel 'ops/s (measured phase)'\nset grid\nset key top right\n")
        f.write("set offsets graph 0.1, graph 0.2, graph 0.1, graph 0.1\n")
        f.write("plot %s\n" % plots)
    tdat = os.path.join(out, "%s-p99.dat" % wl)
    with open(tdat, "w") as f:
        idx = []
        for dist in a.dists:
            for (d, e, p), (tl, iv) in timelines.items():
                if d != dist or not tl:
                    continue
                f.write("# %s %s/%s: t_s p99_us\n" % (d, e, p))
                for i, v in enumerate(tl):
                    f.write("%.3f %.1f\n" % ((i + 1) * iv / 1000.0, v))
                f.write("\n\n")
                idx.append((d, "%s/%s" % (e, p)))
    gp2 = os.path.join(out, "%s-p99.gp" % wl)
    with open(gp2, "w") as f:
        f.write("set terminal pngcairo noenhanced size %d,500 font ',10'\nset output '%s'\n"
                % (600 * max(1, len(a.dists)), p99))
        f.write("set multiplot layout 1,%d title '%s: p99 latency per interval (run with the median ops/s)'\n"
                % (max(1, len(a.dists)), wl))
        f.write("set xlabel 'seconds into the measured phase'\nset ylabel 'p99 (us)'\n"
                "set logscale y\nset grid\nset key top left font ',8'\n")
        for dist in a.dists:
            ser = ["'%s-p99.dat' index %d using 1:2 with linespoints pt 7 ps 0.4 title '%s'"
                   % (wl, i, lab) for i, (d, lab) in enumerate(idx) if d == dist]
            f.write("set title '%s keys'\n" % dist)
            f.write(("plot %s\n" % ", ".join(ser)) if ser else
                    "unset logscale y\nplot [0:1] [0:1] 1/0 title 'no timeline'\nset logscale y\n")
        f.write("unset multiplot\n")
    if not a.no_plots:
        for script in (gp, gp2):
            r = subprocess.run(["gnuplot", os.path.basename(script)], cwd=out,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True)
            if r.returncode != 0:
                fail("gnuplot %s failed: %s" % (script, r.stdout.strip()))
    return tput, p99


def main(argv):
    a = parse_args(argv)
    discover(a)
    src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if not a.out:
        a.out = os.path.join(src, "bench", "results",
                             "sweep-" + datetime.date.today().isoformat())
    if not a.no_plots and not shutil.which("gnuplot"):
        fail("gnuplot not found (Debian: apt-get install gnuplot-nox), or pass --no-plots")
    out = os.path.abspath(a.out)
    logdir = os.path.join(out, "logs")
    os.makedirs(logdir, exist_ok=True)
    rows = rows_of(a)
    for pol, why in a.skipped:
        print("dk_sweep: policy %s left out: %s" % (pol, why), file=sys.stderr)
    cells = [(wl, d, e, p) for wl in a.workloads for d in a.dists for (e, p) in rows]
    n = len(cells) * a.reps
    print("dk_sweep: %d cells (%d workloads x %d distributions x %d rows) x %d repetitions = %d runs;"
          " rows: %s" % (len(cells), len(a.workloads), len(a.dists), len(rows), a.reps, n,
                         ", ".join("%s/%s" % r for r in rows)), file=sys.stderr, flush=True)
    work = tempfile.mkdtemp(prefix="dk_sweep.", dir=os.environ.get("TMPDIR", "/tmp"))
    load0 = machine_line()
    t0 = time.monotonic()
    results, timelines = {}, {}
    i = 0
    try:
        for rep in range(1, a.reps + 1):     # repetitions outermost: drift spreads over cells
            for (wl, d, e, p) in cells:
                i += 1
                el = time.monotonic() - t0
                eta = "?" if i == 1 else fmt_s(el / (i - 1) * (n - i + 1))
                print("[%d/%d] %s %s %s/%s rep %d  elapsed %s  remaining ~%s"
                      % (i, n, wl, d, e, p, rep, fmt_s(el), eta), file=sys.stderr, flush=True)
                row, tl, iv = run_cell(a, work, wl, d, e, p, rep, logdir)
                results.setdefault((wl, d, e, p), []).append(row)
                timelines.setdefault((wl, d, e, p), []).append((row, tl, iv))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    total = time.monotonic() - t0
    with open(os.path.join(out, "runs.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        for key in cells:
            for r in results[key]:
                w.writerow(r)
    md = ["# Compaction sweep: policies x engines x workloads", "",
          "Command: `%s`" % " ".join(["bench/sweep/dk_sweep.py"] + argv), "",
          "- dynkv %s, %s" % (git_rev(src), datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")),
          "- machine at start: %s" % load0, "- machine at end: %s" % machine_line(),
          "- %d runs in %s; %d keys of 100 B, values %d B, measured phase %d operations, memtable %d B,"
          " block cache %d B, timeseries TTL %d ms, scans of %d keys, seed %d, %d repetition(s)"
          % (n, fmt_s(total), a.num, a.value_size, a.ops, a.memtable_size, a.cache_size, a.ttl_ms,
             a.seek_nexts, a.seed, a.reps),
          "- plugin options: %s" % (", ".join("`%s`" % s for s in a.set) or "defaults"),
          "- policies found in the plugin folder but left out (they failed to open): %s"
          % ("; ".join("`%s`: %s" % x for x in a.skipped) or "none"), "",
          "Cells show the median with (min–max) over the repetitions. ops/s and latencies are "
          "the measured phase's (readrandom for fill-read, mixed for the others, the writes and "
          "reads of timeseries); wamp and samp cover the whole run since the fresh start (load "
          "included, no final compaction): wamp from the bytes the process wrote "
          "(/proc/self/io), wamp eng from the engine's own counters (WAL, flush and compaction "
          "bytes); samp peak is the largest du sampled every 100 ms over "
          "the live bytes at the end. Read amplification is per get of the measured phase "
          "(per scan for scan-heavy), counted by the engine: `na` where the engine does not "
          "count it (\"k na\": in k of the runs, e.g. samp of a timeseries run whose keys had "
          "all expired at the end, the median is of the others). Adapters (policy `own`) "
          "ignore the policy. Columns: bench/README.md.", ""]
    for wl in a.workloads:
        scan = wl == "scan-heavy"
        md += ["## %s" % wl, "",
               "| engine | policy | keys | ops/s | p50 µs | p99 µs | p99.9 µs | load ops/s | wamp |"
               " wamp eng | samp end | samp peak | tables/get | %s | KiB/get | compactions | stall ms |"
               % ("blocks/scan" if scan else "blocks/get"),
               "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
        wcells, wtl = {}, {}
        for d in a.dists:
            for (e, p) in rows:
                runs = results[(wl, d, e, p)]
                wcells[(d, e, p)] = runs
                runs_tl = sorted(timelines[(wl, d, e, p)], key=lambda x: float(x[0]["ops_s"]))
                mid = runs_tl[len(runs_tl) // 2]
                wtl[(d, e, p)] = (mid[1], mid[2])
                kib = [num_or_na(r["get_bytes"]) for r in runs]
                md.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    e, p, d, median_cell(runs, "ops_s", 0, True), median_cell(runs, "p50_us", 1, False),
                    median_cell(runs, "p99_us", 1, True), median_cell(runs, "p999_us", 1, False),
                    median_cell(runs, "load_ops_s", 0, False), median_cell(runs, "wamp", 2, True),
                    median_cell(runs, "wamp_engine", 2, False),
                    median_cell(runs, "samp", 2, False), median_cell(runs, "samp_peak", 2, False),
                    median_cell(runs, "get_tables", 2, False),
                    median_cell(runs, "seek_blocks" if scan else "get_blocks", 2, False),
                    "na" if None in kib else "%.2f" % (statistics.median(kib) / 1024),
                    median_cell(runs, "compactions", 0, False), median_cell(runs, "stall_ms", 0, False)))
        tput, p99 = write_plots(a, out, wl, wcells, wtl)
        md += ["", "![%s: throughput vs write amplification](%s)" % (wl, tput), "",
               "![%s: p99 over time](%s)" % (wl, p99), ""]
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(md))
    print("dk_sweep: %d runs in %s; report %s" % (n, fmt_s(total), os.path.join(out, "report.md")),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
