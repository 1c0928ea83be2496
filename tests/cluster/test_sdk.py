"""libdynkv-client (sdk/) against a real 3-node cluster, through
sdk/dkc-probe: one SDK handle kept open across commands read from stdin,
so a node can be killed between two of them.

  routing    n_replicas = 2 of 3 nodes, the probe seeded with n1 only: for
             every key the SDK's replicas equal the node's own answer
             (GET /cluster/endpoints/{key}), every PUT is answered by the
             key's first replica, and each node's dynkv_http_requests_total
             {op="put"} grows by exactly the PUTs the SDK sent it;
  failover   n3 gets SIGKILL: every key is still read and written, the
             first request that meets n3 costs one failover and the next
             ones none (n3 is tried last while it is down);
  contexts   two blind PUTs make siblings; dkc_update joins them with the
             resolver and puts with the context read, leaving one value; a
             PUT and a DELETE with a context round-trip;
  crdt       counter increments through the SDK add up on every replica;
  timeout    a SIGSTOPped replica costs a read one timeout_ms, then the
             next replica answers;
  stale      a pooled connection to a node that restarted is replaced
             without failover.
"""

import json
import os
import re
import signal
import subprocess
import time

import pytest

import dkcluster
from dkcluster import request, quote_key

IP_PREFIX = "127.0.31"
PROBE = os.path.join(dkcluster.BUILDDIR, "sdk", "dkc-probe")


