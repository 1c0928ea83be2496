"""put-sync.py - one line of bench/load/put-sync.sh's table from a
`perf trace -e fdatasync` output and the counters the script read."""
import re
import sys

tr, r, s, n, ops, p99, d0, d1, c, x, hz, th0, th1 = sys.argv[1:]
n, ops, c, x, hz = int(n), float(ops), int(c), int(x), int(hz)
d0, d1 = [int(v) for v in d0.split()], [int(v) for v in d1.split()]
# The thread with the most syncs is the log's (dynkv's WAL thread, Redis's
# main thread); the latencies and gaps are its own, the others are counted.
syncs = []
for line in open(tr):
    m = re.match(r"\s*([0-9.]+) \(\s*([0-9.]+) ms\): .*?(\d+) fdatasync\(", line)
    if m:
        syncs.append((float(m.group(1)), float(m.group(2)), m.group(3)))
tids = {}
for t, d, tid in syncs:
    tids[tid] = tids.get(tid, 0) + 1
main = max(tids, key=tids.get) if tids else None
lat, gap, last = [], [], None
for t, d, tid in syncs:
    if tid != main:
        continue
    lat.append(d)
    if last is not None:
        gap.append(t - last)
    last = t + d
other = len(syncs) - len(lat)


def pct(a, p):
    a = sorted(a)
    return a[int((len(a) - 1) * p)] if a else 0


k = len(lat) or 1
print("%-5s %-3s %8.0f %7s %7.0f %6.1f %26s %16s %5.0f %6.2f %7.1f %6.2f %7.1f %6.2f" % (
    r, s, ops, p99, k * ops / n, n / k,
    "%.2f/%.2f/%.2f/%.2f" % (pct(lat, .5), pct(lat, .9), pct(lat, .99), sum(lat) / k),
    "%.2f/%.2f/%.2f" % (pct(gap, .5), pct(gap, .99), sum(gap) / (len(gap) or 1)), other * ops / n,
    (d1[0] - d0[0]) / n, (d1[1] - d0[1]) / 2 / n, (d1[2] - d0[2]) / n, c * 1e6 / hz / n, x / n))


def threads(path):
    out = {}
    for line in open(path):
        f = line.split()
        if len(f) == 4:
            out[f[0]] = (f[1], int(f[2]), int(f[3]))
    return out


a, b = threads(th0), threads(th1)
role = {}
for tid, (name, cpu, sw) in b.items():
    cpu0, sw0 = a.get(tid, (name, 0, 0))[1:]
    k = role.setdefault(name, [0, 0])
    k[0] += cpu - cpu0
    k[1] += sw - sw0
print("      threads: " + "  ".join("%s %.1f/%.2f" % (k, v[0] * 1e6 / hz / n, v[1] / n)
                                   for k, v in sorted(role.items(), key=lambda kv: -kv[1][0]) if v[0] or v[1] > n / 100))
