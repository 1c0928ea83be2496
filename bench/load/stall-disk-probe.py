#!/usr/bin/env python3
"""bench/load/stall-disk-probe.py RATE_MBS DUTY sfr|plain - the disk alone: a
loop of 256 KiB overwrites + fdatasync (the WAL's pattern) for 15 s beside a
writer of 1 MiB appends at RATE_MBS for DUTY of every 0.5 s, with
sync_file_range(WAIT_BEFORE|WRITE) per MiB (sfr: the flush's pattern) or
without (plain), and an fsync per 64 MiB; prints the fdatasync
percentiles and how many took >= 10 ms. Files in /tmp/ep (made).
"""
import os, time, threading, sys, ctypes
libc=ctypes.CDLL(None, use_errno=True)
SFR=lambda f,n: libc.sync_file_range(ctypes.c_int(f), ctypes.c_longlong(0), ctypes.c_longlong(n), ctypes.c_uint(1|2))
rate_mbs=float(sys.argv[1]); duty=float(sys.argv[2]); mode=sys.argv[3]; secs=15
os.makedirs('/tmp/ep', exist_ok=True)
fn='/tmp/ep/disk-probe.dat'; fn2='/tmp/ep/disk-stream.dat'
fd=os.open(fn, os.O_RDWR|os.O_CREAT, 0o644)
os.ftruncate(fd, 64<<20); buf=os.urandom(256*1024)
for off in range(0, 64<<20, len(buf)): os.pwrite(fd, buf, off)
os.fsync(fd)
stop=False
def stream():
    chunk=os.urandom(1<<20)
    period=0.5; on=period*duty; per=rate_mbs*on  # MiB per burst
    f=os.open(fn2, os.O_WRONLY|os.O_CREAT|os.O_TRUNC, 0o644); written=0
    t0=time.monotonic()
    while not stop:
        tb=time.monotonic(); k=0
        while k<per and not stop:
            os.write(f, chunk); written+=1; k+=1
            SFR(f, written<<20) if mode=='sfr' else None
            dt=tb+k/rate_mbs-time.monotonic()
            if dt>0: time.sleep(dt)
            if written>=64:
                os.fsync(f); os.close(f); f=os.open(fn2, os.O_WRONLY|os.O_CREAT|os.O_TRUNC, 0o644); written=0
        dt=tb+period-time.monotonic()
        if dt>0: time.sleep(dt)
    os.close(f)
th=threading.Thread(target=stream); th.start()
lat=[]; t_end=time.monotonic()+secs; off=0
while time.monotonic()<t_end:
    os.pwrite(fd, buf, off); off=(off+len(buf))%(64<<20)
    t=time.monotonic(); os.fdatasync(fd); lat.append(time.monotonic()-t)
stop=True; th.join()
os.close(fd); os.unlink(fn); os.unlink(fn2)
lat.sort(); n=len(lat)
print(mode, 'stream %g MB/s duty %g (avg %g MB/s): syncs %d p50 %.2f p99 %.2f p99.9 %.2f max %.2f ms >=10ms: %d' % (rate_mbs, duty, rate_mbs*duty, n, lat[n//2]*1e3, lat[int(n*.99)]*1e3, lat[int(n*.999)]*1e3, lat[-1]*1e3, sum(1 for x in lat if x>=0.01)))
