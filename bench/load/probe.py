#!/usr/bin/env python3
"""bench/load/probe.py - sample what a dynkvd node and the machine do over
time, to line up with dk_load's per-second INTERVAL lines.

    probe.py sample --pid PID --url URL [--load-pid PID] [--ms 250] -o FILE
    probe.py report PROBE_FILE DKLOAD_OUT START_UNIX [--trace PERF_TRACE]
    probe.py runq PERF_SCRIPT_TXT TID,TID,...

`sample` writes one JSON line per tick (until killed) with cumulative
counters: per node thread (grouped by name) CPU time and run-queue wait
from /proc/PID/task/*/schedstat, the load generator's the same way, the
machine's CPU jiffies and runnable tasks (/proc/stat), the data disk's
write counters (/proc/diskstats), Dirty and Writeback (/proc/meminfo) and
the node's dynkv_engine_lsm_* metrics. `report` turns deltas into one row
per second of the open loop, joined with dk_load's INTERVAL lines (t is
seconds after START_UNIX, the moment dk_load was started) and, with
--trace, the fdatasync times of `perf trace -T -e fdatasync` (the slowest
and the sum per second). `runq` attributes the run-queue waits of the
node's request threads to whatever ran before them (`perf record -e
sched:sched_switch -e sched:sched_wakeup -a`, then `perf script -F
comm,tid,cpu,time,event,trace`).

A probe outside the node rather than log lines inside it: the same
figures for any build (main and a branch), nothing on the request path.
"""
import argparse
import json
import os
import re
import sys
import time
import urllib.request

METRICS = ("compaction_write_bytes_total", "compaction_read_bytes_total", "compactions_total",
           "flushes_total", "flush_bytes_total", "wal_syncs_total", "write_groups_total",
           "wal_bytes_total", "l0_files", "write_stall_seconds_total", "write_slowdowns_total",
           "compaction_paced_seconds_total")


def threads(pid):
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                run, wait, _ = (int(x) for x in f.read().split())
        except OSError:
            continue
        r, w = out.get(name, (0, 0))
        out[name] = (r + run, w + wait)
    return out


def disk():
    dev = os.environ.get("PROBE_DISK", "vda")
    with open("/proc/diskstats") as f:
        for line in f:
            p = line.split()
            if p[2] == dev:
                # writes completed, sectors written, ms writing, in flight, io ms, flushes, flush ms
                return [int(p[7]), int(p[9]), int(p[10]), int(p[11]), int(p[12]),
                        int(p[18]) if len(p) > 18 else 0, int(p[19]) if len(p) > 19 else 0]
    return [0] * 7


def meminfo():
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            if k in ("Dirty", "Writeback"):
                out[k] = int(v.split()[0])
    return out


def cpustat():
    with open("/proc/stat") as f:
        cpu = run = 0
        for line in f:
            if line.startswith("cpu "):
                cpu = [int(x) for x in line.split()[1:]]
            elif line.startswith("procs_running"):
                run = int(line.split()[1])
    return cpu, run


def metrics(url):
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        m = re.match(r"dynkv_engine_lsm_(\w+) ([0-9.e+-]+)$", line)
        if m and m.group(1) in METRICS:
            out[m.group(1)] = float(m.group(2))
    return out


def sample(a):
    with open(a.o, "w") as out:
        while True:
            t0 = time.time()
            cpu, run = cpustat()
            rec = {"t": t0, "thr": threads(a.pid), "disk": disk(), "mem": meminfo(), "cpu": cpu,
                   "run": run, "m": metrics(a.url) if a.url else {}}
            if a.load_pid:
                rec["load"] = threads(a.load_pid)
            out.write(json.dumps(rec) + "\n")
            out.flush()
            time.sleep(max(0.0, a.ms / 1000.0 - (time.time() - t0)))


def trace_syncs(path):
    """[(unix time, ms)] of fdatasync calls in `perf trace -T` output."""
    out = []
    pat = re.compile(r"^\s*([0-9.]+) \(\s*([0-9.]+) ms\): \S+ fdatasync\(")
    with open(path) as f:
        for line in f:
            m = pat.match(line)
            if m:
                out.append((float(m.group(1)) / 1000.0, float(m.group(2))))
    return out


