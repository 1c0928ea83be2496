"""Every loop thread coordinates the requests that arrive on it (issue 9,
"Loops that scale"): 3 nodes (N=3, lsm engine, so a restarted node keeps
its data) with [node] loop_threads = 2 behave as with one loop, and loop 1
coordinates requests itself.  Requests use one fresh connection each, so
connections spread over both loops.

test_two_loops_quorum_cas_hints (no scheduled anti-entropy, so that only
hints move data):
  1. 60 keys written at quorum, each through a node in turn; every key
     reads back at quorum through every node.  The nodes'
     dynkv_coord_loop0_requests_total and ..._loop1_... both grew: both
     loops coordinated requests.  dynkv_rpc_loop1_served_total grew too:
     replica reads and writes that peers sent arrived on connections
     loop 0's listener handed to loop 1, and loop 1 served them.  A prefix
     scan through every node sees the 60 keys (its SCAN_RANGE requests,
     where they arrive on loop 1, are relayed to loop 0 and answered back
     on loop 1's connection); the RPC counters in /metrics are summed over
     both loops' instances (requests received cover what both loops
     served).
  2. A CAS write (If-None-Match: *) on one key, then again through every
     node: each repeat is refused (412) whichever loop it arrives on
     (conditional writes go to the cluster loop, whose per-key lock
     orders them).
  3. n3 is killed.  40 keys "down-*" written at quorum through n1 and n2
     all succeed (n3's copies are kept as hints: hints_stored_total grows
     by at least 40 on n1 and n2, and loop 1 coordinated some of these
     writes); they read back at quorum.
  4. n3 restarts on its data.  Every "down-*" key reaches n3's own replica
     through hinted handoff (within 40 s): the hints of writes that loop 1
     coordinated went to loop 0's hint store and were replayed from there.

test_two_loops_read_repair (read_repair_percent = 0, no hints, no
anti-entropy, as test_read_path.py): 30 keys "old" at W=all; n3 killed;
"new" over the context at quorum (n3 misses it); n3 restarts holding
"old".  Quorum reads of every key through n3 answer "new", and read repair
gives n3 "new" for every key (within 30 s); n3's loop 1 coordinated some of
those reads.

test_loop_rpc_counters_in_metrics: the RPC counters of loop 1's own RPC
instance are part of the node's /metrics (requests sent = received over
the cluster).
"""

import pytest

import dkcluster
from dkcluster import get, holders, metric, put, request, values, wait_until

IP_PREFIX = "127.0.67"
SETS = ["node.loop_threads=2", "cluster.anti_entropy_interval=0"]


def served_counts(nodes):
    return (sum(metric(n, "rpc_loop0_served_total") for n in nodes),
            sum(metric(n, "rpc_loop1_served_total") for n in nodes))


def loop_counts(nodes):
    return (sum(metric(n, "coord_loop0_requests_total") for n in nodes),
            sum(metric(n, "coord_loop1_requests_total") for n in nodes))


LSM = pytest.mark.skipif(not dkcluster.have_engine("lsm"),
                         reason="engine-lsm.so not built in %s" % dkcluster.PLUGIN_PATH)


@LSM
def test_two_loops_quorum_cas_hints(make_cluster):
    c = make_cluster(3, engine="lsm", sets=SETS)
    n1, n2, n3 = c.nodes

    # 1. quorum writes and reads, coordinated on both loops
    keys = ["k-%02d" % i for i in range(60)]
    for i, k in enumerate(keys):
        r = put(c.nodes[i % 3], k, "v-" + k, cl="quorum")
        assert r.status == 200, r
    for n in c.nodes:
        for k in keys:
            r = get(n, k, cl="quorum")
            assert values(r) == [("v-" + k).encode()], (n.id, k, r)
    l0, l1 = loop_counts(c.nodes)
    assert l0 + l1 >= len(keys) * 4
    assert l1 > 0, "loop 1 coordinated nothing (loop 0: %d)" % l0
    assert l0 > 0, "loop 0 coordinated nothing (loop 1: %d)" % l1
    s0, s1 = served_counts(c.nodes)
    assert s1 > 0, "loop 1 served no replica request (loop 0: %d)" % s0
    for n in c.nodes:
        r = request(n, "GET", "/kv?prefix=k-&limit=100")
        assert r.status == 200, (n.id, r)
        assert sorted(p["key"] for p in r.json()["pairs"]) == keys, n.id
    for n in c.nodes:
        got = metric(n, "rpc_loop0_served_total") + metric(n, "rpc_loop1_served_total")
        assert metric(n, "rpc_requests_received_total") >= got > 0, n.id

    # 2. conditional writes stay ordered
    r = put(n1, "cas", "first", cl="quorum", headers={"If-None-Match": "*"})
    assert r.status == 200, r
    for n in c.nodes:
        for _ in range(4):
            r = put(n, "cas", "again", cl="quorum", headers={"If-None-Match": "*"})
            assert r.status == 412, (n.id, r)
    assert values(get(n2, "cas", cl="all")) == [b"first"]

    # 3. a node fails: writes still succeed at quorum, n3's copies hinted
    c.kill("n3")
    hints0 = metric(n1, "hints_stored_total") + metric(n2, "hints_stored_total")
    _, l1_before = loop_counts([n1, n2])
    down = ["down-%02d" % i for i in range(40)]
    for i, k in enumerate(down):
        r = put((n1, n2)[i % 2], k, "v-" + k, cl="quorum")
        assert r.status == 200, (k, r)
    for i, k in enumerate(down):
        assert values(get((n2, n1)[i % 2], k, cl="quorum")) == [("v-" + k).encode()]

    # a write is answered at W = 2 before its coordinator has stored n3's
    # hint (a worker job that follows the failed send): wait for them
    def hints():
        return metric(n1, "hints_stored_total") + metric(n2, "hints_stored_total") - hints0
    assert wait_until(lambda: hints() >= len(down), 10.0, 0.1), hints()
    _, l1_after = loop_counts([n1, n2])
    assert l1_after > l1_before, "loop 1 coordinated none of the requests while n3 was down"

    # 4. n3 comes back: hinted handoff brings what it missed
    c.start(["n3"], timeout=30)
    ok = wait_until(lambda: all("n3" in holders(c, k, ("v-" + k).encode()) for k in down), 40.0, 0.5)
    missing = [k for k in down if "n3" not in holders(c, k)]
    assert ok, "hints not delivered to n3 for %s" % missing


