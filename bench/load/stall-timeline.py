#!/usr/bin/env python3
"""bench/load/stall-timeline.py DIR [BIN_MS] [-a] - the slow requests of a
bench/load/stall-trace.sh run on one time axis (CLOCK_MONOTONIC) with what the
node did: WAL fdatasync durations and counts, the flush and compaction
threads' sync_file_range/fsync/rename (Fwb Ffs Frn, Cwb Cfs Crn), other
syncs of the node, jbd2 commits, and the longest run-queue wait (runnable,
not running) of the WAL thread, the loop/worker threads (dynkvd), dk_load,
flush and compaction per BIN_MS (100) bin; lat/late are the slowest request
intended in the bin and how late dk_load sent it. Prints the bins with a
request or a WAL sync >= 10 ms (all with -a), then summaries: fdatasync
durations by what overlapped them, run-queue waits, who held the CPUs while
the node's threads waited, what overlapped each request >= 20 ms, and the
share of the slow fdatasyncs spent runnable rather than blocked on I/O."""
import sys, re, subprocess, collections
d = sys.argv[1]; BIN = float(sys.argv[2]) / 1000 if len(sys.argv) > 2 else 0.1
names = {}
for l in open(d + '/threads.txt'):
    t, n = l.split(None, 1); names[int(t)] = n.strip()
slow = []
for l in open(d + '/open.out'):
    if l.startswith('SLOW'):
        f = dict(x.split('=') for x in l.split()[1:]); slow.append((float(f['mono_s']), float(f['lat_ms']), float(f['late_ms'])))
out = subprocess.run(['perf', 'script', '-i', d + '/perf.data', '-F', 'comm,tid,cpu,time,event,trace'], capture_output=True, text=True).stdout
rx = re.compile(r'^\s*(.+?)\s+(\d+)\s+\[\d+\]\s+([\d.]+):\s+(\S+):\s*(.*)$')
enter = {}
sys_ev = []      # (t0, t1, tid, name)
jbd = []         # (t0,t1)
jstart = {}
off = {}         # tid -> (t, state)
woke = {}
runq = []        # (t_run, wait, tid)  wait = runnable but not running
load_tids = set()
running = []     # (t0, t1, cpu, comm, pid)
curcpu = {}
cpurx = re.compile(r'\[(\d+)\]')
for l in out.splitlines():
    m = rx.match(l)
    if not m: continue
    comm, tid, t, ev, tr = m.group(1), int(m.group(2)), float(m.group(3)), m.group(4), m.group(5)
    if comm.startswith('dk_load'): load_tids.add(tid)
    if ev.startswith('syscalls:sys_enter_'):
        if tid in names: enter[tid] = (t, ev[19:], tr)
    elif ev.startswith('syscalls:sys_exit_'):
        if tid in enter:
            t0, nm, a = enter.pop(tid); sys_ev.append((t0, t, tid, nm))
    elif ev == 'jbd2:jbd2_start_commit':
        jstart[tr.split()[0]] = t
    elif ev == 'jbd2:jbd2_end_commit':
        k = tr.split()[0]
        if k in jstart: jbd.append((jstart.pop(k), t, tr))
    elif ev == 'sched:sched_switch':
        pm = re.search(r'prev_comm=(.*) prev_pid=(\d+) .*prev_state=(\S+) ==> next_comm=(.*) next_pid=(\d+)', tr)
        pcomm, pp, st, ncomm, np_ = pm.group(1), int(pm.group(2)), pm.group(3), pm.group(4), int(pm.group(5))
        cpu = int(cpurx.search(l).group(1))
        if cpu in curcpu:
            t0c, cc, cp = curcpu[cpu]; running.append((t0c, t, cpu, cc, cp))
        curcpu[cpu] = (t, ncomm, np_)
        if ncomm.startswith('dk_load'): load_tids.add(np_)
        off[pp] = (t, st)
        if np_ in off:
            t0, st0 = off.pop(np_)
            if st0.startswith('R'):
                runq.append((t, t - t0, np_))
            elif np_ in woke:
                runq.append((t, t - woke.pop(np_), np_))
    elif ev == 'sched:sched_wakeup':
        pm = re.search(r'pid=(\d+)', tr); woke[int(pm.group(1))] = t
def who(tid):
    if tid in load_tids: return 'dk_load'
    return names.get(tid, 'other')
t_lo = min(s[0] for s in sys_ev); t_hi = max(s[1] for s in sys_ev)
nb = int((t_hi - t_lo) / BIN) + 1
B = lambda t: int((t - t_lo) / BIN)
row = collections.defaultdict(lambda: collections.defaultdict(float))
cnt = collections.defaultdict(lambda: collections.defaultdict(int))
def mx(b, k, v):
    if 0 <= b < nb and v > row[b][k]: row[b][k] = v
