"""Concurrent blind writes through different coordinators, scripted step by
step on 3 nodes (N=3: every node is a replica and coordinates its own
writes).

vclock (default resolver):
  1. client A writes "from-a" to k through n1, blind (no context), W=all;
  2. client B writes "from-b" to k through n2, blind, W=all;
  3. a reader through n3 with R=all sees both: conflict, values [a, b];
     every replica holds both siblings (GET /admin/local);
  4. a writer that read both writes "merged" with that context via n3;
  5. every node reads "merged" alone, and every replica holds only it.
The same with truly simultaneous writes (two threads) ends in siblings too.

lww: steps 1-2 (2 ms apart) leave one value, B's (the later timestamp),
on every replica; a write with the returned context replaces it."""

import threading
import time

from dkcluster import get, local, put, values, wait_until

IP_PREFIX = "127.0.3"


def test_vclock_siblings_across_coordinators(shared_cluster):
    c = shared_cluster(3)
    n1, n2, n3 = c.nodes
    assert put(n1, "cc-k", "from-a", cl="all").status == 200
    assert put(n2, "cc-k", "from-b", cl="all").status == 200
    r = get(n3, "cc-k", cl="all")
    j = r.json()
    assert r.status == 200 and j.get("conflict") is True, r
    assert values(r) == [b"from-a", b"from-b"], r
    assert isinstance(j["context"], str) and j["context"], j
    for n in c.nodes:
        assert values(local(n, "cc-k")) == [b"from-a", b"from-b"], "replica %s" % n.id

    r = put(n3, "cc-k", "merged", cl="all", headers={"X-Context": j["context"]})
    assert r.status == 200, r
    for n in c.nodes:
        r = get(n, "cc-k", cl="all")
        assert r.status == 200 and not r.json().get("conflict"), r
        assert values(r) == [b"merged"], "via %s: %r" % (n.id, r)
        assert values(local(n, "cc-k")) == [b"merged"], "replica %s" % n.id


def test_vclock_simultaneous_writes(shared_cluster):
    c = shared_cluster(3)
    n1, n2, _ = c.nodes
    go = threading.Barrier(2)
    res = {}

    def write(node, val):
        go.wait()
        res[val] = put(node, "cc-sim", val, cl="all").status

    ts = [threading.Thread(target=write, args=(n, v)) for n, v in ((n1, "x1"), (n2, "x2"))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert res == {"x1": 200, "x2": 200}, res
    # both were blind: neither may be lost, whatever the arrival order
    for n in c.nodes:
        assert values(get(n, "cc-sim", cl="all")) == [b"x1", b"x2"], n.id


def test_lww_keeps_one_winner(make_cluster):
    c = make_cluster(3, sets=["conflict.resolver=lww"])
    n1, n2, n3 = c.nodes
    assert put(n1, "cl-k", "first", cl="all").status == 200
    time.sleep(0.002)
    assert put(n2, "cl-k", "second", cl="all").status == 200
    for n in c.nodes:
        r = get(n, "cl-k", cl="all")
        assert r.status == 200 and not r.json().get("conflict"), r
        assert values(r) == [b"second"], "via %s: %r" % (n.id, r)
    ok = wait_until(lambda: all(values(local(n, "cl-k")) == [b"second"] for n in c.nodes), 5.0)
    assert ok, [(n.id, local(n, "cl-k").body) for n in c.nodes]
    ctx = get(n3, "cl-k", cl="all").json()["context"]
    assert put(n3, "cl-k", "third", cl="all", headers={"X-Context": ctx}).status == 200
    for n in c.nodes:
        assert values(get(n, "cl-k", cl="all")) == [b"third"], n.id
