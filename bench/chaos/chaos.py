#!/usr/bin/env python3
"""One round of the dynkv fault soak (bench/chaos/README.md).

A 4-node cluster (tools/dynkv-cluster through tests/cluster/dkcluster.py,
lsm, N=3) on 127.0.60.1-4; load threads (workload.py) write and read while
fault threads (faults.py) kill, stop, restart and partition nodes; then
every fault is healed, the replicas settle, and every key is checked
against what its clients were told (check.py).  The round writes
OUT/events.log and OUT/report.json; the nodes' folders (OUT/c/nI) keep
their logs, and their data too when the round found anything (or --keep).

It must run as pid 1 of private PID and network namespaces, so that its
iptables rules and every process it starts vanish with it:

  nice -n 19 unshare -n -p -f --kill-child --mount-proc \\
      python3 bench/chaos/chaos.py -B BUILDDIR --seed 7 --resolver vclock --out DIR

(bench/chaos/run-soak.sh does that for N rounds.)  Exit status: 0 no
violation, 1 violations, 2 harness error (the harness itself failed: a
node that would not restart, a thread that raised, ...).
"""

import argparse
import collections
import json
import os
import random
import shutil
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
IP_PREFIX = "127.0.60"
LOG_ALERTS = (" ERROR ", " FATAL", "assert", "Sanitizer", "panic", "Segmentation", "abort", "CRIT")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-B", "--build", default=os.environ.get("DYNKV_BUILDDIR"),
                    help="a built dynkv tree (default $DYNKV_BUILDDIR)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--resolver", default="vclock", choices=("vclock", "lww"))
    ap.add_argument("--engine", default="lsm")
    ap.add_argument("--duration", type=float, default=60, help="seconds of load and faults")
    ap.add_argument("--settle", type=float, default=120, help="seconds the replicas get to converge")
    ap.add_argument("--faults", default="kill9,stop,graceful,partition",
                    help="comma-separated kinds (faults.py)")
    ap.add_argument("--faulters", type=int, default=1, help="fault threads")
    ap.add_argument("--skew", type=int, default=0, help="max |clock offset| ms per node (0: none)")
    ap.add_argument("--distinct", type=int, default=3, help="distinct-key writer threads")
    ap.add_argument("--deleters", type=int, default=1, help="put-get-delete threads")
    ap.add_argument("--hot-threads", type=int, default=2, help="read-modify-write threads")
    ap.add_argument("--hot-keys", type=int, default=6)
    ap.add_argument("--pace", type=float, default=0.01, help="pause between requests of a thread, s")
    ap.add_argument("--memtable", default="", help="storage.memtable_size (default: 1, 2 or 64 MiB by seed)")
    ap.add_argument("--set", action="append", default=[], help="section.key=value for every node")
    ap.add_argument("--out", default="", help="output folder (default $TMPDIR/dynkv-chaos/RESOLVER-sSEED)")
    ap.add_argument("--keep", action="store_true", help="keep the data directories")
    a = ap.parse_args()
    if not a.build or not os.path.isfile(os.path.join(a.build, "server", "dynkvd")):
        ap.error("no dynkvd under %r: give -B BUILDDIR or set DYNKV_BUILDDIR" % a.build)
    a.build = os.path.abspath(a.build)
    return a


def in_private_namespaces():
    """Whether we are pid 1 of a PID namespace whose network namespace has
    nothing but a loopback device (what `unshare -n -p -f` gives)."""
    if os.getpid() != 1:
        return False
    links = sh(["ip", "-o", "link", "show"]).stdout.splitlines()
    return len(links) == 1 and ": lo:" in links[0]


def unexpected(report):
    """The violations not marked expected (check.py)."""
    return [v for v in report["violations"] if not v.get("expected")]


