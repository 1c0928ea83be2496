"""Quorum reads ask R replicas first, from the outside (issue 9).

Script (3 nodes, N=3, memory engine, read_repair_percent = 0 so that no
read is sampled, no hints, no scheduled anti-entropy):
  1. "rk" written with W=all.  Through every node, a GET at quorum makes
     exactly 2 replica reads (the nodes' dynkv_replica_reads_total summed:
     each node counts the copies it reads for a coordinator, its own
     included), at one 1, at all 3: replicas that agree are not all read.
     The quorum GET's second read is a digest read: the coordinator's
     dynkv_coord_digest_reads_total + 1, no mismatch counted.
     "rk" = "v2" with its context and W=all: both other replicas apply
     the coordinator's copy as it came (dynkv_merges_superseded_total + 2,
     dynkv_merges_resolved_total unchanged).
  2. On the lsm engine (a restarted node keeps its data): "sk" = "old"
     with W=all; n3 is killed; "sk" = "new" with W=quorum (no hints, so
     n3 misses it); n3 restarts still holding "old".  A quorum GET through
     n3 reads n3's own copy first ("old"), asks the next replica for a
     digest, sees it differ (dynkv_coord_digest_mismatches_total + 1),
     reads both others in full (4 replica reads: own, digest, two full;
     dynkv_coord_reads_widened_total + 1), answers "new", and read repair
     gives n3 "new" (within 30 s).  Quorum GETs through every node then
     answer "new" with digest reads that match.
"""

import time

import pytest

import dkcluster
from dkcluster import get, holders, metric, put, values, wait_until

IP_PREFIX = "127.0.44"
SETS = ["cluster.read_repair_percent=0", "cluster.hint_window=0", "cluster.anti_entropy_interval=0"]


def replica_reads(c):
    return sum(metric(n, "replica_reads_total") for n in c.nodes)


def reads_of(c, node, key, cl, want, expect):
    """The replica reads one GET made (summed over the nodes), once at
    least `expect` of them are counted: a widened read's last answers may
    come after the client's, and on a loaded machine later than any fixed
    pause; 0.3 s more then lets any read beyond `expect` show."""
    before = replica_reads(c)
    r = get(node, key, cl=cl)
    assert values(r) == [want], r
    wait_until(lambda: replica_reads(c) - before >= expect, 10.0, 0.05)
    time.sleep(0.3)
    return replica_reads(c) - before


def test_quorum_get_reads_r_replicas(make_cluster):
    c = make_cluster(3, sets=SETS)
    r = put(c.nodes[0], "rk", "v1", cl="all")
    assert r.status == 200, r
    for n in c.nodes:
        d0, m0 = metric(n, "coord_digest_reads_total"), metric(n, "coord_digest_mismatches_total")
        assert reads_of(c, n, "rk", "quorum", b"v1", 2) == 2, n.id
        assert metric(n, "coord_digest_reads_total") == d0 + 1, n.id
        assert metric(n, "coord_digest_mismatches_total") == m0, n.id
        assert reads_of(c, n, "rk", "one", b"v1", 1) == 1, n.id
        assert reads_of(c, n, "rk", "all", b"v1", 3) == 3, n.id

    # A write over the context it read supersedes every replica's copy: the
    # two replicas store the coordinator's copy as it came (blind apply),
    # the resolver is never asked to merge.
    def merges(name):
        return sum(metric(n, name) for n in c.nodes)
    sup0, res0 = merges("merges_superseded_total"), merges("merges_resolved_total")
    r = put(c.nodes[0], "rk", "v2", cl="all", headers={"X-Context": r.json()["context"]})
    assert r.status == 200, r
    assert merges("merges_superseded_total") - sup0 == 2
    assert merges("merges_resolved_total") == res0
    assert reads_of(c, c.nodes[1], "rk", "quorum", b"v2", 2) == 2


@pytest.mark.skipif(not dkcluster.have_engine("lsm"),
                    reason="engine-lsm.so not built in %s" % dkcluster.PLUGIN_PATH)
def test_stale_replica_is_repaired(make_cluster):
    c = make_cluster(3, engine="lsm", sets=SETS)
    n1, _, n3 = c.nodes
    r = put(n1, "sk", "old", cl="all")
    assert r.status == 200, r
    ctx = r.json()["context"]
    c.kill("n3")
    r = put(n1, "sk", "new", cl="quorum", headers={"X-Context": ctx})
    assert r.status == 200, r
    c.start(["n3"], timeout=30)
    assert holders(c, "sk", b"new") == ["n1", "n2"]
    assert holders(c, "sk", b"old") == ["n3"]    # stale

    widened = metric(n3, "coord_reads_widened_total")
    mism = metric(n3, "coord_digest_mismatches_total")
    assert reads_of(c, n3, "sk", "quorum", b"new", 4) == 4
    assert metric(n3, "coord_reads_widened_total") == widened + 1
    assert metric(n3, "coord_digest_mismatches_total") == mism + 1
    ok = wait_until(lambda: len(holders(c, "sk", b"new")) == 3, 30.0, 0.2)
    assert ok, "read repair left 'new' only on %s" % holders(c, "sk", b"new")
    # repaired: the replicas agree again, so R reads suffice, the second
    # a digest that matches
    for n in c.nodes:
        d0, m0 = metric(n, "coord_digest_reads_total"), metric(n, "coord_digest_mismatches_total")
        assert reads_of(c, n, "sk", "quorum", b"new", 2) == 2, n.id
        assert metric(n, "coord_digest_reads_total") == d0 + 1, n.id
        assert metric(n, "coord_digest_mismatches_total") == m0, n.id