def report(a):
    recs = [json.loads(line) for line in open(a.probe) if line.strip()]
    ivals = []
    for line in open(a.dkload):
        m = re.match(r"INTERVAL t=([0-9.]+) ok=([0-9]+) .*p50_ms=([0-9.]+) p99_ms=([0-9.]+) max_ms=([0-9.]+)",
                     line)
        if m:
            t, ok, p50, p99, mx = (float(x) for x in m.groups())
            ivals.append((t, p50, p99, mx, ok))
    syncs = trace_syncs(a.trace) if a.trace else []
    # perf trace -T prints the monotonic clock: shift it by the offset the
    # caller measured (unix - monotonic) when it gave one.
    syncs = [(t + a.mono_offset, ms) for t, ms in syncs]
    start = a.start

    def at(t):
        """The last sample at or before unix time t."""
        best = recs[0]
        for r in recs:
            if r["t"] <= t:
                best = r
        return best

    names = ["loop", "worker", "lsm-wal", "lsm-flush", "lsm-compact", "other"]

    def group(thr):
        g = {n: [0, 0] for n in names}
        for name, (run, wait) in thr.items():
            if name in ("lsm-wal", "lsm-flush", "lsm-compact"):
                k = name
            elif name.startswith("dk-loop") or name == "dynkvd":
                k = "loop"
            elif name.startswith("dk-work") or name.startswith("uv"):
                k = "worker"
            else:
                k = "other"
            g[k][0] += run
            g[k][1] += wait
        return g

    hdr = ("t p50 p99 | syncs/s sync_avg sync_max ms | stall_ms paced_ms l0 | flush compMB/s diskMB/s w_await dirtyMB wbMB "
           "| cpu% idle iowait run | ms run (wait) per s: " + " ".join(names) + " dk_load")
    print(hdr)
    rows = []
    for t, p50, p99, mx, _ in ivals:
        r0, r1 = at(start + t - 1.0), at(start + t)
        dt = max(r1["t"] - r0["t"], 1e-3)
        m0, m1 = r0.get("m", {}), r1.get("m", {})

        def dm(k):
            return m1.get(k, 0) - m0.get(k, 0)

        d0, d1 = r0["disk"], r1["disk"]
        wr = d1[0] - d0[0]
        wmb = (d1[1] - d0[1]) * 512 / 1e6 / dt
        wawait = (d1[2] - d0[2]) / wr if wr else 0.0
        c0, c1 = r0["cpu"], r1["cpu"]
        tot = sum(c1) - sum(c0) or 1
        idle = 100.0 * (c1[3] - c0[3]) / tot
        iow = 100.0 * (c1[4] - c0[4]) / tot
        g0, g1 = group(r0["thr"]), group(r1["thr"])
        thr = " ".join(f"{(g1[n][0] - g0[n][0]) / 1e6 / dt:.0f}({(g1[n][1] - g0[n][1]) / 1e6 / dt:.0f})"
                       for n in names)
        l0 = sum(v[0] for v in r0.get("load", {}).values())
        l1 = sum(v[0] for v in r1.get("load", {}).values())
        lw0 = sum(v[1] for v in r0.get("load", {}).values())
        lw1 = sum(v[1] for v in r1.get("load", {}).values())
        ss = [ms for ts, ms in syncs if start + t - 1.0 <= ts < start + t]
        sync = (f"{len(ss)} {sum(ss) / len(ss):.2f} {max(ss):.1f}" if ss else
                f"{dm('wal_syncs_total') / dt:.0f} - -")
        rows.append((p99, g0, g1, r1["t"] - r0["t"]))
        print(f"{t:.0f} {p50:.2f} {p99:.1f} | {sync} | {dm('write_stall_seconds_total') * 1e3:.1f} "
              f"{dm('compaction_paced_seconds_total') * 1e3:.0f} {m1.get('l0_files', 0):.0f} | "
              f"{dm('flushes_total'):.0f}/{dm('compactions_total'):.0f} "
              f"{dm('compaction_write_bytes_total') / 1e6 / dt:.0f} {wmb:.0f} {wawait:.1f} "
              f"{r1['mem'].get('Dirty', 0) / 1024:.0f} {r1['mem'].get('Writeback', 0) / 1024:.0f} | "
              f"{100 - idle:.0f} {idle:.0f} {iow:.0f} {r1['run']} | {thr} "
              f"{(l1 - l0) / 1e6 / dt:.0f}({(lw1 - lw0) / 1e6 / dt:.0f})")
    summary(ivals, recs, start, syncs, group, names)


