"""Anti-entropy between real nodes: 3 nodes, N = 3 (every node replicates
every key), cluster.anti_entropy_interval = 2 s, cluster.hint_window = 0
(no hinted handoff), so a replica that missed writes can only get them
back through anti-entropy or reads; these tests never read through the
coordinator before the replicas converged (they look at each node's own
copy with GET /admin/local/{key}), and check that no read repair ran.

Scripts:
  restarted replica (lsm): n3 stops; n1 takes new keys, overwrites and
    deletes; n3 starts again with its old data.  Within a few intervals
    (two on a quiet machine; AE_WAIT bounds it) n3's copy of every key
    equals n1's, deleted keys included (404 on both).
    While n3 is down `dynkv repair` through n1 exits 1 naming n3.
  tombstones and the repair rule (lsm, gc_grace = 1 s, 1 MiB memtables,
    l0_trigger = 1 so that writes force compactions): keys deleted while
    n3 is down stay as tombstones on n1 past gc_grace (compaction counts
    them in tombstones_kept_unrepaired_total) because n3 has not been
    repaired since; n3 comes back holding the old values and they are not
    resurrected: every copy ends deleted, and a quorum read says 404.  Once
    the exchanges with n3 completed, compaction purges the tombstones.
  wiped replica (memory engine): n3 restarts empty; anti-entropy refills
    it with all the keys; `dynkv repair` through n3 then succeeds and
    `dynkv -j repair status` shows every exchange without error.
  bit flip (lsm, anti-entropy only on demand): one byte in the middle of the
    data blocks of one of n3's tables is flipped while n3 is down.  n3 logs
    the damaged file and block offset; the block's keys are unreadable in
    its own copy, a client read of one of them through n3 at consistency one
    still answers the right value (from n1 or n2) and read repair rewrites
    n3's copy; `dynkv repair` through n3 then restores every other damaged
    key, so every key reads back from n3's own copy and at consistency one.
"""

import json
import os
import re
import struct
import time

import pytest

import dkcluster
from dkcluster import DYNKV, cli, delete, local, put, request, wait_until

IP_PREFIX = "127.0.8"
INTERVAL = 2.0
AE = ["cluster.anti_entropy_interval=2s", "cluster.hint_window=0"]
# How long a test waits for background work (anti-entropy rounds, a flush
# and its compaction, a restarted node's tree build): a round takes a
# fraction of a second on a quiet machine, but the first one after a start
# waits for the Merkle trees, and every poll below reads dozens to
# thousands of keys over HTTP; on a loaded CI machine two intervals plus 2
# s were once not enough. The bound only limits a hang: what the tests
# prove (the keys converged through anti-entropy, no read repair ran) is
# checked as before.
AE_WAIT = 15 * INTERVAL
DOWN_WAIT = 30.0    # gossip marking a stopped node down

lsm_only = pytest.mark.skipif(not dkcluster.have_engine("lsm"),
                              reason="engine-lsm.so not built in %s" % dkcluster.PLUGIN_PATH)


def metrics(node):
    """{name: value} of the node's dynkv_* series without labels."""
    r = request(node, "GET", "/metrics")
    assert r.status == 200, r
    out = {}
    for line in r.body.decode().splitlines():
        parts = line.split()
        if len(parts) == 2 and not line.startswith("#") and "{" not in parts[0]:
            out[parts[0]] = float(parts[1])
    return out


def counter(node, name):
    return metrics(node).get("dynkv_" + name, 0)


def copy_of(node, key):
    """(status, sorted values) of the node's own copy: 404 for a missing or
    deleted key."""
    r = local(node, key)
    if r.status != 200:
        return (r.status, [])
    return (200, dkcluster.values(r))


def differing(a, b, keys):
    return [k for k in keys if copy_of(a, k) != copy_of(b, k)]


def repair_status(node):
    r = request(node, "GET", "/admin/repair")
    assert r.status == 200, r
    return r.json()



