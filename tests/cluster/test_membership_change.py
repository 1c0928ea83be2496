"""Membership changes move data, and no acknowledged write is ever unreadable.

Every test writes keys at X-Consistency: quorum, changes the ring, and
then reads every acknowledged key back.

  join under load   3 nodes (n_replicas = 2) and ~2000 keys; a writer keeps
                    writing through the three while a 4th node starts with an
                    empty data folder.  It must bootstrap (joining, streaming
                    its ranges) before it is normal; once it is normal
                    everywhere, every acknowledged key reads at X-Consistency:
                    one through every node, the new node holds about half of
                    the keys itself, and after POST /admin/cleanup every key
                    is on exactly 2 nodes.
  join with hints   the same with a joiner frozen (SIGSTOP) for 3 s while it
                    is joining: the writes it misses wait as hints on the
                    coordinators, and it turns normal only once they are
                    replayed, so no read at one misses right after.
  decommission      4 nodes; POST /admin/decommission on n2 streams its
                    ranges to their next owners, n2 becomes "left"
                    everywhere, every key reads at R=all; refused with 409
                    when it would leave fewer nodes than n_replicas.
  remove            4 nodes; n3 is killed; POST /admin/remove/n3 refuses an
                    up node (409), removes the dead one: its ranges get a new
                    replica from the remaining ones (which fence them until
                    their handoff check passes), n3 becomes "removed",
                    every key reads at R=all and is on 2 live nodes.
  replace           3 nodes with the lsm engine; n3's data folder is wiped
                    and n3 restarted under the same id: it must come back
                    joining (replacing) with a higher actor incarnation and
                    serve every key at R=one once normal.  Writes go on
                    meanwhile, so some member always holds a fallback hint
                    for the replacing n3 and its move ends at
                    [cluster] handoff_wait (set to 5 s here, 30 s by
                    default): its read fence still keeps every key readable.
"""

import concurrent.futures
import json
import os
import shutil
import time

import pytest

import dkcluster
from dkcluster import (Writer, check_reads, cli, get, local, metric, post, put, request, statuses,  # noqa: F401
                       values, view, wait_status, wait_unfenced, wait_until, write_keys)

IP_PREFIX = "127.0.9"
N_KEYS = 2000



def held_by(node, keys):
    def one(k):
        return local(node, k).status == 200
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        return sum(ex.map(one, keys))


def test_join_under_load(make_cluster):
    c = make_cluster(4, sets=["cluster.n_replicas=2"], start=False)
    c.start(["n1", "n2", "n3"], timeout=30, expect=["n1", "n2", "n3"])
    n1, n2, n3, n4 = c.nodes
    acked = write_keys([n1, n2, n3], "pre", N_KEYS)

    w = Writer([n1, n2, n3], "live")
    w.start()
    try:
        time.sleep(0.3)
        t0 = time.monotonic()
        c.start("n4", timeout=60, wait="health")
        # it bootstraps: joining somewhere before it is normal
        seen_joining = wait_until(lambda: statuses(n1).get("n4") == "joining", 30.0, 0.05)
        wait_status(c.nodes, "n4", "normal", 120)
        took = time.monotonic() - t0
        time.sleep(0.3)
    finally:
        w.finish()
    assert seen_joining, "n4 never showed up as joining: it did not bootstrap"
    assert len(w.acked) >= 50, "only %d writes acknowledged during the join; failures %r" % (
        len(w.acked), w.failed[:5])
    assert not w.failed, "quorum writes failed during the join: %r" % w.failed[:5]
    acked.update(w.acked)
    print("\n  n4 normal everywhere %.1f s after its start; %d keys written meanwhile" % (took, len(w.acked)))

    # Every acknowledged key at one through every node, right away: n4 turns
    # normal only once no write meant for it as a pending replica is still
    # in flight or waiting as a hint on another node (handoff_wait.h).
    hw = {}
    for line in request(n4, "GET", "/metrics").body.decode().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].startswith("dynkv_handoff_wait"):
            hw[parts[0][len("dynkv_"):]] = float(parts[1])
    assert hw.get("handoff_waits_total", 0) >= 1, hw
    print("  handoff check on n4: %r" % hw)
    bad = check_reads(c.nodes, acked, "one")
    assert not bad, "%d of %d reads at one missed right after the join, e.g. %r" % (
        len(bad), len(acked) * 4, bad[:5])
    share = held_by(n4, list(acked))
    assert 0.35 * len(acked) < share < 0.65 * len(acked), \
        "n4 holds %d of %d keys itself; with N=2 of 4 nodes expected about half" % (share, len(acked))
    st = view(n4)["streaming"]
    assert st["move"] is None, st

    # cleanup drops what the old owners no longer replicate: 2 copies left
    dropped = 0
    for n in (n1, n2, n3):
        r = post(n, "/admin/cleanup")
        assert r.status == 200, r
        dropped += r.json()["dropped"]
    rc, out, err = cli(n4, "cleanup")
    assert rc == 0 and out.startswith("n4: ") and " dropped, " in out, (rc, out, err)
    assert dropped > 0.3 * len(acked), "cleanup dropped only %d copies" % dropped
    sample = sorted(acked)[::7]
    counts = {k: sum(1 for n in c.nodes if local(n, k).status == 200) for k in sample}
    assert set(counts.values()) == {2}, {k: v for k, v in counts.items() if v != 2}
    bad = check_reads(c.nodes, {k: acked[k] for k in sample}, "one")
    assert not bad, bad[:5]


