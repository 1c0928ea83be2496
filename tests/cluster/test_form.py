"""Forming a cluster: 3 and 5 nodes join through their seeds (the first
three nodes' gossip addresses), every node reports the same membership and
ring, a key is stored on exactly n_replicas = 3 nodes (the same ones, no
matter which node coordinated the write), and a node configured with
another cluster.name is refused."""

import re

import pytest

import dkcluster
from dkcluster import get, holders, local, put, values, view, wait_until

IP_PREFIX = "127.0.1"


def check_member(m, node):
    assert m["state"] == "normal", m
    assert m["http"] == node.http, m
    assert m["rpc"] == node.rpc, m
    assert m["gossip"] == node.gossip, m
    assert m["dc"] == "dc1" and m["rack"] == "r1", m
    assert m["weight"] == 1, m
    assert isinstance(m["incarnation"], int) and m["incarnation"] >= 0, m
    own = m["ownership"]
    assert isinstance(own, (int, float)) and 0 < own <= 1, \
        "ownership is the member's share of the ring (0..1]: %r" % (m,)


@pytest.mark.parametrize("n", [3, 5])
def test_cluster_forms_from_seeds(make_cluster, n):
    c = make_cluster(n)  # waits until every node lists every node as normal
    ids = sorted(x.id for x in c.nodes)

    fields = ("id", "state", "http", "rpc", "gossip", "dc", "rack", "weight", "incarnation",
              "ownership")

    def table(v):
        return sorted(tuple(m[f] for f in fields) for m in v["members"])

    # ring_version counts this node's own ring changes, so it may differ
    # between nodes; the members and their ownership (computed from the
    # ring) must not, once gossip has settled.
    def agreed():
        vs = [view(x) for x in c.nodes]
        return vs if all(table(v) == table(vs[0]) for v in vs) else None

    vs = wait_until(agreed, 30.0, 0.2)
    assert vs, "membership views differ: %r" % [table(view(x)) for x in c.nodes]
    for node, v in zip(c.nodes, vs):
        assert v["node"] == node.id, v
        assert isinstance(v["ring_version"], int) and v["ring_version"] >= 1, v
        assert sorted(m["id"] for m in v["members"]) == ids, v
        for m in v["members"]:
            check_member(m, c.node(m["id"]))
        total = sum(m["ownership"] for m in v["members"])
        assert abs(total - 1.0) < 0.02, "ownership shares add up to %r: %r" % (total, v)
        # equal weights, 256 vnodes each: every node owns about 1/n
        for m in v["members"]:
            assert abs(m["ownership"] - 1.0 / n) < 0.1 / n + 0.02, v



def test_five_nodes_agree_on_replicas(make_cluster):
    c = make_cluster(5)
    keys = ["pl-%d" % i for i in range(12)]
    for i, k in enumerate(keys):
        coord = c.nodes[i % 5]
        r = put(coord, k, "v-" + k, cl="all")
        assert r.status == 200, "PUT %s via %s with X-Consistency: all: %r" % (k, coord.id, r)
    seen = set()
    for i, k in enumerate(keys):
        owners = holders(c, k)
        assert len(owners) == 3, "%s is on %s, expected exactly 3 of 5 nodes" % (k, owners)
        seen.update(owners)
        for nid in owners:
            assert values(local(c.node(nid), k)) == [("v-" + k).encode()]
        for n in c.nodes:
            if n.id not in owners:
                assert local(n, k).status == 404, "%s: non-owner %s answered" % (k, n.id)
        # an overwrite through another coordinator (a non-owner forwards)
        # lands on the very same three nodes
        coord = c.nodes[(i + 2) % 5]
        ctx = get(coord, k, cl="all").json()["context"]
        r = put(coord, k, "w-" + k, cl="all", headers={"X-Context": ctx})
        assert r.status == 200, r
        assert holders(c, k, ("w-" + k).encode()) == owners, \
            "%s rewritten via %s is on %s, first on %s" % (k, coord.id, holders(c, k), owners)
        for n in c.nodes:
            r = get(n, k, cl="quorum")
            assert values(r) == [("w-" + k).encode()], "GET %s via %s: %r" % (k, n.id, r)
    # 12 keys spread over the ring reach every node as an owner of some key
    assert len(seen) == 5, "only %s own any of the sampled keys" % sorted(seen)


def test_other_cluster_name_is_refused(make_cluster):
    c = make_cluster(4, node_sets={4: ["cluster.name=intruder"]}, start=False)
    c.start(["n1", "n2", "n3"], timeout=30, expect=["n1", "n2", "n3"])
    c.start("n4", timeout=30, wait="health")
    intruder = c.node("n4")

    # The refusal is explained on both sides, naming the clusters: the
    # seeds say whom they refused, the intruder says who refused it (not
    # merely that no seed answers). Waited for first: that the intruder
    # has contacted the seeds is what makes "never admitted" below mean
    # something (a loaded machine may take seconds for the first round).
    def seeds_say():
        return [n.id for n in c.nodes[:3] if re.search(r"'intruder'", n.read_log())]

    def refused_said():
        return re.search(r"'dynkv'", intruder.read_log().split("\n===")[-1])

    assert wait_until(seeds_say, 30.0, 0.2), "no seed's log names the refused cluster 'intruder':\n" + \
        c.node("n1").read_log()[-3000:]
    assert wait_until(refused_said, 30.0, 0.2), \
        "n4's log does not say that cluster 'dynkv' refused it:\n" + intruder.read_log()[-3000:]

    # 15 more gossip intervals and a few push-pull rounds: it must never
    # become a member.
    def joined():
        return [n.id for n in c.nodes[:3] if "n4" in dkcluster.states(n)]

    assert not wait_until(joined, 3.0, 0.2), "n4 (cluster.name=intruder) was admitted"
    for n in c.nodes[:3]:
        members = {m["id"]: m["state"] for m in view(n)["members"]}
        assert sorted(members) == ["n1", "n2", "n3"], members
        assert set(members.values()) == {"normal"}, members
    # the cluster still serves
    r = put(c.node("n1"), "refused-ok", "x", cl="all")
    assert r.status == 200, r