@lsm_only
def test_restarted_replica_is_repaired_without_reads(make_cluster):
    c = make_cluster(3, engine="lsm", sets=AE)
    n1, n2, n3 = c.nodes
    pre = ["pre-%02d" % i for i in range(30)]
    for k in pre:
        assert put(n1, k, "v1-" + k, cl="all").status == 200
    c.stop("n3")
    assert wait_until(lambda: dkcluster.states(n1).get("n3") == "down", DOWN_WAIT), dkcluster.states(n1)

    down = ["down-%02d" % i for i in range(30)]
    for k in down:
        assert put(n1, k, "new-" + k, cl="quorum").status == 200
    for k in pre[:10]:                      # overwritten (causally: read the context first)
        ctx = local(n1, k).header("x-context")
        assert put(n1, k, "v2-" + k, cl="quorum", headers={"X-Context": ctx}).status == 200
    for k in pre[10:20]:                    # deleted
        assert delete(n1, k, cl="quorum").status == 200

    # A repair now cannot reach n3: the CLI says so and exits 1.
    rc, out, err = cli(n1, "repair")
    assert rc == 1 and "n3" in err and "down" in err, (rc, out, err)

    c.start("n3", timeout=30)
    keys = pre + down
    t0 = time.monotonic()
    left = wait_until(lambda: not differing(n1, n3, keys), AE_WAIT, 0.2) or \
        differing(n1, n3, keys)
    assert left is True, "after %.1f s n3's copies of %d keys differ from n1's, e.g. %r" \
        % (time.monotonic() - t0, len(left), [(k, copy_of(n1, k), copy_of(n3, k)) for k in left[:3]])
    assert copy_of(n3, "pre-15") == (404, []), "a deleted key came back on n3"
    assert copy_of(n3, "pre-05") == (200, [b"v2-pre-05"])
    assert copy_of(n3, "down-29") == (200, [b"new-down-29"])
    assert not differing(n1, n2, keys)
    # Nothing was read through a coordinator, so no read repair ran:
    # anti-entropy alone moved the keys.
    assert sum(counter(n, "read_repairs_total") for n in c.nodes) == 0
    assert sum(counter(n, "repair_keys_received_total") + counter(n, "repair_keys_sent_total")
               for n in c.nodes) >= 50
    st = repair_status(n3)
    assert st["trees"]["state"] == "ready" and st["groups"][0]["replicas"] == "n1,n2,n3", st


@lsm_only
def test_tombstones_kept_until_every_replica_has_them(make_cluster):
    c = make_cluster(3, engine="lsm", sets=AE + [
        "cluster.gc_grace=1s", "storage.memtable_size=1MiB", "compaction.leveled.l0_trigger=1",
        "storage.sync=false"])
    n1, n2, n3 = c.nodes
    keys = ["gc-%02d" % i for i in range(20)]

    def pad(tag):
        """~1.2 MB of writes interleaved with the deleted keys: the memtable
        flushes and compaction rewrites the tombstones' table."""
        for k in keys:
            for i in range(3):
                assert put(n1, "%s-%s%d" % (k, tag, i), b"x" * 20000, cl="quorum").status == 200

    for k in keys:
        assert put(n1, k, "old", cl="all").status == 200
    c.stop("n3")
    assert wait_until(lambda: dkcluster.states(n1).get("n3") == "down", DOWN_WAIT), dkcluster.states(n1)
    deleted_at = time.time() * 1000
    for k in keys:
        assert delete(n1, k, cl="quorum").status == 200
    time.sleep(1.5)                         # past gc_grace
    pad("a")
    kept = wait_until(lambda: counter(n1, "tombstones_kept_unrepaired_total") >= len(keys), AE_WAIT)
    assert kept, metrics(n1)
    assert counter(n1, "tombstones_purged_total") == 0
    assert repair_status(n1)["repaired_before_ms"] < deleted_at

    c.start("n3", timeout=30)

    def undeleted(n):
        return [k for k in keys if copy_of(n, k)[0] != 404]

    assert wait_until(lambda: not undeleted(n3), AE_WAIT, 0.2), "not deleted on n3: %r" % undeleted(n3)
    for n in (n1, n2):
        assert not undeleted(n), "resurrected on %s: %r" % (n.id, undeleted(n))
    assert [dkcluster.get(n1, k, cl="quorum").status for k in keys[:5]] == [404] * 5

    # Once every peer was repaired after the deletes, compaction may purge.
    assert wait_until(lambda: repair_status(n1)["repaired_before_ms"] > deleted_at, AE_WAIT, 0.2)
    pad("b")
    assert wait_until(lambda: counter(n1, "tombstones_purged_total") >= 1, AE_WAIT), metrics(n1)
    assert [dkcluster.get(n2, k, cl="all").status for k in keys[:5]] == [404] * 5


