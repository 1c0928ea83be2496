"""The read fence of every node that gains ranges in a move, and across a
restart (cluster/read_fence.h).

  decommission with hints  4 nodes, n_replicas = 2; a writer writes at
                    quorum through n1 and n4 while n2 is decommissioned
                    and n3, one of the nodes that gain n2's ranges, is
                    frozen (SIGSTOP) for 3 s meanwhile: copies sent to it
                    as a pending replica fail and wait as hints.  The
                    moment n2 is "left" everywhere, every acknowledged key
                    reads at X-Consistency: one through n1, n3 and n4 (no
                    miss tolerated): n3 serves no read of its new ranges
                    until every member counts it and has replayed its hints.
  restart while fenced     the same move with the lsm engine, n3 frozen and
                    then killed (-9) while its new ranges are fenced: the
                    fence is in its data folder, n3 comes back fenced at
                    once (before the move could re-raise it), keeps it
                    until its handoff check passes after the move, and
                    every key then reads at one through every node.
  writes planned before the end
                    the test hook DK_TEST_WRITE_DELAY_MS (every client
                    write starts 600 ms after its plan) leaves writes in
                    flight on every coordinator, the leaver included, that
                    were planned with the new owners only pending and
                    replicate after the move ended: each still sends its
                    copy to the new owner (taken with the plan), the new
                    owners' fences wait for them (the leaver is asked
                    while it runs), and no read at one misses, right after
                    the move or once every fence is lifted.  Without the
                    plan-time copies 4 to 6 reads missed for good.
  the leaver is asked after it left
                    only n2 delays its writes (the same hook), and every
                    write goes through n2: when it announces that it left,
                    writes it planned with the move's ring are still to
                    replicate, each with a copy for a new owner.  The new
                    owners' checks ask n2 although it is left, so their
                    fences wait for those copies (about a second here; 1 ms
                    when the left node was not asked: a copy of those that
                    failed would have waited as a hint on n2 while the new
                    owner served reads).  No read at one misses.
  killed after the move, before its check
                    the same hook keeps n3's check open after the move
                    ended on it; n3 is killed (-9) then: it comes back
                    fenced, its check passes in its new life, and no read
                    at one misses.
"""

import os
import signal
import time

import pytest

import dkcluster
from dkcluster import (Writer, check_reads, metric, post, statuses, view, wait_status, wait_unfenced, wait_until,
                       write_keys)

IP_PREFIX = "127.0.53"


def fenced(node):
    try:
        return metric(node, "handoff_read_fenced") == 1
    except OSError:
        return None


def test_decommission_waits_for_hints_of_new_owner(make_cluster):
    # streams paced so the move lasts a few seconds
    c = make_cluster(4, sets=["cluster.n_replicas=2", "cluster.request_timeout=500ms", "cluster.stream_rate=256KiB"])
    n1, n2, n3, n4 = c.nodes
    acked = write_keys(c.nodes, "dpre", 400, pad=1000)
    w = Writer([n1, n4], "dhint")
    w.start()
    try:
        time.sleep(0.3)
        r = post(n2, "/admin/decommission")
        assert r.status == 200, r
        # n3 gains some of n2's ranges: it fences them as soon as its stream
        # plan is installed (after the move settled)
        assert wait_until(lambda: fenced(n3), 30.0, 0.02), "n3 never fenced the ranges it gains"
        assert statuses(n1).get("n2") == "leaving", statuses(n1)
        frozen = dkcluster.freeze_collecting(c, "n3", w)
        wait_status([n1, n3, n4], "n2", "left", 120, poll=0.01)
        done = time.monotonic()
        acked.update(w.acked)
    finally:
        w.finish()
    # The moment the move is done everywhere: no read at one may miss.
    bad = check_reads([n1, n3, n4], acked, "one")
    took = time.monotonic() - done
    hinted = sum(metric(n, "hints_stored_total") for n in (n1, n4))
    print("\n  %d keys written while n3 was frozen, %d hints kept, reads of %d keys x 3 nodes took %.1f s" % (
        len(frozen), hinted, len(acked), took))
    for line in n3.read_log().splitlines():
        if "reads served from it again" in line or "serving reads from it anyway" in line:
            print("  n3: " + line[line.index("rebalance:"):])
    assert frozen, "nothing was acknowledged while n3 was frozen"
    assert hinted >= 1, "no write missed the frozen n3: the test did not test anything"
    assert not bad, "%d of %d reads at one missed right after n2 left, e.g. %r" % (
        len(bad), len(acked) * 3, bad[:5])
    assert wait_until(lambda: not fenced(n3), 35.0, 0.1), "n3 is still fenced"
    assert metric(n3, "handoff_read_fences_total") >= 1
    assert metric(n3, "handoff_read_fences_timed_out_total") == 0
    assert not os.path.exists(os.path.join(n3.data_dir, "read_fence.json"))
    # once lifted, its new ranges are served by n3 itself
    bad = check_reads([n3], acked, "all")
    assert not bad, bad[:5]