def collect(st, dws, dls, hws, fls, report):
    """Gather the load threads' records into the report; returns what the
    check needs: (acked, unacked, hot_writes, deleted)."""
    for t in dws + hws + dls + fls:
        if t.error:
            report["harness"].append(t.error[-3000:])
    report["restart_failures"] = [x for f in fls for x in f.restart_failures]
    report["fault_hist"] = [(ts(a), ts(b) if b else None, n, k) for a, b, n, k in st.fault_hist]
    acked, unacked, hot_writes, deleted = {}, {}, {}, {}
    for w in dws:
        acked.update(w.acked)
        unacked.update(w.unacked)
    for h in hws:
        for r in h.writes:
            hot_writes.setdefault(r["key"], []).append(r)
    for d in dls:
        deleted.update(d.recs)
    report["delete_counts"] = dict(
        puts_acked=sum(1 for r in deleted.values() if r["put"] == 200),
        deletes_acked=sum(1 for r in deleted.values() if r["delete"] == 200),
        get_after_put_not_200=sum(1 for r in deleted.values() if r["put"] == 200 and r["get"] not in (200, None)))
    # What those reads answered: 503/504 while replicas were down is the
    # quorum's price; 404 or "stale" after an acknowledged quorum write is a
    # read that missed it (a sloppy quorum's fallbacks are not read).
    report["get_after_put_missed"] = [dict(m, t0=ts(m["t0"]), t1=ts(m["t1"]), get_t0=ts(m["get_t0"]))
                                      for d in dls for m in d.missed][:40]
    report["get_after_put_statuses"] = dict(collections.Counter(
        str(r["get"]) for r in deleted.values() if r["put"] == 200 and r["get"] not in (200, None)))
    errors = [e for t in dws + dls + hws for e in t.errors]
    report["counts"] = dict(distinct_acked=len(acked), distinct_failed=len(unacked),
                            hot_acked=sum(1 for h in hws for r in h.writes if r["status"] == 200),
                            hot_attempted=sum(len(h.writes) for h in hws), errors=len(errors))
    # Failures while the coordinator itself was healthy and at most one
    # node was faulted: with N=3 and quorum, these should be rare.
    susp = [e for e in errors if e["coord"] not in e["faulted"] and len(e["faulted"]) <= 1]
    report["suspicious_errors"] = [dict(e, t0=ts(e["t0"]), t1=ts(e["t1"])) for e in susp[:40]]
    report["n_suspicious_errors"] = len(susp)
    hist = {}
    for e in errors:
        hist[str(e["status"])] = hist.get(str(e["status"]), 0) + 1
    report["error_statuses"] = hist
    log("counts %s; suspicious errors %d; statuses %s" % (report["counts"], len(susp), hist))
    return acked, unacked, hot_writes, deleted


def run(a, c, st, out, report):
    """Load and faults for a.duration s, heal, settle and check."""
    c.start(timeout=90)
    log("cluster up")
    hot = ["hot-%02d" % i for i in range(a.hot_keys)]
    dws = [DistinctWriter(st, i, random.Random(a.seed * 100 + i)) for i in range(a.distinct)]
    dls = [DeleteWriter(st, i, random.Random(a.seed * 500 + i)) for i in range(a.deleters)]
    hws = [HotWriter(st, i, random.Random(a.seed * 1000 + i), hot) for i in range(a.hot_threads)]
    fls = [Faulter(st, random.Random(a.seed * 7 + 3 + 11 * i), a.faults.split(",")) for i in range(a.faulters)]
    for t in dws + hws + dls:
        t.start()
    stagger = random.Random(a.seed)
    for f in fls:
        f.start()
        time.sleep(stagger.uniform(1, 6))
    time.sleep(a.duration)
    st.stop.set()
    log("load stop")
    for t in dws + hws + dls:
        t.join(60)
        if t.is_alive():
            report["harness"].append("writer hung")
    for f in fls:
        f.join(120)
        if f.is_alive():
            report["harness"].append("faulter hung")
    heal_all(c)
    for n in c.nodes:
        if not c.alive(n.id):
            log("healing: %s was down, starting" % n.id)
            c.start(n.id, timeout=60, wait="health")
    try:
        c.start(timeout=60)
    except Exception as e:
        report["harness"].append("cluster not all-normal after heal: %s" % str(e)[:500])
    acked, unacked, hot_writes, deleted = collect(st, dws, dls, hws, fls, report)
    settle_and_check(c, out, acked, unacked, hot_writes, deleted, a.resolver, any(report["skew"].values()),
                     a.settle, report)
    report["log_alerts"] = {}
    for n in c.nodes:
        lines = [ln for ln in n.read_log().splitlines() if any(w in ln for w in LOG_ALERTS)]
        if lines:
            report["log_alerts"][n.id] = lines[:30]
    dead = [n.id for n in c.nodes if not c.alive(n.id)]
    if dead:
        report["harness"].append("dead at end: %s" % dead)