for t, lat, late in slow:
    mx(B(t), 'lat', lat); mx(B(t), 'late', late)
for t0, t1, tid, nm in sys_ev:
    w = who(tid); dur = (t1 - t0) * 1e3
    if w == 'lsm-wal' and nm == 'fdatasync':
        mx(B(t0), 'wsync', dur); cnt[B(t0)]['nsync'] += 1
    elif w in ('lsm-flush', 'lsm-compact') and nm in ('fsync', 'fdatasync', 'sync_file_range', 'ftruncate', 'rename', 'renameat2'):
        k = ('F' if w == 'lsm-flush' else 'C') + {'fsync': 'fs', 'fdatasync': 'fs', 'sync_file_range': 'wb', 'ftruncate': 'tr'}.get(nm, 'rn')
        for b in range(B(t0), B(t1) + 1): mx(b, k, dur)
    elif nm in ('fsync', 'fdatasync', 'ftruncate'):
        for b in range(B(t0), B(t1) + 1): mx(b, 'osync', dur)
for t0, t1, tr in jbd:
    for b in range(B(t0), B(t1) + 1): mx(b, 'jbd', (t1 - t0) * 1e3)
for t, w, tid in runq:
    k = {'lsm-wal': 'rq_wal', 'dynkvd': 'rq_loop', 'dk_load': 'rq_load', 'lsm-flush': 'rq_fl', 'lsm-compact': 'rq_co'}.get(who(tid))
    if k: mx(B(t), k, w * 1e3)
cols = ['lat', 'late', 'wsync', 'nsync', 'Fwb', 'Ffs', 'Frn', 'Cwb', 'Cfs', 'Crn', 'osync', 'jbd', 'rq_wal', 'rq_loop', 'rq_load', 'rq_fl', 'rq_co']
print('t_mono    ' + ' '.join('%7s' % c for c in cols))
allrows = []
for b in range(nb):
    r = row[b]; r['nsync'] = cnt[b]['nsync']
    allrows.append(r)
    if '-a' in sys.argv or r['lat'] >= 10 or r['wsync'] >= 10:
        print('%.1f ' % (t_lo + b * BIN) + ' '.join('%7.1f' % r[c] if r[c] else '      .' for c in cols))
# summary: WAL fdatasync durations, overlapping table syncs or not
ws = [(t0, t1) for t0, t1, tid, nm in sys_ev if who(tid) == 'lsm-wal' and nm == 'fdatasync']
tbl = [(t0, t1) for t0, t1, tid, nm in sys_ev if who(tid) in ('lsm-flush', 'lsm-compact') and nm in ('fsync', 'fdatasync', 'sync_file_range', 'ftruncate')]
tfl = [(t0, t1) for t0, t1, tid, nm in sys_ev if who(tid) == 'lsm-flush' and nm in ('fsync', 'fdatasync', 'sync_file_range', 'ftruncate')]
tco = [(t0, t1) for t0, t1, tid, nm in sys_ev if who(tid) == 'lsm-compact' and nm in ('fsync', 'fdatasync', 'sync_file_range', 'ftruncate')]
# flush busy spans: from the table's openat to its last sync (the flush thread between them writes the table)
def spans(w):
    sp = []; cur = None
    for t0, t1, tid, nm in sorted(sys_ev):
        if who(tid) != w: continue
        if nm == 'openat' and cur is None: cur = t0
        if nm in ('fsync', 'fdatasync') and cur is not None: sp.append((cur, t1)); cur = None
    return sp
fsp = spans('lsm-flush'); csp = spans('lsm-compact')
wq = collections.defaultdict(float)
for t, w, tid in runq:
    if who(tid) == 'lsm-wal': wq[t] = w
wl = sorted(wq.items())
jb = [(a, b) for a, b, _ in jbd]
def ov(a, L): return any(x < a[1] and y > a[0] for x, y in L)
import statistics
def q(v, p): v = sorted(v); return v[min(len(v) - 1, int(p * len(v)))] if v else 0
for lab, sel in (('all', lambda s: True), ('overlapping a table sync/writeback', lambda s: ov(s, tbl)), ('not overlapping', lambda s: not ov(s, tbl)),
                 ('overlapping a flush writeback/sync', lambda s: ov(s, tfl)), ('overlapping a compaction writeback/sync', lambda s: ov(s, tco)),
                 ('while a flush writes its table', lambda s: ov(s, fsp)), ('no flush writing', lambda s: not ov(s, fsp)),
                 ('no flush, no compaction syscall', lambda s: not ov(s, fsp) and not ov(s, tco))):
    v = [(b - a) * 1e3 for a, b in ws if sel((a, b))]
    print('WAL fdatasync %-40s n=%6d p50=%6.2f p99=%6.2f max=%6.2f ms  >5ms: %d  >20ms: %d' % (lab, len(v), q(v, .5), q(v, .99), max(v) if v else 0, sum(x > 5 for x in v), sum(x > 20 for x in v)))