def test_join_waits_for_hints(make_cluster):
    """The joiner freezes (SIGSTOP, 3 s) while it is joining and writes go on:
    the copies sent to it as a pending replica fail and are kept as hints on
    the coordinators. It must not turn normal before those are replayed:
    right after it is normal, every acknowledged key reads at one through
    every node."""
    c = make_cluster(4, sets=["cluster.n_replicas=2", "cluster.request_timeout=500ms"], start=False)
    c.start(["n1", "n2", "n3"], timeout=30, expect=["n1", "n2", "n3"])
    n1, n2, n3, n4 = c.nodes
    acked = write_keys([n1, n2, n3], "pre", 500)
    w = Writer([n1, n2, n3], "hlive")
    w.start()
    try:
        c.start("n4", timeout=60, wait="health")
        assert wait_until(lambda: statuses(n1).get("n4") == "joining", 30.0, 0.05), statuses(n1)
        frozen = dkcluster.freeze_collecting(c, "n4", w)
        # As soon as n4 says it is normal, it answers reads itself: the keys
        # written while it was frozen must be there already.
        assert wait_until(lambda: statuses(n4).get("n4") == "normal", 120, 0.02), statuses(n4)
        early = check_reads([n4], frozen, "one")
        wait_status(c.nodes, "n4", "normal", 120)
        time.sleep(0.3)
    finally:
        w.finish()
    assert frozen, "nothing was written while n4 was frozen"
    assert not early, "%d of %d keys written while n4 was frozen missed at one through n4 right after it " \
        "turned normal, e.g. %r" % (len(early), len(frozen), early[:5])
    assert not w.failed, "quorum writes failed during the join: %r" % w.failed[:5]
    acked.update(w.acked)
    hinted = sum(metric(n, "hints_stored_total") for n in (n1, n2, n3))
    print("\n  %d keys written during the join, %d hints kept for n4, n4 waited for hints %d time(s)" % (
        len(w.acked), hinted, metric(n4, "handoff_waits_for_hints_total")))
    assert hinted >= 1, "no write missed the frozen joiner: the test did not test anything"
    bad = check_reads(c.nodes, acked, "one")
    # No window after the end: n4 served no reads until every member counted
    # it and had handed off every copy it had sent it uncounted (the read
    # fence, cluster/handoff_wait.h), so not one read may miss.
    assert not bad, "%d of %d reads at one missed right after the join, e.g. %r" % (
        len(bad), len(acked) * 4, bad[:5])
    assert metric(n4, "handoff_read_fences_total") == 1, metric(n4, "handoff_read_fences_total")
    assert metric(n4, "handoff_read_fenced") == 0
    print("  n4 served no reads for %d ms after it turned normal (the read fence)" %
          (1000 * metric(n4, "handoff_read_fence_seconds_total")))