def test_wiped_replica_is_refilled(make_cluster):
    if not os.access(DYNKV, os.X_OK):
        pytest.fail("%s is not built (make client/dynkv)" % DYNKV)
    c = make_cluster(3, sets=AE)            # memory engine: a restart loses everything
    n1, n2, n3 = c.nodes
    keys = ["w-%03d" % i for i in range(200)]
    for k in keys:
        assert put(n1, k, "val-" + k, cl="all").status == 200
    c.stop("n3")
    c.start("n3", timeout=30)

    def held():
        return sum(1 for k in keys if local(n3, k).status == 200)

    assert wait_until(lambda: held() == len(keys), AE_WAIT, 0.3), \
        "n3 holds %d of %d keys" % (held(), len(keys))
    assert not differing(n1, n3, keys[::17])
    assert sum(counter(n, "read_repairs_total") for n in c.nodes) == 0

    rc, out, err = cli(n3, "repair")
    assert rc == 0 and "done" in out and "0 failed" in out, (rc, out, err)
    rc, out, err = cli(n3, "-j", "repair", "status")
    assert rc == 0, err
    st = json.loads(out)
    peers = {p["peer"]: p for g in st["groups"] for p in g["peers"]}
    assert set(peers) == {"n1", "n2"}, st
    assert all(p["last_error"] is None and p["last_end_ms"] for p in peers.values()), st
    assert st["repaired_before_ms"] > 0
    rc, out, err = cli(n1, "repair", "--key-prefix", "w-1")
    assert rc == 0 and "done" in out, (rc, out, err)


@lsm_only
def test_lost_table_is_refilled(make_cluster):
    """A table file of n3 disappears while it is down (a lost disk block, a
    slip of an operator's rm): n3 starts without it (the log names the file,
    lsm_tables_lost_total counts it) and anti-entropy brings the keys back
    from n1 and n2, with no client read."""
    c = make_cluster(3, engine="lsm", sets=AE + ["storage.memtable_size=1MiB", "storage.sync=false"])
    n1, n2, n3 = c.nodes
    pad = "x" * 2000
    keys = ["t-%04d" % i for i in range(1200)]     # ~2.4 MB: tables on every node
    for k in keys:
        assert put(n1, k, pad + k, cl="all").status == 200
    engine_dir = os.path.join(n3.data_dir, "engine")
    c.stop("n3")
    tables = sorted(f for f in os.listdir(engine_dir) if f.endswith(".sst"))
    assert tables, os.listdir(engine_dir)
    os.unlink(os.path.join(engine_dir, tables[0]))
    c.start("n3", timeout=30)
    assert wait_until(lambda: counter(n3, "lsm_tables_lost_total") == 1, AE_WAIT), metrics(n3)
    assert tables[0] in n3.read_log()

    def held():
        return sum(1 for k in keys if local(n3, k).status == 200)

    assert wait_until(lambda: held() == len(keys), 2 * AE_WAIT, 0.5), \
        "n3 holds %d of %d keys" % (held(), len(keys))
    assert not differing(n1, n3, keys[::37])
    assert sum(counter(n, "read_repairs_total") for n in c.nodes) == 0


