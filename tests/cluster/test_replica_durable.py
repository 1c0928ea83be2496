"""A replica acknowledges a write only once the write is in its WAL: every
node of a 3-node cluster (N=3, lsm, sync = true) is killed with SIGKILL
while writes with X-Consistency: all stream in through two coordinators,
then all three are started again.

Replica writes take the engine's asynchronous path (the merge queued to
the WAL thread from the loop, the ACK sent from its completion), as do
the coordinators' own writes. SIGKILL keeps the page cache, so this shows
that what a replica acknowledged had been written to its WAL (not only
queued or in the memtable); that the write was also fdatasynced before
the completion ran is the engine's part, shown by test-lsm-crash's
write_async pass (a crash at every I/O point drops what was not synced).
An ACK sent a few microseconds early, before the group's write, is not
caught here: the kill rarely lands in that window.

Expected: every write answered 200 (all three replicas acknowledged it) is
in every node's own replica (GET /admin/local) right after the restart,
before hints or anti-entropy could have copied anything back; nearly all
replica writes were started on the loop (replica_writes_worker_total)."""

import signal
import threading
import time

import pytest

import dkcluster
from dkcluster import local, metric, put, values

IP_PREFIX = "127.0.61"

pytestmark = pytest.mark.skipif(not dkcluster.have_engine("lsm"),
                                reason="engine-lsm.so not built in %s" % dkcluster.PLUGIN_PATH)


class Writer(threading.Thread):
    """Writes fresh keys through one coordinator with W=all until stopped
    or until the node stops answering."""

    def __init__(self, node, tag):
        super().__init__(daemon=True)
        self.node = node
        self.tag = tag
        self.stop_flag = threading.Event()
        self.acked = {}
        self.error = None

    def run(self):
        i = 0
        try:
            while not self.stop_flag.is_set():
                key = "dur-%s-%05d" % (self.tag, i)
                val = ("v-%s-" % key) * 50  # ~1 KiB: copied into the WAL
                i += 1
                try:
                    r = put(self.node, key, val, cl="all", timeout=5)
                except OSError:
                    continue  # the node is being killed
                if r.status == 200:
                    self.acked[key] = val
        except BaseException as e:  # reported by the test
            self.error = e


def test_acknowledged_replica_writes_survive_sigkill_of_every_node(make_cluster):
    c = make_cluster(3, engine="lsm", sets=("storage.sync=true", "cluster.n_replicas=3"))
    n1, n2, n3 = c.nodes
    writers = [Writer(n1, "a"), Writer(n2, "b")]
    for w in writers:
        w.start()
    try:
        # 300 fsynced W=all writes: seconds on a quiet machine, maybe more
        # than 20 s on a loaded one (the loop ends at 300 either way)
        deadline = time.time() + 90
        while sum(len(w.acked) for w in writers) < 300 and time.time() < deadline:
            time.sleep(0.05)
        worker = sum(metric(n, "replica_writes_worker_total") for n in (n1, n2, n3))
        c.stop(sig=signal.SIGKILL)  # all three, mid-stream
    finally:
        for w in writers:
            w.stop_flag.set()
        for w in writers:
            w.join(30)
    for w in writers:
        assert not w.is_alive(), "writer thread hung"
        assert w.error is None, w.error
    acked = {}
    for w in writers:
        acked.update(w.acked)
    assert len(acked) >= 300, "only %d writes acknowledged by all replicas" % len(acked)
    # Each acknowledged write made two replica writes, nearly all on the loop.
    assert worker <= len(acked) * 2 * 0.1, "%d replica writes went to a worker" % worker

    c.start(timeout=60)
    lost = []
    for n in (n1, n2, n3):
        for k, v in sorted(acked.items()):
            r = local(n, k)
            if r.status != 200 or v.encode() not in values(r):
                lost.append((n.id, k, r.status))
    assert not lost, "%d acknowledged copies missing after SIGKILL of every node, e.g. %r" \
        % (len(lost), lost[:5])