@pytest.mark.skipif(not dkcluster.have_engine("lsm"), reason="engine-lsm.so not built")
def test_fenced_node_restarts_fenced(make_cluster):
    c = make_cluster(4, engine="lsm", sets=["cluster.n_replicas=2", "cluster.stream_rate=256KiB"])
    n1, n2, n3, n4 = c.nodes
    acked = write_keys(c.nodes, "fpre", 400, pad=1000)
    r = post(n2, "/admin/decommission")
    assert r.status == 200, r
    assert wait_until(lambda: fenced(n3), 30.0, 0.02), "n3 never fenced the ranges it gains"
    # frozen, the move cannot end (n3 has not said it has its ranges)
    os.kill(c.pid("n3"), signal.SIGSTOP)
    path = os.path.join(n3.data_dir, "read_fence.json")
    assert os.path.exists(path), os.listdir(n3.data_dir)
    c.kill("n3")
    assert statuses(n1).get("n2") == "leaving", statuses(n1)
    c.start("n3", timeout=30, wait="health")
    # fenced from the start: restored from its data folder, not re-raised
    # by the move (whose stream plan waits for the move to settle first)
    assert fenced(n3), "n3 came back unfenced"
    assert metric(n3, "handoff_read_fences_total") == 0
    assert "read fence: restored from" in n3.read_log()
    wait_status([n1, n3, n4], "n2", "left", 120)
    # lifted by its handoff check, in this life
    assert wait_until(lambda: not fenced(n3), 35.0, 0.05), "n3 is still fenced"
    assert metric(n3, "handoff_read_fences_total") == 1
    assert metric(n3, "handoff_read_fences_timed_out_total") == 0
    assert not os.path.exists(path)
    bad = check_reads([n1, n3, n4], acked, "one")
    assert not bad, "%d reads at one failed after the restart, e.g. %r" % (len(bad), bad[:5])
    members = {m["id"]: m for m in view(n1)["members"]}
    assert members["n2"]["status"] == "left", members["n2"]


def start_writers(nodes, prefix, count, spread):
    """count Writers at quorum, each through `nodes` in turn from a
    different one; started one after the other over `spread` seconds (the
    write delay: writes that each take about that long, started together,
    would plan in lockstep, and the writes in flight when the move ends
    could then be anything from just planned to already replicated)."""
    ws = [Writer(nodes[i % len(nodes):] + nodes[:i % len(nodes)], "%s%02d" % (prefix, i)) for i in range(count)]
    for w in ws:
        w.start()
        time.sleep(spread / count)
    return ws


def decommission_n2_under_writes(c, writers_through, prefix, count, spread):
    """Write 32 keys, start `count` writers through `writers_through`,
    decommission n2 under that load and wait until the others see it left;
    the keys every write acknowledged."""
    n1, n2, n3, n4 = c.nodes
    acked = write_keys(c.nodes, prefix + "pre", 32)
    ws = start_writers(writers_through, prefix + "live", count, spread)
    try:
        time.sleep(1.0)
        r = post(n2, "/admin/decommission")
        assert r.status == 200, r
        wait_status([n1, n3, n4], "n2", "left", 120, poll=0.01)
    finally:
        for w in ws:
            w.finish()
    for w in ws:
        acked.update(w.acked)
    return acked


def reads_after_move(nodes, acked, before):
    """Reads at one of every acknowledged key through `nodes` right after
    the move and once every fence is lifted, and how long each node's
    fence lasted (ms since `before`); asserts no read missed."""
    bad = check_reads(nodes, acked, "one")
    wait_unfenced(nodes)
    fence_ms = {n.id: 1000 * (metric(n, "handoff_read_fence_seconds_total") - before.get(n.id, 0.0)) for n in nodes}
    bad_after = check_reads(nodes, acked, "one")
    print("\n  %d keys; new owners fenced their ranges for %r ms after the move; reads at one missed: %d right "
          "after, %d once unfenced" % (len(acked), fence_ms, len(bad), len(bad_after)))
    assert not bad, "%d of %d reads at one missed right after n2 left, e.g. %r" % (len(bad), len(acked) * 3, bad[:5])
    assert not bad_after, "%d of %d reads at one missed once every fence was lifted, e.g. %r" % (
        len(bad_after), len(acked) * 3, bad_after[:5])
    return fence_ms