def summary(ivals, recs, start, syncs, group, names):
    """One line: seconds over 5 ms, and CPU per request of each thread
    group over the recorded seconds (after the warm-up)."""
    rec = [iv for iv in ivals if iv[0] > 2.0]
    if not rec:
        return
    t0, t1 = start + rec[0][0] - 1.0, start + rec[-1][0]
    a = min(recs, key=lambda r: abs(r["t"] - t0))
    b = min(recs, key=lambda r: abs(r["t"] - t1))
    ok = sum(iv[4] for iv in rec)
    ga, gb = group(a["thr"]), group(b["thr"])
    per = " ".join(f"{n}={(gb[n][0] - ga[n][0]) / 1e3 / max(ok, 1):.1f}({(gb[n][1] - ga[n][1]) / 1e3 / max(ok, 1):.1f})"
                   for n in names)
    ss = sorted(ms for ts, ms in syncs if t0 <= ts < t1)
    q = (lambda p: ss[min(len(ss) - 1, int(p * len(ss)))]) if ss else (lambda p: 0.0)
    over = sum(1 for iv in rec if iv[2] > 5.0)
    p99s = sorted(iv[2] for iv in rec)
    print(f"SUMMARY seconds={len(rec)} over5ms={over} p99_per_s_median={p99s[len(p99s) // 2]:.1f} "
          f"max={p99s[-1]:.1f} fdatasync_p50={q(.5):.2f} p99={q(.99):.2f} max={ss[-1] if ss else 0:.1f} "
          f"us_per_op(wait): {per}")


def runq(a):
    """Run-queue waits of the given threads (a node's request threads) in
    `perf script -F comm,tid,cpu,time,event,trace` output of sched_switch
    and sched_wakeup, each attributed to the task that ran on the CPU just
    before the thread got it back."""
    tids = set(a.tids.split(","))
    sw = re.compile(r"\s*(\S+)\s+(\d+)\s+\[(\d+)\]\s+([0-9.]+):\s+sched:sched_switch:\s+prev_comm=(.*?) "
                    r"prev_pid=(\d+) prev_prio=\d+ prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+)")
    wk = re.compile(r"\s*(\S+)\s+(\d+)\s+\[(\d+)\]\s+([0-9.]+):\s+sched:sched_wakeup:\s+comm=(.*?) pid=(\d+)")
    ready, tot, cnt, big, waits = {}, {}, {}, {}, []
    for line in open(a.script):
        m = wk.match(line)
        if m:
            if m.group(6) in tids:
                ready[m.group(6)] = float(m.group(4))
            continue
        m = sw.match(line)
        if not m:
            continue
        t = float(m.group(4))
        prevc, prevp, st, nextp = m.group(5), m.group(6), m.group(7), m.group(9)
        if prevp in tids and st.startswith("R"):
            ready[prevp] = t  # preempted: runnable from now on
        if nextp in tids and nextp in ready:
            d = (t - ready.pop(nextp)) * 1e3
            waits.append(d)
            key = "(the node's request threads)" if prevp in tids else prevc
            tot[key] = tot.get(key, 0.0) + d
            cnt[key] = cnt.get(key, 0) + 1
            big[key] = big.get(key, 0) + (d > 1.0)
    if not waits:
        return
    waits.sort()
    n = len(waits)
    print(f"waits {n}: p50 {waits[n // 2]:.3f} ms, p99 {waits[int(n * .99)]:.3f}, max {waits[-1]:.1f}, "
          f"total {sum(waits):.0f} ms, over 1 ms {sum(1 for w in waits if w > 1)}")
    for k in sorted(tot, key=tot.get, reverse=True)[:15]:
        print(f"  behind {k:30s} {tot[k]:8.0f} ms  {cnt[k]:7d} waits, {big[k]} over 1 ms")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample")
    s.add_argument("--pid", type=int, required=True)
    s.add_argument("--url")
    s.add_argument("--load-pid", type=int)
    s.add_argument("--ms", type=int, default=250)
    s.add_argument("-o", required=True)
    r = sub.add_parser("report")
    r.add_argument("probe")
    r.add_argument("dkload")
    r.add_argument("start", type=float)
    r.add_argument("--trace")
    r.add_argument("--mono-offset", type=float, default=0.0)
    q = sub.add_parser("runq")
    q.add_argument("script")
    q.add_argument("tids")
    a = p.parse_args()
    {"sample": sample, "report": report, "runq": runq}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
