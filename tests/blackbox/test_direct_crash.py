"""Blob files written around the page cache ([engine.lsm] blob_direct_io)
through real crashes: a node with the option on and a 1 MiB memtable takes
large and small values from four writers, so it flushes blob files and
compacts (relocating every blob file's live values: blob_gc_age_cutoff
100) all the time, and is killed with SIGKILL in the middle of it, four
times. After each restart every acknowledged write reads back byte for
byte; a write in flight at the kill may have landed or not, nothing else.
A direct file that was being written when the process died is never
named by a table (flush and compaction sync it before they install it),
so what the kill tore must not show.

Each writer owns its keys and writes them one at a time with the context
of the key's last answer, so a key's state is exactly its last
acknowledged value, or the value in flight when the node died."""

import http.client
import os
import random
import re
import threading
import time

import pytest

import dkbb
from dkbb import unb64

WRITERS = 4
KEYS_PER_WRITER = 40
KILLS = 4
SETS = ["engine.lsm.blob_direct_io=true", "storage.memtable_size=1MiB",
        "engine.lsm.blob_gc_age_cutoff=100"]
NO_DIRECT = "takes no direct I/O"


def metric(n, name):
    """The value of an unlabelled sample of /metrics (0 when absent)."""
    m = re.search(r"^%s (\S+)$" % re.escape(name), n.metrics().body.decode(), re.M)
    return float(m.group(1)) if m else 0.0


def value_for(rng):
    """Mostly blob values (4-40 KiB, lengths off the 4 KiB grid), some
    small ones that stay in the tables."""
    size = rng.randrange(60, 300) if rng.random() < 0.15 else rng.randrange(4096, 40960)
    return rng.randbytes(size)


class Writer(threading.Thread):
    """Writes its keys round-robin until the node goes away.
    acked[k]: the last value the node acknowledged (absent: none);
    pending[k]: the value of a PUT sent without an answer; ctx[k]: the
    context to write k with."""

    def __init__(self, n, wid, acked, ctx, seed):
        super().__init__(daemon=True)
        self.n, self.keys = n, ["dx%d-%03d" % (wid, i) for i in range(KEYS_PER_WRITER)]
        self.acked, self.ctx, self.pending = acked, ctx, {}
        self.rng = random.Random(seed)
        self.puts, self.error = 0, None

    def run(self):
        i = 0
        while True:
            k = self.keys[i % len(self.keys)]
            i += 1
            v = value_for(self.rng)
            self.pending[k] = v
            headers = {"X-Context": self.ctx[k]} if k in self.ctx else None
            try:
                r = self.n.put(k, v, headers)
            except (OSError, http.client.HTTPException):
                return  # the node died, perhaps mid-answer: v stays pending
            if r.status != 200:
                self.error = "PUT %r: %r" % (k, r)
                return
            self.acked[k] = v
            self.ctx[k] = r.json()["context"]
            del self.pending[k]
            self.puts += 1


def check_after_restart(n, writers, acked, ctx):
    """Every key holds its acknowledged value or the one in flight; the
    context read back is the one to write with next."""
    for w in writers:
        for k in w.keys:
            allowed = [acked.get(k)] + ([w.pending[k]] if k in w.pending else [])
            r = n.get(k)
            if r.status == 404:
                got = None
            else:
                assert r.status == 200, "GET %r after the kill: %r" % (k, r)
                j = r.json()
                assert not j.get("conflict"), "key %r has siblings: %r" % (k, j)
                got = unb64(j["value"])
                ctx[k] = j["context"]
            assert got in allowed, (
                "key %r after the kill: %s, acknowledged %s, in flight %s" % (
                    k, "missing" if got is None else "%d bytes that are neither" % len(got),
                    None if acked.get(k) is None else "%d bytes" % len(acked[k]),
                    "%d bytes" % len(w.pending[k]) if k in w.pending else "nothing"))
            if got is not None:
                acked[k] = got  # what landed is what later writes supersede


def test_direct_blob_files_survive_sigkill(make_node):
    if not dkbb.have_engine("lsm"):
        pytest.skip("engine-lsm.so not built in %s" % dkbb.PLUGIN_PATH)
    n = make_node("lsm", sets=SETS)
    acked, ctx = {}, {}
    rng = random.Random(20261207)
    total_puts = gc_records = 0
    for _ in range(KILLS):
        writers = [Writer(n, w, acked, ctx, rng.random()) for w in range(WRITERS)]
        for w in writers:
            w.start()
        flushes0 = metric(n, "dynkv_engine_lsm_flushes_total")
        # Kill once the node has flushed a few times on this run, at a
        # moment the writers cannot foresee.
        assert dkbb.wait_until(lambda: metric(n, "dynkv_engine_lsm_flushes_total") >= flushes0 + 3, 60), \
            "no flushes under the writers\n" + n.read_log()[-3000:]
        time.sleep(rng.uniform(0.05, 0.6))
        direct_files = metric(n, "dynkv_engine_lsm_blob_files_direct_total")
        gc_records += metric(n, "dynkv_engine_lsm_blob_gc_records_total")
        n.kill()
        for w in writers:
            w.join(30)
            assert not w.is_alive(), "a writer hangs on the killed node"
            assert w.error is None, w.error
            total_puts += w.puts
        log = n.read_log()
        assert direct_files > 0 or NO_DIRECT in log, (
            "blob_direct_io is on, yet no blob file was written direct and the "
            "node did not say why\n" + log[-3000:])
        n.start()
        check_after_restart(n, writers, acked, ctx)
        for w in writers:
            w.pending.clear()
    # Compactions relocated live values to new blob files along the way
    # (direct ones too, where the file system takes them), and the node
    # goes on taking writes over the recovered state.
    assert total_puts > KILLS * 50, total_puts
    assert gc_records > 0, "no blob file was collected between the kills"
    for k in list(acked)[:20]:
        v = os.urandom(5000)
        n.put_ok(k, v, {"X-Context": ctx[k]})
        assert n.get_value(k) == v
