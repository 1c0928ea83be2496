"""Strict quorum with 2 of 3 owners down, and what a failed write leaves.

Script (3 nodes, N=3, memory engine):
  1. "sq-k" = "old" written with W=all.
  2. n2 and n3 get SIGKILL.
  3. PUT "sq-k" = "new" through n1 with X-Consistency: quorum and
     X-Quorum: strict -> 503 {"error":"unavailable","acks":1,"needed":2,
     "replicas":3}: only n1 (a true owner) took it; hints never count
     under strict quorum.  The answer comes within request_timeout plus
     slack, never a hung connection.
  4. The failed write is NOT rolled back (as in Dynamo and Cassandra):
     n1's own replica now holds "new" (GET /admin/local), and a read with
     R=one through n1 returns "new".
  5. n2 and n3 restart empty (memory engine).  A read with R=all through n2
     returns "new": n1's version descends from "old", which nobody else
     holds any more.  That read repairs the others, so soon every replica
     holds "new" (30 s bound a hang on a loaded machine).
So a client that got 503 must treat the write as "maybe applied"."""

import time

from dkcluster import get, holders, local, put, values, wait_until

IP_PREFIX = "127.0.4"


def test_strict_quorum_503_and_no_rollback(make_cluster):
    c = make_cluster(3)
    n1, n2, _ = c.nodes
    r = put(n1, "sq-k", "old", cl="all")
    assert r.status == 200, r
    ctx = r.json()["context"]
    c.kill("n2")
    c.kill("n3")

    t0 = time.monotonic()
    r = put(n1, "sq-k", "new", cl="quorum",
            headers={"X-Quorum": "strict", "X-Context": ctx}, timeout=20)
    took = time.monotonic() - t0
    assert r.status == 503, r
    j = r.json()
    assert j["error"] == "unavailable", j
    assert isinstance(j.get("message"), str) and j["message"], j
    assert (j["acks"], j["needed"], j["replicas"]) == (1, 2, 3), j
    assert j.get("may_apply") is True and "may still apply" in j["message"], j
    assert took < 5.0, "503 took %.1f s with request_timeout = 1s" % took

    # no rollback on the replica that took it
    assert values(local(n1, "sq-k")) == [b"new"]
    assert values(get(n1, "sq-k", cl="one")) == [b"new"]

    c.start(["n2", "n3"], timeout=30)
    r = get(n2, "sq-k", cl="all")
    assert values(r) == [b"new"], r
    ok = wait_until(lambda: len(holders(c, "sq-k", b"new")) == 3, 30.0, 0.2)
    assert ok, "read repair left 'new' only on %s" % holders(c, "sq-k", b"new")


def test_strict_all_counts_only_owners(make_cluster):
    """Same outage, with W=all: strict answers 503 with 1 ack of 3 needed,
    and the write is on n1's replica only."""
    c = make_cluster(3)
    n1 = c.nodes[0]
    c.kill("n2")
    c.kill("n3")
    r = put(n1, "sq-all", "v", cl="all", headers={"X-Quorum": "strict"}, timeout=20)
    assert r.status == 503, r
    j = r.json()
    assert (j["error"], j["acks"], j["needed"], j["replicas"]) == ("unavailable", 1, 3, 3), j
    assert holders(c, "sq-all") == ["n1"]
