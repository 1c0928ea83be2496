"""What the threads of one chaos round share: the cluster, the stop flag,
the faults so far (so that every failed request can name the nodes that
were faulted while it ran) and the round's event log.

Fault records are lists [t_start, t_end or None, node id, kind]; t_end is
filled in when the fault is healed.  Times are time.time() seconds.
"""

import subprocess
import threading
import time

# A node counts as faulted for this long after its fault ends: a restarted
# node takes a moment to be counted normal again by the others.
RECOVERY_S = 3.0

_log_lock = threading.Lock()
_log_file = None


def ts(t=None):
    """HH:MM:SS.mmm (UTC) of time.time() value t (now by default)."""
    t = time.time() if t is None else t
    return time.strftime("%H:%M:%S", time.gmtime(t)) + ".%03d" % int((t % 1) * 1000)


def open_log(path):
    """Also append every log() line to path (the round's events.log)."""
    global _log_file
    _log_file = open(path, "w")


def log(msg):
    """One timestamped line to stdout and the events log; any thread."""
    line = "%s %s" % (ts(), msg)
    with _log_lock:
        print(line, flush=True)
        if _log_file:
            _log_file.write(line + "\n")
            _log_file.flush()


def sh(argv):
    """Run a command; its CompletedProcess with stdout and stderr together."""
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)


class State:
    """The round's shared state; `lock` guards faulted, fault_hist and
    reserved (the nodes a fault thread has claimed, so two fault threads
    never fault the same node at once)."""

    def __init__(self, cluster, pace):
        self.c = cluster
        self.pace = pace
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.faulted = {}
        self.fault_hist = []
        self.reserved = set()

    def mark(self, node_id, kind, on):
        """Record that a fault of `kind` on node_id begins (on) or ends."""
        with self.lock:
            if on:
                self.faulted[node_id] = kind
                self.fault_hist.append([time.time(), None, node_id, kind])
            else:
                self.faulted.pop(node_id, None)
                for h in reversed(self.fault_hist):
                    if h[2] == node_id and h[1] is None:
                        h[1] = time.time()
                        break
        log("FAULT %s %s %s" % ("begin" if on else "end", kind, node_id))

    def faulted_during(self, t0, t1):
        """Sorted ids of the nodes with a fault overlapping [t0, t1],
        counting RECOVERY_S after each fault's end."""
        out = set()
        with self.lock:
            for a, b, n, _ in self.fault_hist:
                if a <= t1 and (b is None or b + RECOVERY_S >= t0):
                    out.add(n)
            out.update(self.faulted)
        return sorted(out)

    def failure(self, op, key, coord, status, t0, resp=None):
        """The record of a request that did not answer 200 (or 404 for a
        GET): what, where, when, and which nodes were faulted meanwhile."""
        t1 = time.time()
        body = resp.body[:200].decode(errors="replace") if resp is not None else ""
        return dict(op=op, key=key, coord=coord, status=status, t0=t0, t1=t1,
                    faulted=self.faulted_during(t0, t1), body=body)

    def pause(self):
        """The pause between two requests of one load thread."""
        if self.pace:
            time.sleep(self.pace)
