#!/usr/bin/env python3
"""bench/load/stall-episode.py DIR [-q] - the episodes of a stall-trace.sh run
(requests >= 40 ms, merged when < 300 ms apart) at 10 ms resolution: for each,
from 300 ms before its first slow request to its last, one row per 10 ms of
the slowest request due in the bin, WAL fdatasyncs started (count, max ms),
CPU time per group from perf's sched_switch (node WAL/loops+workers/flush/
compaction, dk_load, kernel threads, perf and the sampler (meas), other
processes; ms of the 20 the two CPUs give per bin), the node's summed run-queue wait
(schedstat deltas, stall-sample.py), steal, PSI cpu/io deltas, dirty and
writeback pages, reclaim and compaction activity, and the engine's and the
kernel's events (DK_LSM_TRACE lines, discards, writeback starts, DAMON
pageout, kswapd). Then one summary line per episode with what the 300 ms
before it and the episode itself held (-q: the summaries only)."""
import sys, re, subprocess, collections
d = sys.argv[1]; quiet = '-q' in sys.argv
BIN = 0.01
names = {}
sampler = set()
try:
    for l in open(d + '/sample.txt'):
        if l.startswith('P '): sampler.add(int(l.split()[1]))
        elif l.startswith('S '): break
except FileNotFoundError:
    pass
for l in open(d + '/threads.txt'):
    t, n = l.split(None, 1); names[int(t)] = n.strip()
def grp(comm, tid):
    n = names.get(tid)
    if n is not None:
        if n.startswith('dk-wal') or 'wal' in n: return 'wal'
        if 'flush' in n: return 'flush'
        if 'compact' in n: return 'comp'
        return 'node'
    if comm.startswith('dk_load'): return 'load'
    if comm.startswith('kdamond'): return 'damon'
    if comm.startswith(('kswapd', 'kcompactd', 'khugepaged')): return 'reclaim'
    if comm.startswith('kworker') or comm.startswith(('ksoftirqd', 'rcu_', 'migration', 'jbd2')): return 'kwork'
    if comm == 'swapper/0' or comm == 'swapper/1' or comm.startswith('swapper'): return 'idle'
    if comm.startswith('perf') or tid in sampler: return 'meas'
    return 'other'
GROUPS = ['wal', 'node', 'flush', 'comp', 'load', 'kwork', 'damon', 'reclaim', 'meas', 'other', 'idle']
slow = []
for l in open(d + '/open.out'):
    if l.startswith('SLOW'):
        f = dict(x.split('=', 1) for x in l.split()[1:])
        slow.append((float(f['mono_s']), float(f['lat_ms']), float(f['late_ms'])))
slow.sort()
eps = []
for t, lat, late in slow:
    if lat < 40: continue
    if eps and t - eps[-1][1] < 0.3:
        eps[-1][1] = t; eps[-1][2] = max(eps[-1][2], lat)
    else:
        eps.append([t, t, lat])
# engine events
ev = []
wsync = []
try:
    for l in open(d + '/lsm-trace.txt'):
        p = l.split()
        t, op, dur = float(p[0]), p[2], float(p[-1])
        if op == 'fdatasync':
            wsync.append((t, dur)); continue
        if op == 'writeback' and dur < 2: continue
        if op in ('close',) and dur < 1: continue
        a = ' '.join(x.rsplit('/', 1)[-1] for x in p[3:-1] if not x.startswith('fd='))
        ev.append((t, '%s%s%s' % (op, (':' + a) if a else '', ('(%.0fms)' % dur) if dur >= 1 else '')))
except FileNotFoundError:
    pass
# perf
run = []  # (t0,t1,cpu,grp)
kev = []
out = subprocess.run(['perf', 'script', '-i', d + '/perf.data', '-F', 'comm,tid,cpu,time,event,trace'],
                     capture_output=True, text=True).stdout if not quiet or True else ''