@lsm_only
def test_bit_flip_in_a_table_is_repaired(make_cluster):
    """A byte of a data block flips on n3's disk while it is down: the damaged
    block's keys are lost on n3 only, never its other keys, and repair brings
    them back so that n3 answers every key itself."""
    # Anti-entropy runs only when asked (POST /admin/repair through the CLI),
    # so the read repair below is seen on its own first.
    c = make_cluster(3, engine="lsm", sets=["cluster.anti_entropy_interval=1h", "cluster.hint_window=0",
                                            "storage.memtable_size=1MiB", "storage.sync=false"])
    n1, n2, n3 = c.nodes
    pad = "y" * 1500
    keys = ["b-%04d" % i for i in range(1500)]      # ~2.3 MB: several tables per node
    for k in keys:
        assert put(n1, k, pad + k, cl="all").status == 200
    engine_dir = os.path.join(n3.data_dir, "engine")
    c.stop("n3")
    tables = sorted(f for f in os.listdir(engine_dir) if f.endswith(".sst"))
    assert tables, os.listdir(engine_dir)
    # The largest table; its data blocks run from 0 to the filter block,
    # whose offset the footer's first 8 bytes hold (little-endian).
    victim = max(tables, key=lambda f: os.path.getsize(os.path.join(engine_dir, f)))
    path = os.path.join(engine_dir, victim)
    with open(path, "r+b") as f:
        f.seek(-64, os.SEEK_END)
        data_end = struct.unpack("<Q", f.read(8))[0]
        assert data_end > 8192, (victim, data_end)
        flip = data_end // 2
        f.seek(flip)
        b = f.read(1)
        f.seek(flip)
        f.write(bytes([b[0] ^ 0x10]))
    c.start("n3", timeout=30)

    def damaged():
        return [k for k in keys if local(n3, k).status != 200]

    # Starting, n3 builds its Merkle trees by scanning its store: the scan
    # skips the damaged block and logs it with the file and the block's offset.
    assert wait_until(lambda: counter(n3, "lsm_corrupt_blocks_skipped_total") >= 1, 2 * AE_WAIT, 0.3), metrics(n3)
    pat = r"skipping the damaged data block of \S*%s at offset (\d+)" % re.escape(victim)
    m = re.search(pat, n3.read_log())
    assert m, dkcluster.log_tail(c, "n3")
    off = int(m.group(1))
    assert off <= flip < off + 64 * 1024, (off, flip)
    lost = damaged()
    assert 1 <= len(lost) <= 200, len(lost)
    # Nothing else is lost, on n3 or anywhere.
    assert not differing(n1, n2, keys[::29])

    # A client read of a damaged key through n3 at consistency one: the
    # damaged local copy is no answer (no 500), n1 or n2 answers, and read
    # repair rewrites n3's copy.
    probe = lost[0]
    r = dkcluster.get(n3, probe, cl="one")
    assert r.status == 200 and dkcluster.values(r) == [(pad + probe).encode()], r
    assert wait_until(lambda: copy_of(n3, probe) == (200, [(pad + probe).encode()]), AE_WAIT, 0.2), copy_of(n3, probe)
    assert counter(n3, "coord_damaged_copies_total") >= 1

    # Repair restores the rest without client reads.
    rc, out, err = cli(n3, "repair")
    assert rc == 0 and "done" in out, (rc, out, err)
    assert wait_until(lambda: not damaged(), 2 * AE_WAIT, 0.5), damaged()
    for k in lost:
        assert copy_of(n3, k) == (200, [(pad + k).encode()]), (k, copy_of(n3, k))
    for k in keys:
        r = dkcluster.get(n3, k, cl="one")
        assert r.status == 200 and dkcluster.values(r) == [(pad + k).encode()], (k, r)
    assert not differing(n1, n3, keys[::13])


