"""The faults of a chaos round, injected by one or more Faulter threads,
and the clock skew set up before the nodes start.

Kinds (--faults), each on one node unless said otherwise:
  kill9      SIGKILL, down 1-6 s, start again
  stop       SIGSTOP 0.5-3 s, then SIGCONT (a stalled process, sockets open)
  graceful   SIGTERM (stop), down 0.5-3 s, start again
  partition  iptables drops the node's packets to and from the others 2-8 s
  oneway     only the packets from the node to the others are dropped, 2-8 s
  crashloop  SIGKILL, then 1-3 starts each killed within 1.5 s, then a start
  wipe       SIGKILL, its data directory emptied (disk loss), start again
  split      all nodes: 2|2 network split for 3-8 s
  killall    all nodes: SIGKILL at once, start them all again
A fault thread picks a kind and a free node at random, waits 1-5 s healthy
between faults; two threads never fault the same node, and split/killall
wait until no other fault is under way.

iptables only runs inside the private network namespace chaos.py insists
on (rules go into its INPUT chain, which dies with the namespace).

Clock skew (--skew MS): bench/chaos/skew.c, an LD_PRELOAD shim that shifts
CLOCK_REALTIME by DK_SKEW_MS, is compiled with cc into the round's folder;
$DYNKVD then names a small wrapper that starts each dynkvd with the skew
written in its node folder (skew_ms).  tools/dynkv-cluster honours
$DYNKVD, so every start and restart gets its node's skew.
"""

import os
import shutil
import signal
import threading
import time
import traceback

from state import log, sh, ts

HERE = os.path.dirname(os.path.abspath(__file__))
KINDS = ("kill9", "stop", "graceful", "partition", "oneway", "crashloop", "wipe", "split", "killall")
ALL_NODES = ("split", "killall")


def drop(pairs, on):
    """Add (on) or delete iptables rules dropping packets src -> dst for
    each (src ip, dst ip) of pairs; the error lines, if any."""
    errs = []
    for s, d in pairs:
        p = sh(["iptables", "-w", "-A" if on else "-D", "INPUT", "-s", s, "-d", d, "-j", "DROP"])
        if p.returncode:
            errs.append(p.stdout.strip())
    return errs


def _cut_off(c, node):
    others = [o.ip for o in c.nodes if o.id != node.id]
    return [(node.ip, o) for o in others] + [(o, node.ip) for o in others]


def heal_all(c):
    """Undo every fault: SIGCONT every node, flush the INPUT chain."""
    for n in c.nodes:
        pid = c.pid(n.id)
        if pid:
            try:
                os.kill(pid, signal.SIGCONT)
            except OSError:
                pass
    sh(["iptables", "-w", "-F", "INPUT"])


def setup_skew(c, out, max_ms, rng):
    """Give each node a clock offset in [-max_ms, max_ms] ms; returns
    {node id: ms}.  Builds the shim into `out`, writes each node's
    skew_ms and points $DYNKVD at the wrapper."""
    lib = os.path.join(out, "skew.so")
    p = sh(["cc", "-shared", "-fPIC", "-O2", "-o", lib, os.path.join(HERE, "skew.c"), "-ldl"])
    if p.returncode:
        raise RuntimeError("building the clock-skew shim failed:\n" + p.stdout)
    real = os.environ["DYNKVD"]
    wrapper = os.path.join(out, "dynkvd-skew")
    with open(wrapper, "w") as f:
        f.write('#!/bin/sh\n'
                '# dynkvd with the clock skew in the skew_ms file beside its node.ini\n'
                'for a; do case $a in */node.ini) f=${a%%/node.ini}/skew_ms ;; esac; done\n'
                'if [ -n "$f" ] && [ -s "$f" ]; then\n'
                '    DK_SKEW_MS=$(cat "$f"); export DK_SKEW_MS LD_PRELOAD=%s\n'
                '    echo "=== clock skew $DK_SKEW_MS ms" >&2\n'
                'fi\n'
                'exec %s "$@"\n' % (lib, real))
    os.chmod(wrapper, 0o755)
    os.environ["DYNKVD"] = wrapper
    skew = {}
    for n in c.nodes:
        skew[n.id] = rng.randint(-max_ms, max_ms)
        with open(os.path.join(n.dir, "skew_ms"), "w") as f:
            f.write("%d\n" % skew[n.id])
    return skew