def test_decommission_writes_planned_before_the_end(make_cluster, monkeypatch):
    """Writes planned with the ring of the move and replicated after their
    coordinator heard it end. The test hook DK_TEST_WRITE_DELAY_MS starts
    every client write 600 ms after its plan on every node, so at the end
    of the move each coordinator, the leaver n2 included, has writes in
    flight that were planned with the new owner only pending. Each must
    still send the new owner its copy (taken with the plan), and every new
    owner must keep its new ranges fenced until those copies have settled,
    also the leaver's once it is left (it is asked while it runs). Without
    that, such a write is on one new owner only, and a read at one through
    the other misses it for good."""
    monkeypatch.setenv("DK_TEST_WRITE_DELAY_MS", "600")
    c = make_cluster(4, sets=["cluster.n_replicas=2", "cluster.request_timeout=2s", "cluster.read_repair_percent=0"])
    n1, n2, n3, n4 = c.nodes
    acked = decommission_n2_under_writes(c, c.nodes, "w", 16, 0.6)
    assert len(acked) >= 100, len(acked)
    fence_ms = reads_after_move([n1, n3, n4], acked, {})
    # the fences waited for the writes in flight (each at least 600 ms)
    assert max(fence_ms.values()) >= 300, fence_ms
    assert all(metric(n, "handoff_read_fences_timed_out_total") == 0 for n in (n1, n3, n4))


@pytest.mark.skipif(not dkcluster.have_engine("lsm"), reason="engine-lsm.so not built")
def test_killed_after_the_move_before_its_check(make_cluster, monkeypatch):
    """n3 gains ranges from the decommissioned n2 and is killed (-9) after
    the move is over on it but before its handoff check passed (writes
    planned before the end, DK_TEST_WRITE_DELAY_MS, keep the check open):
    it comes back fenced from its data folder, runs the check in its new
    life, lifts the fence, and then no read at one misses."""
    monkeypatch.setenv("DK_TEST_WRITE_DELAY_MS", "1500")
    c = make_cluster(4, engine="lsm", sets=["cluster.n_replicas=2", "cluster.request_timeout=4s"])
    n1, n2, n3, n4 = c.nodes
    acked = write_keys(c.nodes, "kpre", 8)
    ws = start_writers([n1, n2, n4], "klive", 9, 1.5)
    try:
        time.sleep(1.0)
        r = post(n2, "/admin/decommission")
        assert r.status == 200, r
        wait_status([n3], "n2", "left", 120, poll=0.005)
        was_fenced = fenced(n3)
        c.kill("n3")
    finally:
        for w in ws:
            w.stop_flag.set()
    assert was_fenced, "n3 had lifted its fence before it could be killed: the window was not tested"
    for w in ws:
        w.finish()
        acked.update(w.acked)
    path = os.path.join(n3.data_dir, "read_fence.json")
    assert os.path.exists(path), os.listdir(n3.data_dir)
    c.start("n3", timeout=30, wait="health")
    assert fenced(n3), "n3 came back unfenced"
    assert "read fence: restored from" in n3.read_log()
    assert wait_until(lambda: not fenced(n3), 35.0, 0.05), "n3 is still fenced"
    assert metric(n3, "handoff_read_fences_total") == 1
    assert metric(n3, "handoff_read_fences_timed_out_total") == 0
    assert not os.path.exists(path)
    wait_status([n1, n3, n4], "n2", "left", 30)
    bad = check_reads([n1, n3, n4], acked, "one")
    assert not bad, "%d of %d reads at one failed after n3's restart, e.g. %r" % (len(bad), len(acked) * 3, bad[:5])


def test_leaver_is_asked_after_it_left(make_cluster, monkeypatch):
    """Only the leaver n2 delays its writes (DK_TEST_WRITE_DELAY_MS, 1200 ms):
    when it announces that it left, writes it planned with the move's ring
    are still to replicate, each with a copy for a new owner. The new
    owners' handoff checks ask n2 although it is left (it still runs), so
    their fences wait for those copies (at least a few hundred ms), and no
    read at one misses. Without asking the leaver, a copy of those that
    failed would wait as a hint on n2 while the new owner already served
    reads."""
    c = make_cluster(4, sets=["cluster.n_replicas=2", "cluster.request_timeout=2s", "cluster.read_repair_percent=0"],
                     start=False)
    c.start(["n1", "n3", "n4"], timeout=30, expect=["n1", "n3", "n4"])
    n1, n2, n3, n4 = c.nodes
    monkeypatch.setenv("DK_TEST_WRITE_DELAY_MS", "1200")
    c.start("n2", timeout=60, wait="health")
    monkeypatch.delenv("DK_TEST_WRITE_DELAY_MS")
    wait_status(c.nodes, "n2", "normal", 60)
    wait_unfenced(c.nodes)
    before = {n.id: metric(n, "handoff_read_fence_seconds_total") for n in (n1, n3, n4)}
    acked = decommission_n2_under_writes(c, [n2], "l", 12, 1.2)
    fence_ms = reads_after_move([n1, n3, n4], acked, before)
    # only n2 had writes in flight: the fences waited for the leaver (how
    # long depends on when each new owner heard the end: 1 ms everywhere
    # when the left node was not asked)
    assert max(fence_ms.values()) >= 300, fence_ms