class Probe:
    def __init__(self, seeds, **env):
        e = dict(os.environ)
        e.update({k: str(v) for k, v in env.items()})
        self.p = subprocess.Popen([PROBE, seeds], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=e, text=True)
        first = self.p.stdout.readline()
        assert first.strip() == '{"ready": true}' or json.loads(first).get("ready"), \
            (first, self.p.stderr.read() if self.p.poll() is not None else "")

    def __call__(self, *words):
        self.p.stdin.write(" ".join(str(w) for w in words) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        assert line, "dkc-probe exited: %s" % self.p.stderr.read()
        return json.loads(line)

    def close(self):
        self.p.stdin.close()
        assert self.p.wait(timeout=30) == 0


@pytest.fixture
def probe_of():
    made = []

    def make(seeds, **env):
        if not os.access(PROBE, os.X_OK):
            pytest.fail("%s is not built (make check builds it)" % PROBE)
        p = Probe(seeds, **env)
        made.append(p)
        return p
    yield make
    for p in made:
        if p.p.poll() is None:
            p.p.kill()
            p.p.wait()


def put_count(node):
    r = request(node, "GET", "/metrics")
    assert r.status == 200
    return sum(int(float(v)) for v in re.findall(r'^dynkv_http_requests_total\{op="put",[^}]*\} (\S+)$',
                                                   r.body.decode(), re.M))


def test_routing(shared_cluster, probe_of):
    c = shared_cluster(3, sets=["cluster.n_replicas=2"])
    n1, n2, _ = c.nodes
    p = probe_of(n1.http)
    keys = ["sdk-route-%d" % i for i in range(60)]
    for k in keys:
        mine = p("route", k)["replicas"]
        r = request(n2, "GET", "/cluster/endpoints/" + quote_key(k))
        assert r.status == 200, r
        theirs = [x["id"] for x in r.json()["replicas"]]
        assert mine == theirs, (k, mine, theirs)
    before = {n.id: put_count(n) for n in c.nodes}
    sent = {n.id: 0 for n in c.nodes}
    for k in keys:
        a = p("put", k, "v-" + k)
        assert a["rc"] == 0, a
        reps = p("route", k)["replicas"]
        assert a["node"] == reps[0], (k, a, reps)
        sent[a["node"]] += 1
    after = {n.id: put_count(n) for n in c.nodes}
    assert {i: after[i] - before[i] for i in after} == sent
    assert sum(1 for v in sent.values() if v) == 3, sent   # every node coordinates its share
    st = p("stats")
    assert st["connects"] <= 6, st                          # keep-alive: the pool is reused
    for k in keys[:10]:
        a = p("get", k)
        assert (a["rc"], a["values"]) == (0, ["v-" + k]), a
    p.close()


def test_failover(make_cluster, probe_of):
    c = make_cluster(3, sets=["cluster.n_replicas=2"])
    n1, n2, n3 = c.nodes
    w = probe_of(n2.http, DKC_CONSISTENCY="all")
    keys = ["sdk-fo-%d" % i for i in range(40)]
    for k in keys:
        assert w("put", k, "a")["rc"] == 0
    w.close()
    # R = W = one from here: one replica of every key is left
    p = probe_of(",".join(n.http for n in c.nodes))
    on3 = [k for k in keys if p("route", k)["replicas"][0] == n3.id]
    assert len(on3) >= 3, on3
    c.kill(n3.id)
    s0 = p("stats")
    p("get", on3[0])
    s1 = p("stats")
    assert s1["failovers"] - s0["failovers"] == 1, (s0, s1)   # one retry, no more
    # At most 12 keys: the probe's session token names up to 16 keys, and
    # a key it had to evict is read at quorum (2 of 2 here, with n3 dead:
    # 503), which is the session's rule, not the failover under test.
    for k in on3[:12]:
        s0 = p("stats")
        a = p("get", k)
        assert (a["rc"], a["values"], a["node"] != n3.id) == (0, ["a"], True), a
        b = p("put", k, "b", a["context"])
        assert b["rc"] == 0 and b["node"] != n3.id, b
        s1 = p("stats")
        assert s1["failovers"] - s0["failovers"] <= 1, (s0, s1)
    # a blind write (not idempotent) whose replica refuses the connection
    # still moves on: nothing was sent
    q = probe_of(n1.http)
    for k in on3[:3]:
        a = q("put", k, "c")
        assert a["rc"] == 0 and a["node"] != n3.id, a
    p.close()
    q.close()


def test_contexts_and_update(shared_cluster, probe_of):
    c = shared_cluster(3)
    p = probe_of(c.nodes[0].http, DKC_CONSISTENCY="all")
    a = p("put", "sdk-ctx", "x")
    assert a["rc"] == 0 and a["context"], a
    assert p("put", "sdk-ctx", "y")["rc"] == 0           # blind: a sibling
    g = p("get", "sdk-ctx")
    assert sorted(g["values"]) == ["x", "y"], g
    u = p("update", "sdk-ctx", "-z")
    assert u["rc"] == 0, u
    g = p("get", "sdk-ctx")
    assert g["values"] == ["x+y-z"], g
    # the context read supersedes: no sibling
    b = p("put", "sdk-ctx", "w", g["context"])
    assert b["rc"] == 0, b
    g = p("get", "sdk-ctx")
    assert g["values"] == ["w"], g
    for n in c.nodes:
        assert dkcluster.values(dkcluster.get(n, "sdk-ctx", cl="all")) == [b"w"]
    d = p("del", "sdk-ctx", g["context"])
    assert d["rc"] == 0, d
    g = p("get", "sdk-ctx")
    assert g["rc"] == -2, g                                # DKC_ENOTFOUND
    p.close()


def test_crdt_counter(shared_cluster, probe_of):
    c = shared_cluster(3)
    p = probe_of(c.nodes[1].http, DKC_CONSISTENCY="all")
    total = 0
    for d in (5, 7, -2):
        total += d
        a = p("incr", "sdk-counter", d)
        assert (a["rc"], a["value"]) == (0, total), a
    for n in c.nodes:
        r = request(n, "GET", "/crdt/sdk-counter", headers={"X-Consistency": "all"})
        assert r.status == 200 and r.json()["value"] == 10, r
    a = p("put", "sdk-counter", "plain")                     # 409: not a plain key
    assert a["rc"] in (-5, -9), a
    p.close()


def test_timeout_fails_over_reads(make_cluster, probe_of):
    """A replica that accepts connections but never answers (SIGSTOP):
    a read gives up on it after timeout_ms and is answered by the next
    replica; a blind write (it may have arrived) is not sent twice."""
    c = make_cluster(3, sets=["cluster.n_replicas=2"])
    n1, n2, n3 = c.nodes
    w = probe_of(n1.http, DKC_CONSISTENCY="all")
    keys = ["sdk-to-%d" % i for i in range(30)]
    for k in keys:
        assert w("put", k, "a")["rc"] == 0
    w.close()
    p = probe_of(n1.http, DKC_TIMEOUT_MS=800)
    on2 = [k for k in keys if p("route", k)["replicas"][0] == n2.id]
    assert len(on2) >= 2, on2
    assert p("get", on2[0])["node"] == n2.id          # a pooled connection to n2
    pid = c.pid(n2.id)
    os.kill(pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        a = p("get", on2[0])
        took = time.monotonic() - t0
        assert (a["rc"], a["values"]) == (0, ["a"]) and a["node"] != n2.id, a
        assert 0.7 < took < 5, took                     # one timeout_ms (800 ms), then the next replica
        b = p("put", on2[1], "b")                       # n2 is tried last now: no wait
        assert b["rc"] == 0 and b["node"] != n2.id, b
    finally:
        os.kill(pid, signal.SIGCONT)
    p.close()


def test_stale_pooled_connection(make_cluster, probe_of):
    """A node restarts under a pooled keep-alive connection: the next
    request finds it closed before any answer and is sent again on a fresh
    connection to the same node (no failover, even for a blind write)."""
    c = make_cluster(3, sets=["cluster.n_replicas=2"])
    n1, n2, n3 = c.nodes
    p = probe_of(n1.http)
    keys = ["sdk-stale-%d" % i for i in range(30)]
    on3 = [k for k in keys if p("route", k)["replicas"][0] == n3.id]
    assert len(on3) >= 2, on3
    assert p("put", on3[0], "a")["node"] == n3.id      # now pooled
    c.stop(n3.id)
    c.start(n3.id, timeout=30)
    s0 = p("stats")
    a = p("put", on3[1], "b")
    s1 = p("stats")
    assert a["rc"] == 0 and a["node"] == n3.id, a
    assert s1["failovers"] == s0["failovers"], (s0, s1)
    assert s1["connects"] - s0["connects"] >= 1, (s0, s1)
    p.close()


def ring_tag(node):
    r = request(node, "GET", "/cluster/ring")
    assert r.status == 200, r
    return r.json()["ring_tag"]


def ring_status(node):
    """{member id: ring status (joining, normal, ...)} as node sees it."""
    return {m["id"]: m.get("status") for m in dkcluster.view(node)["members"]}


def primary_of(node, key):
    r = request(node, "GET", "/cluster/endpoints/" + quote_key(key))
    assert r.status == 200, r
    return [x["id"] for x in r.json()["replicas"]]


def test_ring_signal_headers(shared_cluster):
    """X-Ring on /kv, /crdt and scan answers (errors too) equals GET
    /cluster/ring's ring_tag, the same on every node; X-Coordinator:
    not-replica exactly when the coordinating node is not a replica."""
    c = shared_cluster(3, sets=["cluster.n_replicas=2"])
    tags = {ring_tag(n) for n in c.nodes}
    assert len(tags) == 1 and re.fullmatch(r"[0-9a-f]{16}", next(iter(tags))), tags
    tag = tags.pop()
    seen = {"replica": 0, "not": 0}
    for i in range(20):
        k = "sig-h-%d" % i
        reps = primary_of(c.nodes[0], k)
        for n in c.nodes:
            r = dkcluster.put(n, k, "v")
            assert r.status == 200, r
            assert r.header("X-Ring") == tag, r
            coord = r.header("X-Coordinator")
            assert coord == (None if n.id in reps else "not-replica"), (k, n.id, reps, r)
            seen["replica" if coord is None else "not"] += 1
    assert seen["replica"] and seen["not"], seen
    n1 = c.nodes[0]
    for path in ("/crdt/sig-crdt", "/kv?prefix=sig-h-&limit=3", "/kv/" + "x" * 2000):
        r = request(n1, "GET", path)
        assert r.header("X-Ring") == tag, (path, r)


def test_ring_signal_join(make_cluster, probe_of):
    """A 4th node joins while an SDK handle (its ring timer at 10 min) is
    open: the first answer after the join carries another X-Ring, the
    handle fetches the ring before its next request, and from then on every
    PUT goes to the key's primary under the new ring (n4 included),
    counted on the nodes' own request metrics. A second handle reading all
    through the join fetches at most about once a second, and ends on the
    new ring too."""
    c = make_cluster(4, sets=["cluster.n_replicas=2"], start=False)
    c.start(["n1", "n2", "n3"], timeout=30, expect=["n1", "n2", "n3"])
    n1, n2, n3, n4 = c.nodes
    p = probe_of(n1.http, DKC_REFRESH_MS=600000)
    keys = ["sdk-join-%d" % i for i in range(80)]
    for k in keys:
        assert p("put", k, "a")["rc"] == 0
    old_tag = ring_tag(n1)
    s0 = p("stats")
    assert s0["ring_signals"] == 0, s0                     # a steady ring says nothing

    # a second handle keeps reading while n4 joins and the new ring
    # spreads (nodes disagree meanwhile): its fetches stay rate-limited
    busy = probe_of(n1.http, DKC_REFRESH_MS=600000)
    b0 = busy("stats")
    t0 = time.monotonic()
    c.start("n4", timeout=60, wait="health")

    def joined():
        try:
            ok = all(ring_status(n).get("n4") == "normal" for n in c.nodes)
            return ok and len({ring_tag(n) for n in c.nodes}) == 1
        except (OSError, AssertionError):
            return False
    deadline = time.monotonic() + 120
    j = 0
    while not joined():
        assert time.monotonic() < deadline, {n.id: ring_status(n) for n in c.nodes}
        for _ in range(10):
            busy("get", keys[j % len(keys)])
            j += 1
    took = time.monotonic() - t0
    b1 = busy("stats")
    assert b1["refreshes"] - b0["refreshes"] <= took / 1.0 + 2, (took, b0, b1)
    assert ring_tag(n1) != old_tag
    new = {k: primary_of(n2, k) for k in keys}
    moved = [k for k in keys if new[k][0] == n4.id]
    assert len(moved) >= 5, moved                           # the join moved keys to n4
    # start with a key that moved: the handle still routes by the old ring
    keys.remove(moved[0])
    keys.insert(0, moved[0])

    before = {n.id: put_count(n) for n in c.nodes}
    sent = {n.id: 0 for n in c.nodes}
    wrong = []
    for i, k in enumerate(keys):
        a = p("put", k, "b")
        assert a["rc"] == 0, a
        sent[a["node"]] += 1
        if a["node"] != new[k][0]:
            wrong.append((i, k, a["node"], new[k]))
    after = {n.id: put_count(n) for n in c.nodes}
    assert {i: after[i] - before[i] for i in after} == sent
    s1 = p("stats")
    print("\n  after the join: %d of %d PUTs off the new ring (%r), %d ring fetch(es), %d signal(s)" % (
        len(wrong), len(keys), wrong, s1["refreshes"] - s0["refreshes"], s1["ring_signals"] - s0["ring_signals"]))
    # the first request went by the old ring (no fetch happened on its
    # own), its answer said so, and every later one went by the new ring
    # (without the signal, all of the moved keys would have missed n4)
    assert [w[0] for w in wrong] == [0], wrong
    assert sent[n4.id] == len(moved) - 1, (sent, len(moved))
    assert 1 <= s1["refreshes"] - s0["refreshes"] <= 2, (s0, s1)
    assert s1["ring_signals"] - s0["ring_signals"] >= 1, (s0, s1)
    for k in keys[:10]:
        assert p("route", k)["replicas"] == new[k]
    # the busy handle: past its last rate-limited fetch, at most its first
    # request goes by a ring that is not the final one
    time.sleep(1.1)
    bwrong = []
    for i, k in enumerate(keys):
        a = busy("put", k, "c")
        assert a["rc"] == 0, a
        if a["node"] != new[k][0]:
            bwrong.append(i)
    b2 = busy("stats")
    print("  the busy handle: %d reads during the %.1f s join, %d signal(s), %d fetch(es) then, "
          "%d PUT(s) off the ring after" % (j, took, b1["ring_signals"] - b0["ring_signals"],
                                            b1["refreshes"] - b0["refreshes"], len(bwrong)))
    assert bwrong in ([], [0]), bwrong
    p.close()
    busy.close()
