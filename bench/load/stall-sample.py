#!/usr/bin/env python3
"""bench/load/stall-sample.py OUT SECONDS PID... - samples every 10 ms, on
CLOCK_MONOTONIC (the axis of perf -k mono and dk_load's SLOW lines), what
the kernel says about the machine and about the threads of PID...: per CPU
the /proc/stat times (user nice system idle iowait irq softirq steal),
selected /proc/vmstat counters (dirty/writeback pages, reclaim scans,
compaction, THP, faults), /proc/pressure/{cpu,io,memory} `some` totals, and
each thread's /proc/PID/task/TID/schedstat (time on CPU, time runnable but
waiting for one) plus the same for the kernel threads that can steal a CPU
(kdamond, kswapd, kcompactd, khugepaged). One line per sample: `S mono k=v
...`; first the sampler's own pid as `P pid` and the thread names as `T tid
comm`. Files stay open (pread), so a
sample costs a few dozen reads; stall-timeline.py OUT reads OUT/sample.txt."""
import os, sys, time
out, secs, pids = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
VM = ('nr_dirty', 'nr_writeback', 'nr_free_pages', 'pgscan_kswapd', 'pgscan_direct', 'pgsteal_kswapd',
      'pgsteal_direct', 'allocstall_normal', 'allocstall_movable', 'compact_stall', 'compact_migrate_scanned',
      'compact_free_scanned', 'thp_fault_alloc', 'thp_collapse_alloc', 'pgfault', 'pgmajfault', 'pgpgout',
      'workingset_refault_file', 'pgactivate', 'pgdeactivate', 'nr_dirtied', 'nr_written', 'pgfree')
def opn(p):
    try:
        return os.open(p, os.O_RDONLY)
    except OSError:
        return None
def rd(fd):
    try:
        return os.pread(fd, 65536, 0).decode()
    except OSError:
        return ''
threads = {}
for pid in pids:
    for tid in os.listdir('/proc/%s/task' % pid):
        fd = opn('/proc/%s/task/%s/schedstat' % (pid, tid))
        if fd is not None:
            threads[tid] = (fd, open('/proc/%s/task/%s/comm' % (pid, tid)).read().strip())
for pid in os.listdir('/proc'):
    if not pid.isdigit():
        continue
    try:
        comm = open('/proc/%s/comm' % pid).read().strip()
    except OSError:
        continue
    if comm.startswith(('kdamond', 'kswapd', 'kcompactd', 'khugepaged')):
        threads[pid] = (opn('/proc/%s/schedstat' % pid), comm)
fstat, fvm = opn('/proc/stat'), opn('/proc/vmstat')
fps = [(n, opn('/proc/pressure/' + n)) for n in ('cpu', 'io', 'memory')]
lines = ['P %d' % os.getpid()] + ['T %s %s' % (t, c) for t, (fd, c) in threads.items()]
t_end = time.clock_gettime(time.CLOCK_MONOTONIC) + secs
nxt = time.clock_gettime(time.CLOCK_MONOTONIC)
while True:
    now = time.clock_gettime(time.CLOCK_MONOTONIC)
    if now >= t_end:
        break
    f = ['S %.6f' % now]
    for l in rd(fstat).splitlines():
        if l.startswith('cpu') and l[3] != ' ':
            f.append('%s=%s' % (l[:4], ','.join(l.split()[1:9])))
    for l in rd(fvm).splitlines():
        k, v = l.split()
        if k in VM:
            f.append('%s=%s' % (k, v))
    for n, fd in fps:
        s = rd(fd)
        if s:
            f.append('psi_%s=%s' % (n, s.split('total=')[1].split()[0]))
    for tid, (fd, c) in threads.items():
        s = rd(fd).split()
        if s:
            f.append('t%s=%s,%s' % (tid, s[0], s[1]))
    lines.append(' '.join(f))
    nxt += 0.01
    d = nxt - time.clock_gettime(time.CLOCK_MONOTONIC)
    if d > 0:
        time.sleep(d)
    else:
        nxt = time.clock_gettime(time.CLOCK_MONOTONIC)
with open(out, 'w') as fo:
    fo.write('\n'.join(lines) + '\n')