rx = re.compile(r'^\s*(.+?)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$')
cur = {}
for l in out.splitlines():
    m = rx.match(l)
    if not m: continue
    comm, tid, cpu, t, e, tr = m.group(1), int(m.group(2)), int(m.group(3)), float(m.group(4)), m.group(5), m.group(6)
    if e == 'sched:sched_switch':
        pm = re.search(r'next_comm=(.*) next_pid=(\d+)', tr)
        if cpu in cur:
            run.append((cur[cpu][0], t, cpu, cur[cpu][1]))
        cur[cpu] = (t, grp(pm.group(1), int(pm.group(2))))
    elif e == 'block:block_rq_issue':
        f = tr.split()
        if 'D' in f[1]:
            kev.append((t, 'discard:%s:%dK' % (comm.split('-')[0], int(f[2]) // 1024)))
    elif e == 'writeback:writeback_start':
        rm = re.search(r'reason=(\S+)', tr); kev.append((t, 'wb_start:' + (rm.group(1) if rm else '?')))
    elif e == 'damon:damos_before_apply':
        kev.append((t, 'damos'))
    elif e.startswith('vmscan:') or e.startswith('compaction:mm_compaction_begin'):
        kev.append((t, e.split(':')[1]))
    elif e.startswith('syscalls:sys_enter_unlink') and tid not in names:
        pass
# samples
samp = []
for l in open(d + '/sample.txt'):
    if not l.startswith('S '): continue
    p = l.split(); r = {'t': float(p[1])}
    for kv in p[2:]:
        k, v = kv.split('=', 1)
        if k.startswith('cpu'):
            r[k] = [int(x) for x in v.split(',')]
        elif k[0] == 't' and k[1:].isdigit():
            a, b = v.split(','); r[k] = (int(a), int(b))
        else:
            r[k] = int(v)
    samp.append(r)
node_t = ['t%d' % t for t in names]
def sdelta(t0, t1):
    """run-queue wait of the node's threads (ms), steal ticks, psi deltas between samples around t0..t1"""
    a = b = None
    for r in samp:
        if r['t'] <= t0: a = r
        if r['t'] <= t1: b = r
    if not a or not b or a is b: return None
    rq = sum(b[k][1] - a[k][1] for k in node_t if k in a and k in b) / 1e6
    st = sum(b[c][7] - a[c][7] for c in ('cpu0', 'cpu1') if c in a)
    return dict(rq=rq, steal=st * 10, pcpu=(b['psi_cpu'] - a['psi_cpu']) / 1e3, pio=(b['psi_io'] - a['psi_io']) / 1e3,
                dirty=b['nr_dirty'] * 4 // 1024, wb=b['nr_writeback'] * 4 // 1024,
                scan=(b['pgscan_kswapd'] + b['pgscan_direct']) - (a['pgscan_kswapd'] + a['pgscan_direct']),
                cstall=b['compact_stall'] - a['compact_stall'], flt=b['pgfault'] - a['pgfault'])
def cpu_ms(t0, t1):
    c = collections.Counter()
    for a, b, cpu, g in run:
        if b <= t0 or a >= t1: continue
        c[g] += (min(b, t1) - max(a, t0)) * 1e3
    return c
def syncs(t0, t1):
    s = [dur for t, dur in wsync if t0 <= t < t1]
    return len(s), max(s) if s else 0
allev = sorted(ev + kev)
print('run %s: %d episodes (requests >= 40 ms, merged < 300 ms apart), %d SLOW lines' % (d, len(eps), len(slow)))
for i, (e0, e1, mx) in enumerate(eps):
    w0, w1 = e0 - 0.3, e1 + 0.01
    if not quiet:
        print('\nepisode %d: due %.3f..%.3f, max %.1f ms' % (i + 1, e0, e1, mx))
        print('%9s %6s %5s %5s | %s | %6s %5s %5s %5s %5s %5s %5s | events' % (
            't-e0 ms', 'lat', 'nsync', 'wsmax', ' '.join('%5s' % g[:5] for g in GROUPS), 'rq', 'steal', 'pcpu', 'pio', 'dirty', 'wb', 'scan'))
        t = w0
        while t < w1:
            lat = max([s[1] for s in slow if t <= s[0] < t + BIN] or [0])
            n, smax = syncs(t, t + BIN)
            c = cpu_ms(t, t + BIN)
            sd = sdelta(t, t + BIN) or {}
            evs = [x for tt, x in allev if t <= tt < t + BIN]
            print('%9.0f %6.1f %5d %5.1f | %s | %6.1f %5s %5.1f %5.1f %5s %5s %5s | %s' % (
                (t - e0) * 1e3, lat, n, smax, ' '.join('%5.1f' % c[g] for g in GROUPS), sd.get('rq', 0), sd.get('steal', '-'),
                sd.get('pcpu', 0), sd.get('pio', 0), sd.get('dirty', '-'), sd.get('wb', '-'), sd.get('scan', '-'), ' '.join(evs[:8]) + (' +%d' % (len(evs) - 8) if len(evs) > 8 else '')))
            t += BIN
    # summary: 300 ms before, and the first 100 ms of the episode
    def summ(a, b):
        c = cpu_ms(a, b); sd = sdelta(a, b) or {}; n, smax = syncs(a, b)
        evs = [x.split(':')[0].split('(')[0] for tt, x in allev if a <= tt < b]
        return c, sd, n, smax, collections.Counter(evs)
    cb, sb, nb, mb, eb = summ(e0 - 0.3, e0)
    cd, sdd, nd, md, ed = summ(e0, min(e1, e0 + 0.1) + 0.01)
    tot = sum(cb.values()) or 1
    print('EPISODE %s #%d max=%.1f dur=%.0fms | before300: %s | rq=%.1f steal=%s pcpu=%.1f pio=%.1f syncs=%d max=%.1f | ev %s || first100: %s | rq=%.1f syncs=%d max=%.1f | ev %s' % (
        d.rsplit('/', 1)[-1], i + 1, mx, (e1 - e0) * 1e3,
        ' '.join('%s=%.0f' % (g, cb[g]) for g in GROUPS if cb[g] >= 1),
        sb.get('rq', 0), sb.get('steal', '-'), sb.get('pcpu', 0), sb.get('pio', 0), nb, mb, dict(eb),
        ' '.join('%s=%.0f' % (g, cd[g]) for g in GROUPS if cd[g] >= 1), sdd.get('rq', 0), nd, md, dict(ed)))
# Census: which candidates were present in [e0 - 100 ms, e0 + 50 ms] of each
# episode, against how often they are present in any such window of the run
# (the base rate: every 50 ms from the first to the last sample).
def cands(a, b):
    c = cpu_ms(a, b); sd = sdelta(a, b) or {}; tot = (b - a) * 2e3
    evs = [x for tt, x in allev if a <= tt < b]
    ws = [dur for tt, dur in wsync if a <= tt < b]
    ops = [x for x in evs if x.startswith(('unlink', 'truncate'))]
    k = set()
    if c['other'] >= 0.3 * tot: k.add('neighbours>=30%cpu')
    if c['flush'] >= 0.2 * tot: k.add('flush>=20%cpu')
    if any(x.startswith('flush_start') for x in evs): k.add('flush_start')
    if c['comp'] >= 0.1 * tot or any(x.startswith('compact_start') for x in evs): k.add('compaction')
    if any(x.startswith('discard') for x in evs): k.add('discard')
    if any(x.startswith('flush_lift') for x in evs): k.add('flush_pace_lift')
    if any(('(' in x) for x in ops): k.add('unlink/truncate>=1ms')
    if any(x.startswith('wb_start') for x in evs): k.add('kernel_writeback')
    if max([r['nr_writeback'] for r in samp if a <= r['t'] < b] or [0]) * 4096 >= 20 << 20:
        k.add('pages_under_writeback>=20MB')
    if any(x in ('damos',) for x in evs) or c['damon'] >= 2: k.add('kdamond')
    if c['reclaim'] >= 1 or sd.get('scan', 0) > 0 or any('vmscan' in x or 'kswapd' in x or 'reclaim' in x for x in evs): k.add('reclaim')
    if sd.get('cstall', 0) > 0 or any('compaction_begin' in x for x in evs): k.add('mm_compaction')
    if sd.get('steal', 0) >= 10: k.add('steal>=10ms')
    if ws and max(ws) >= 10: k.add('wal_fdatasync>=10ms')
    if c['kwork'] >= 0.1 * tot: k.add('kworkers>=10%cpu')
    if c['load'] >= 0.35 * tot: k.add('dk_load>=35%cpu')
    return k
if samp:
    base = collections.Counter(); nwin = 0
    t = samp[0]['t'] + 0.1
    while t < samp[-1]['t'] - 0.05:
        for x in cands(t - 0.1, t + 0.05): base[x] += 1
        nwin += 1; t += 0.05
    for i, (e0, e1, mx) in enumerate(eps):
        print('CAUSES %s #%d max=%.1f: %s' % (d.rsplit('/', 1)[-1], i + 1, mx, ' '.join(sorted(cands(e0 - 0.1, e0 + 0.05)))))
    print('BASE %s windows=%d: %s' % (d.rsplit('/', 1)[-1], nwin, ' '.join('%s=%.2f' % (k, v / nwin) for k, v in sorted(base.items()))))