@lsm_only
def test_saved_trees(make_cluster):
    """The Merkle trees are saved at a clean stop and loaded at the next
    start instead of scanning the store, only while the copy is fresh: a
    clean restart loads them (merkle_loads_total, no rebuild) and a repair
    through the node then finds no difference; a kill -9 after writes
    leaves no copy (it is consumed at start), so the trees are rebuilt and
    repair is still exact; a copy older than the store's last write, or
    damaged, is logged (the damage with file and offset) and rebuilt."""
    c = make_cluster(3, engine="lsm", sets=["cluster.anti_entropy_interval=1h", "cluster.hint_window=0"])
    n1, n2, n3 = c.nodes
    saved = os.path.join(n3.data_dir, "merkle.trees")
    # The ring settled first: the nodes join one by one, and trees saved
    # while n3 still held the layout of an earlier ring are rightly found
    # stale at the next start (a CI run stopped n3 245 ms after the last
    # join, before its trees were rebuilt for the final ring).
    for m in ("n1", "n2", "n3"):
        dkcluster.wait_status(c.nodes, m, "normal", 60)
    keys = ["s-%03d" % i for i in range(300)]
    for k in keys:
        assert put(n1, k, "v-" + k, cl="all").status == 200
    assert wait_until(lambda: repair_status(n3)["trees"]["state"] == "ready", AE_WAIT, 0.1), repair_status(n3)

    def repair_moves_nothing(node):
        before = sum(counter(n, "repair_keys_received_total") + counter(n, "repair_keys_sent_total")
                     for n in c.nodes)
        rc, out, err = cli(node, "repair")
        assert rc == 0 and "done" in out and "0 failed" in out, (rc, out, err)
        after = sum(counter(n, "repair_keys_received_total") + counter(n, "repair_keys_sent_total")
                    for n in c.nodes)
        assert after == before, "repair moved %d keys between replicas that agree" % (after - before)

    # Clean restart: the copy is written at the stop and loaded at the start.
    c.stop("n3")
    assert os.path.exists(saved), os.listdir(n3.data_dir)
    assert "trees of 1 replica group saved to" in n3.read_log()
    c.start("n3", timeout=30)
    assert wait_until(lambda: counter(n3, "merkle_loads_total") == 1, AE_WAIT, 0.2), metrics(n3)
    assert counter(n3, "merkle_rebuilds_total") == 0
    assert not os.path.exists(saved), "the copy must be consumed at start"
    assert "loaded from the copy saved at the last stop" in n3.read_log()
    assert repair_status(n3)["trees"]["loads"] == 1
    repair_moves_nothing(n3)
    # The loaded trees follow writes like built ones.
    more = ["t-%03d" % i for i in range(100)]
    for k in more:
        assert put(n1, k, "v-" + k, cl="all").status == 200
    for k in keys[:50]:
        assert delete(n1, k, cl="all").status == 200
    repair_moves_nothing(n3)

    # kill -9 after writes: no copy, the trees are rebuilt from the store.
    c.kill("n3")
    assert not os.path.exists(saved)
    c.start("n3", timeout=30)
    assert wait_until(lambda: counter(n3, "merkle_rebuilds_total") == 1, AE_WAIT, 0.2), metrics(n3)
    assert counter(n3, "merkle_loads_total") == 0
    repair_moves_nothing(n3)
    assert not differing(n1, n3, keys[::7] + more[::7])

    # A stale copy (the store was written after it was saved) is not used.
    c.stop("n3")
    old = open(saved, "rb").read()
    c.start("n3", timeout=30)
    for k in more[:20]:
        assert put(n1, k, "v2-" + k, cl="all").status == 200
    c.stop("n3")
    with open(saved, "wb") as f:
        f.write(old)
    c.start("n3", timeout=30)
    assert wait_until(lambda: counter(n3, "merkle_rebuilds_total") == 1, AE_WAIT, 0.2), metrics(n3)
    assert counter(n3, "merkle_loads_total") == 0
    # (the writes changed the sequence number and, flushed at the stop, the
    # table files: the first check that fails is named)
    assert re.search(r"the saved trees were stale: the (store|engine's table files) changed since they were "
                     r"saved", n3.read_log()), dkcluster.log_tail(c, "n3")
    repair_moves_nothing(n3)

    # A damaged copy: logged with the file and offset, rebuilt, never fatal.
    c.stop("n3")
    data = bytearray(open(saved, "rb").read())
    data[len(data) // 2] ^= 0x01
    with open(saved, "wb") as f:
        f.write(bytes(data))
    c.start("n3", timeout=30)
    assert wait_until(lambda: counter(n3, "merkle_rebuilds_total") == 1, AE_WAIT, 0.2), metrics(n3)
    assert re.search(r"the saved trees are damaged: \S*merkle\.trees at offset \d+: checksum mismatch",
                     n3.read_log()), dkcluster.log_tail(c, "n3")
    repair_moves_nothing(n3)
    assert not differing(n1, n3, keys[::7] + more[::7])