@LSM
def test_two_loops_read_repair(make_cluster):
    c = make_cluster(3, engine="lsm", sets=SETS + ["cluster.read_repair_percent=0", "cluster.hint_window=0"])
    n1, _, n3 = c.nodes
    keys = ["rr-%02d" % i for i in range(30)]
    ctx = {}
    for k in keys:
        r = put(n1, k, "old", cl="all")
        assert r.status == 200, r
        ctx[k] = r.json()["context"]
    c.kill("n3")
    for k in keys:
        r = put(n1, k, "new", cl="quorum", headers={"X-Context": ctx[k]})
        assert r.status == 200, r
    c.start(["n3"], timeout=30)
    assert all(holders(c, k, b"old") == ["n3"] for k in keys)
    _, l1_before = loop_counts([n3])
    for k in keys:
        assert values(get(n3, k, cl="quorum")) == [b"new"], k
    ok = wait_until(lambda: all(len(holders(c, k, b"new")) == 3 for k in keys), 30.0, 0.3)
    stale = [k for k in keys if len(holders(c, k, b"new")) != 3]
    assert ok, "read repair left %s stale on n3" % stale
    _, l1_after = loop_counts([n3])
    assert l1_after > l1_before, "loop 1 of n3 coordinated none of the repairing reads"


def test_loop_rpc_counters_in_metrics(make_cluster):
    """The RPC requests a loop's own (client-only) RPC instance sends are
    in /metrics: 40 writes at W=all over fresh connections (loop 1
    coordinates some, each sending PUT_REPLICA to two peers), then summed
    over the nodes dynkv_rpc_requests_sent_total equals
    dynkv_rpc_requests_received_total (only loop 0 serves RPC, so every
    request sent by any loop is received there); without loop 1's counters
    the sent total falls short by what loop 1 sent."""
    c = make_cluster(3, sets=SETS)
    _, l1_before = loop_counts(c.nodes)
    for i in range(40):
        r = put(c.nodes[i % 3], "rc-%02d" % i, "v", cl="all")
        assert r.status == 200, r
    _, l1_after = loop_counts(c.nodes)
    assert l1_after - l1_before >= 5, "loop 1 coordinated too few writes: %d" % (l1_after - l1_before)

    def totals():
        return (sum(metric(n, "rpc_requests_sent_total") for n in c.nodes),
                sum(metric(n, "rpc_requests_received_total") for n in c.nodes))
    ok = wait_until(lambda: totals()[0] == totals()[1], 30.0, 0.3)
    sent, received = totals()
    assert ok, "sent %d, received %d (loop 1 wrote %d)" % (sent, received, l1_after - l1_before)
    assert sent >= 2 * 40, sent
    assert sum(metric(n, "rpc_connections_established_total") for n in c.nodes) >= 6


def test_rpc_connection_budget_warned(make_cluster):
    """3 nodes with loop_threads = 2 may each open 2 (loop 0) + 1 (loop 1)
    RPC connections to a node: 6 inbound.  With max_rpc_connections = 5
    every node warns once it sees the cluster of 3 (the warning names the
    numbers and the key)."""
    c = make_cluster(3, sets=SETS + ["cluster.max_rpc_connections=5"])
    for n in c.nodes:
        wait_until(lambda: "max_rpc_connections = 5" in n.read_log(), 30)
        assert "3 members with 2 loop threads may open 6 RPC connections" in n.read_log(), n.id