def test_decommission(make_cluster):
    c = make_cluster(4, sets=["cluster.n_replicas=2"])
    n1, n2, n3, n4 = c.nodes
    acked = write_keys(c.nodes, "dec", N_KEYS // 2)
    w = Writer([n1, n3, n4], "dlive")
    w.start()
    try:
        r = post(n2, "/admin/decommission")
        assert r.status == 200, r
        assert r.json()["status"] == "leaving", r.json()
        r = post(n2, "/admin/decommission")      # again: already under way
        assert r.status == 200, r
        wait_status([n1, n2, n3, n4], "n2", "left", 60)
        time.sleep(0.3)
    finally:
        w.finish()
    assert not w.failed, w.failed[:5]
    acked.update(w.acked)
    wait_unfenced([n1, n3, n4])
    bad = check_reads([n1, n3, n4], acked, "all")
    assert not bad, "%d reads at R=all failed after n2 left, e.g. %r" % (len(bad), bad[:5])
    # n2 is out of the ring: ownership 0, and it holds no place in lists
    members = {m["id"]: m for m in view(n1)["members"]}
    assert members["n2"]["ownership"] == 0, members["n2"]

    # 3 normal nodes left with n_replicas = 2: one more is fine, the next not
    # the CLI waits until n3 is left and handed off (its last status)
    rc, out, err = cli(n3, "-j", "decommission")
    assert rc == 0, (rc, out, err)
    d = json.loads(out)
    assert d["status"] == "left" and d["handed_off"] is True and d["hints_pending"] == 0, d
    rc, out, err = cli(n3, "-j", "streams")
    assert rc == 0 and "incoming" in json.loads(out), (rc, out, err)
    wait_status([n1, n3, n4], "n3", "left", 60)
    r = post(n4, "/admin/decommission")
    assert r.status == 409, r
    j = r.json()
    assert j["error"] == "conflict" and "n_replicas" in j["message"], j
    rc, out, err = cli(n4, "decommission")
    assert rc == 1 and "n_replicas" in err and "409" in err, (rc, out, err)
    wait_unfenced([n1, n4])
    bad = check_reads([n1, n4], acked, "all")
    assert not bad, bad[:5]


def test_remove_dead_node(make_cluster):
    c = make_cluster(4, sets=["cluster.n_replicas=2"])
    n1, n2, n3, n4 = c.nodes
    acked = write_keys(c.nodes, "rm", N_KEYS // 2)
    c.kill("n3")
    assert wait_until(lambda: all(dkcluster.states(n).get("n3") == "down" for n in (n1, n2, n4)), 30.0, 0.2), \
        {n.id: dkcluster.states(n).get("n3") for n in (n1, n2, n4)}
    r = post(n1, "/admin/remove/n2")
    assert r.status == 409, r                    # n2 is up
    assert "not down" in r.json()["message"], r.json()
    rc, out, err = cli(n1, "removenode", "n2")
    assert rc == 1 and "not down" in err, (rc, out, err)
    r = post(n1, "/admin/remove/nobody")
    assert r.status == 404, r
    acked.update(write_keys([n1, n2, n4], "rm-down", 200))
    fences = sum(metric(n, "handoff_read_fences_total") for n in (n1, n2, n4))
    rc, out, err = cli(n2, "removenode", "n3")
    assert rc == 0 and "n3 is being removed" in out, (rc, out, err)
    wait_status([n1, n2, n4], "n3", "removed", 60)
    wait_unfenced([n1, n2, n4])
    # the new owners of n3's ranges fenced them until their handoff check
    assert sum(metric(n, "handoff_read_fences_total") for n in (n1, n2, n4)) > fences
    bad = check_reads([n1, n2, n4], acked, "all")
    assert not bad, "%d reads at R=all failed after removing n3, e.g. %r" % (len(bad), bad[:5])
    # every key is again on 2 live nodes (ownership moved; old copies stay
    # until cleanup, so at least 2)
    sample = sorted(acked)[::5]
    short = [k for k in sample if sum(1 for n in (n1, n2, n4) if local(n, k).status == 200) < 2]
    assert not short, "%d of %d sampled keys on fewer than 2 live nodes, e.g. %r" % (
        len(short), len(sample), short[:5])


@pytest.mark.skipif(not dkcluster.have_engine("lsm"), reason="engine-lsm.so not built")
def test_replace_wiped_node(make_cluster):
    c = make_cluster(3, engine="lsm", sets=["cluster.n_replicas=2", "cluster.handoff_wait=5s"])
    n1, n2, n3 = c.nodes
    acked = write_keys(c.nodes, "rep", N_KEYS // 2)
    before = {m["id"]: m for m in view(n1)["members"]}["n3"]
    c.kill("n3")
    shutil.rmtree(n3.data_dir)
    os.makedirs(n3.data_dir)
    w = Writer([n1, n2], "rlive")
    w.start()
    try:
        c.start("n3", timeout=30, wait="health")
        seen = wait_until(lambda: statuses(n1).get("n3") == "joining", 30.0, 0.05)
        wait_status(c.nodes, "n3", "normal", 60)
    finally:
        w.finish()
    assert seen, "the wiped n3 did not come back as joining"
    acked.update(w.acked)
    after = {m["id"]: m for m in view(n1)["members"]}["n3"]
    assert after["actor_incarnation"] > before["actor_incarnation"], (before, after)
    bad = check_reads([n3], acked, "one")
    assert not bad, "%d reads at R=one through the replaced n3 failed, e.g. %r" % (len(bad), bad[:5])
    mine = [k for k in sorted(acked) if local(n3, k).status == 200]
    assert 0.5 * len(acked) < len(mine) < 0.85 * len(acked), \
        "the replaced n3 holds %d of %d keys; with N=2 of 3 nodes expected about 2/3" % (len(mine), len(acked))
    # its new writes are not dominated by its old life's counters
    k = mine[0]
    ctx = get(n1, k, cl="all").json()["context"]
    r = put(n3, k, "after-replace", cl="all", headers={"X-Context": ctx})
    assert r.status == 200, r
    assert values(get(n1, k, cl="all")) == [b"after-replace"]