for k in ('lsm-wal', 'dynkvd', 'dk_load'):
    v = [w * 1e3 for t, w, tid in runq if who(tid) == k]
    print('run-queue wait %-8s n=%6d p99=%6.2f max=%6.2f ms  >5ms: %d' % (k, len(v), q(v, .99), max(v) if v else 0, sum(x > 5 for x in v)))
v = [(b - a) * 1e3 for a, b, _ in jbd]
print('jbd2 commits n=%d p50=%.1f max=%.1f ms' % (len(v), q(v, .5), max(v) if v else 0))

# who ran on the CPUs while the node's latency-critical threads waited > 2 ms in the run queue
def cls(comm, pid):
    if pid in names: return 'node:' + names[pid]
    if pid in load_tids or comm.startswith('dk_load'): return 'dk_load'
    if comm.startswith('perf'): return 'perf'
    if pid == 0: return 'idle'
    if comm.startswith('kworker') or comm.startswith('ksoftirq'): return 'kernel'
    return 'other processes'
running.sort()
import bisect
starts = [r[0] for r in running]
acc = collections.defaultdict(float); tot = 0.0
for t, w, tid in runq:
    if w < 0.002 or who(tid) not in ('lsm-wal', 'dynkvd'): continue
    a, b = t - w, t
    i = bisect.bisect_left(starts, a - 1.0)
    for r in running[i:]:
        if r[0] >= b: break
        o = min(b, r[1]) - max(a, r[0])
        if o > 0 and r[4] != tid:
            acc[cls(r[3], r[4])] += o; tot += o
print('CPU time of others during run-queue waits > 2 ms of lsm-wal and loop/worker threads (%.0f ms in all):' % (tot * 1e3))
for k, v in sorted(acc.items(), key=lambda x: -x[1]):
    print('   %-24s %5.1f %%' % (k, 100 * v / tot if tot else 0))
# each request slower than 20 ms: what overlapped its life [intended, intended + lat]
wsl = sorted((t0, t1) for t0, t1, tid, nm in sys_ev if who(tid) == 'lsm-wal' and nm == 'fdatasync' and t1 - t0 >= 0.005)
rql = sorted((t - w, t, who(tid)) for t, w, tid in runq if w >= 0.005 and who(tid) in ('lsm-wal', 'dynkvd'))
rqd = sorted((t - w, t) for t, w, tid in runq if w >= 0.005 and who(tid) == 'dk_load')
cause = collections.Counter()
for t, lat, late in slow:
    if lat < 20: continue
    a, b = t, t + lat / 1e3
    s = ov((a, b), wsl); r = any(x < b and y > a for x, y, _ in rql); g = ov((a, b), rqd)
    k = ('WAL fdatasync >=5ms' if s else '') + (' + ' if s and r else '') + ('node thread run-queue wait >=5ms' if r else '')
    if g: k += (' + ' if k else '') + 'dk_load run-queue wait >=5ms'
    cause[k or 'none of these'] += 1
n = sum(cause.values())
print('requests >= 20 ms: %d; what overlapped them:' % n)
for k, v in cause.most_common():
    print('   %-75s %5d  %4.1f %%' % (k, v, 100.0 * v / n))
# the WAL fdatasyncs >= 5 ms: how much of each was the WAL thread waiting for the CPU (runnable) vs blocked on I/O,
# and what table I/O (flush/compaction sync_file_range or fsync) overlapped the blocked ones
wal_rq = sorted((t - w, t) for t, w, tid in runq if who(tid) == 'lsm-wal')
tot_s = tot_r = 0.0; nio = 0; io_with = collections.Counter()
for a, b in wsl:
    r = sum(max(0.0, min(b, y) - max(a, x)) for x, y in wal_rq if x < b and y > a)
    tot_s += b - a; tot_r += r
    if (b - a) - r >= 0.005:
        nio += 1
        io_with['compaction writeback/fsync' if ov((a, b), tco) else ('flush writeback/fsync' if ov((a, b), tfl) else 'no table sync syscall')] += 1
print('WAL fdatasyncs >= 5 ms: %d, %.0f ms in all, of which %.0f ms runnable (waiting for a CPU); %d blocked >= 5 ms on I/O: %s' % (
    len(wsl), tot_s * 1e3, tot_r * 1e3, nio, ', '.join('%s %d' % kv for kv in io_with.most_common())))