class Faulter(threading.Thread):
    def __init__(self, st, rng, kinds):
        super().__init__(daemon=True)
        self.st, self.rng, self.kinds = st, rng, kinds
        self.error = None
        self.restart_failures = []   # (node id or "all", time, message)

    def run(self):
        try:
            time.sleep(self.rng.uniform(2, 4))
            while not self.st.stop.is_set():
                kind = self.rng.choice(self.kinds)
                nodes = self.claim(kind)
                if not nodes:
                    time.sleep(0.5)
                    continue
                try:
                    if kind in ALL_NODES:
                        getattr(self, kind)()
                    else:
                        getattr(self, kind)(nodes[0])
                finally:
                    with self.st.lock:
                        self.st.reserved.difference_update(n.id for n in nodes)
                time.sleep(self.rng.uniform(1.0, 5.0))
        except BaseException:
            self.error = traceback.format_exc()
            log("FAULTER ERROR %s" % self.error)

    def claim(self, kind):
        """Reserve the nodes for one fault: all (none reserved yet) or one
        free one at random; [] when there are none."""
        c, st = self.st.c, self.st
        with st.lock:
            if kind in ALL_NODES:
                if st.reserved:
                    return []
                got = list(c.nodes)
            else:
                free = [n for n in c.nodes if n.id not in st.reserved]
                if not free:
                    return []
                got = [self.rng.choice(free)]
            st.reserved.update(n.id for n in got)
        return got

    def mark(self, nodes, kind, on):
        for n in nodes:
            self.st.mark(n.id, kind, on)

    def restart(self, node):
        """Start node again and wait until it and every unfaulted node see
        each other normal; on failure record it and try a plain start."""
        c, st = self.st.c, self.st
        try:
            with st.lock:
                expect = [n.id for n in c.nodes if n.id == node.id or n.id not in st.faulted]
            c.start(node.id, timeout=60, wait="cluster", expect=expect)
        except Exception as e:
            self.restart_failures.append((node.id, ts(), str(e)[:2000]))
            log("RESTART FAILED %s: %s" % (node.id, str(e)[:500]))
            try:
                c.start(node.id, timeout=60, wait="health")
            except Exception as e2:
                log("RESTART FAILED again %s: %s" % (node.id, str(e2)[:300]))

    def down_then_up(self, node, kind, stop, down_s):
        self.mark([node], kind, True)
        stop()
        time.sleep(self.rng.uniform(*down_s))
        self.restart(node)
        self.mark([node], kind, False)

    def kill9(self, node):
        self.down_then_up(node, "kill9", lambda: self.st.c.kill(node.id), (1.0, 6.0))

    def graceful(self, node):
        def stop():
            if self.st.c.stop(node.id, timeout=30).get(node.id) == "killed":
                log("GRACEFUL STOP of %s needed SIGKILL" % node.id)
                self.restart_failures.append((node.id, ts(), "graceful stop needed SIGKILL"))
        self.down_then_up(node, "graceful", stop, (0.5, 3.0))

    def wipe(self, node):
        def stop():
            self.st.c.kill(node.id)
            shutil.rmtree(node.data_dir, ignore_errors=True)
            os.makedirs(node.data_dir, exist_ok=True)
            log("wipe: %s data directory emptied" % node.id)
        self.down_then_up(node, "wipe", stop, (0.5, 3.0))

    def crashloop(self, node):
        c = self.st.c

        def stop():
            c.kill(node.id)
            time.sleep(self.rng.uniform(0.5, 2.0))
            for _ in range(self.rng.randint(1, 3)):
                c.spawn(node.id)
                time.sleep(self.rng.uniform(0.05, 1.5))
                c.kill(node.id)
                log("crashloop: killed %s again" % node.id)
        self.down_then_up(node, "crashloop", stop, (0.5, 2.0))

    def stop(self, node):
        pid = self.st.c.pid(node.id)
        if not pid:
            return
        self.mark([node], "stop", True)
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(self.rng.uniform(0.5, 3.0))
        finally:
            os.kill(pid, signal.SIGCONT)
        self.mark([node], "stop", False)

    def dropping(self, nodes, kind, pairs, secs):
        """Drop the packets of `pairs` for `secs` seconds, faulting `nodes`."""
        self.mark(nodes, kind, True)
        errs = drop(pairs, True)
        if errs:
            log("iptables errors: %s" % errs)
        try:
            time.sleep(secs)
        finally:
            drop(pairs, False)
        self.mark(nodes, kind, False)

    def partition(self, node):
        self.dropping([node], "partition", _cut_off(self.st.c, node), self.rng.uniform(2.0, 8.0))

    def oneway(self, node):
        pairs = [(node.ip, o.ip) for o in self.st.c.nodes if o is not node]
        self.dropping([node], "oneway", pairs, self.rng.uniform(2.0, 8.0))

    def split(self):
        c = self.st.c
        a = self.rng.sample(c.nodes, 2)
        b = [n for n in c.nodes if n not in a]
        log("split %s | %s" % ([n.id for n in a], [n.id for n in b]))
        pairs = [(x.ip, y.ip) for x in a for y in b] + [(y.ip, x.ip) for x in a for y in b]
        self.dropping(c.nodes, "split", pairs, self.rng.uniform(3.0, 8.0))

    def killall(self):
        c = self.st.c
        self.mark(c.nodes, "killall", True)
        c.stop(sig=signal.SIGKILL)
        time.sleep(self.rng.uniform(0.5, 3.0))
        try:
            c.start(timeout=90)
        except Exception as e:
            self.restart_failures.append(("all", ts(), str(e)[:2000]))
            log("RESTART ALL FAILED: %s" % str(e)[:500])
            for n in c.nodes:
                if not c.alive(n.id):
                    try:
                        c.start(n.id, timeout=60, wait="health")
                    except Exception:
                        pass
        self.mark(c.nodes, "killall", False)