def main(a):
    bad = set(a.faults.split(",")) - set(KINDS)
    if bad:
        sys.exit("unknown fault kinds %s (have %s)" % (",".join(sorted(bad)), ",".join(KINDS)))
    if not in_private_namespaces():
        sys.exit("chaos.py runs iptables and kills processes: run it as pid 1 of private namespaces,\n"
                 "  unshare -n -p -f --kill-child --mount-proc python3 %s ..." % sys.argv[0])
    out = os.path.abspath(a.out or os.path.join(tempfile.gettempdir(), "dynkv-chaos",
                                                "%s-s%d" % (a.resolver, a.seed)))
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    open_log(os.path.join(out, "events.log"))
    rng = random.Random(a.seed)
    memtable = a.memtable or rng.choice(["1MiB", "2MiB", "64MiB"])
    sets = ["cluster.n_replicas=3", "conflict.resolver=%s" % a.resolver,
            "cluster.anti_entropy_interval=30s", "storage.memtable_size=%s" % memtable] + a.set
    sh(["ip", "link", "set", "lo", "up"])
    sh(["sysctl", "-q", "-w", "net.ipv4.tcp_tw_reuse=1"])
    c = dk.make(out, 4, IP_PREFIX, a.engine, sets=sets)
    skew = setup_skew(c, out, a.skew, rng) if a.skew else {}
    report = dict(seed=a.seed, resolver=a.resolver, engine=a.engine, duration=a.duration, sets=sets,
                  faults=a.faults, faulters=a.faulters, build=a.build, violations=[], harness=[],
                  start=ts(), skew=skew)
    log("round seed=%d resolver=%s engine=%s skew=%s sets=%s" % (a.seed, a.resolver, a.engine, skew, sets))
    st = State(c, a.pace)
    code = 2
    try:
        run(a, c, st, out, report)
        code = 1 if unexpected(report) else 0
    except Exception:
        report["harness"].append(traceback.format_exc()[-3000:])
    finally:
        st.stop.set()
        heal_all(c)
        res = c.stop(timeout=30)
        report["stop"] = res
        if any(v == "killed" for v in res.values()):
            report["harness"].append("graceful stop at end needed SIGKILL: %s" % res)
        if code == 0 and report["harness"]:
            code = 2
        report["end"] = ts()
        report["n_violations"] = len(unexpected(report))
        report["n_expected"] = len(report["violations"]) - report["n_violations"]
        with open(os.path.join(out, "report.json"), "w") as f:
            json.dump(report, f, indent=1, default=str)
        if code == 0 and not a.keep and not report.get("log_alerts"):
            for n in c.nodes:
                shutil.rmtree(n.data_dir, ignore_errors=True)
        log("RESULT code=%d violations=%d expected=%d harness=%d -> %s"
            % (code, report["n_violations"], report["n_expected"], len(report["harness"]), out))
    return code


def use_build(build):
    """Point dkcluster (which reads the environment when imported) and
    tools/dynkv-cluster at the build tree `build`."""
    os.environ["DYNKV_BUILDDIR"] = build
    os.environ["DYNKV_PLUGIN_PATH"] = os.path.join(build, ".libs")
    os.environ["DYNKVD"] = os.path.join(build, "server", "dynkvd")
    os.environ.setdefault("DYNKV_SRCDIR", TOP)
    sys.path.insert(0, os.path.join(TOP, "tests", "cluster"))


if __name__ == "__main__":
    ARGS = parse_args()
    use_build(ARGS.build)
    import dkcluster as dk  # noqa: E402
    from check import settle_and_check  # noqa: E402
    from faults import KINDS, Faulter, heal_all, setup_skew  # noqa: E402
    from state import State, log, open_log, sh, ts  # noqa: E402
    from workload import DeleteWriter, DistinctWriter, HotWriter  # noqa: E402
    sys.exit(main(ARGS))
