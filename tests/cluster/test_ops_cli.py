"""The operator verbs of the `dynkv` CLI against a real 3-node cluster
(n_replicas = 2, so that ownership and endpoints are not trivial): status,
ring, getendpoints and info in table and `-o json` form, their exit codes
(8 once a member is down), no float noise in the JSON, and an unknown verb
named in the error. Also the RPC families of a busy node's /metrics."""

import json
import os
import re
import subprocess

import pytest

import dkcluster
from dkcluster import wait_until

IP_PREFIX = "127.0.12"
DYNKV = os.path.join(dkcluster.BUILDDIR, "client", "dynkv")


def run(node, *args):
    argv = [DYNKV] + (["-n", node.http] if node is not None else []) + list(args)
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def run_json(node, *args, want_rc=0):
    rc, out, err = run(node, "-o", "json", *args)
    assert rc == want_rc, (rc, out, err)
    assert not re.search(r"\d\.\d{7,}", out), "float noise in:\n" + out
    return json.loads(out)


def promtool_path():
    """promtool (fetched by scripts/get-promtool.sh), or None: the black-box
    suite's test says why when it cannot be had."""
    p = subprocess.run(["sh", os.path.join(dkcluster.SRCDIR, "scripts", "get-promtool.sh")],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=120)
    return p.stdout.decode().strip() if p.returncode == 0 else None


@pytest.fixture
def cluster(make_cluster):
    if not os.access(DYNKV, os.X_OK):
        pytest.fail("%s is not built (make client/dynkv)" % DYNKV)
    return make_cluster(3, sets=["cluster.n_replicas=2"])


def test_operator_verbs(cluster):
    n1, n2, n3 = cluster.nodes
    ids = ["n1", "n2", "n3"]

    st = run_json(n2, "status")
    assert st["n_replicas"] == 2 and st["node"] == "n2"
    members = {m["id"]: m for m in st["members"]}
    assert sorted(members) == ids, st
    for m in members.values():
        assert m["state"] == "normal" and m["reachable"] is True and m["ready"] is True, m
        assert isinstance(m["load_bytes"], int) and m["load_bytes"] >= 0, m
        assert re.match(r"\d+\.\d+\.\d+$", m["version"]), m
        assert m["vnodes"] == 256, m
        assert 0 < m["ownership"] < 1 and 0 < m["effective_ownership"] <= 1, m
        # the memory engine takes no snapshots: none listed, 0 bytes
        assert m["snapshots"] == 0 and m["snapshot_bytes"] == 0, m
    # every key has 2 replicas: the effective shares add up to 2
    assert abs(sum(m["effective_ownership"] for m in members.values()) - 2.0) < 1e-3, members
    assert abs(sum(m["ownership"] for m in members.values()) - 1.0) < 1e-3, members
    rc, out, err = run(n2, "status")
    assert rc == 0, err
    rows = {l.split()[0]: l.split() for l in out.splitlines()[2:]}
    assert sorted(rows) == ids and all(r[1] == "normal" for r in rows.values()), out
    assert "EFFECTIVE" in out.splitlines()[1] and "SNAPSHOTS" in out.splitlines()[1], out
    assert all(" 0 (0 B) " in l for l in out.splitlines()[2:]), out

    ring = run_json(n1, "ring")
    assert ring["vnodes"] == 768 and len(ring["nodes"]) == 3, ring
    assert {n["id"]: n["effective_ownership"] for n in ring["nodes"]} == \
        {i: members[i]["effective_ownership"] for i in ids}
    ranges = run_json(n1, "ring", "--ranges")["ranges"]
    assert len(ranges) == 768
    assert all(len(set(r["replicas"])) == 2 for r in ranges), ranges[:3]
    assert all(re.match(r"^[0-9a-f]{32}$", r["end"]) for r in ranges)
    rc, out, err = run(n1, "ring")
    assert rc == 0 and len(out.splitlines()) == 5, (out, err)

    # getendpoints names exactly the nodes that hold the key
    for k in ("user:1", "user:2", "cart/9"):
        r = dkcluster.put(n3, k, "v-" + k, cl="all")
        assert r.status == 200, r
        ep = run_json(n1, "getendpoints", k)
        assert ep["key"] == k and re.match(r"^[0-9a-f]{32}$", ep["token"]), ep
        reps = [r["id"] for r in ep["replicas"]]
        assert len(reps) == 2, ep
        assert sorted(reps) == sorted(dkcluster.holders(cluster, k)), (k, reps)
        rc, out, err = run(n2, "getendpoints", k)
        assert rc == 0 and [l.split()[0] for l in out.splitlines()] == reps, (out, err)

    # n3 coordinated those writes: its RPC latency histogram has them, and
    # a busy node's /metrics is still promtool-clean
    text = dkcluster.request(n3, "GET", "/metrics").body.decode()
    counts = [float(l.split()[-1]) for l in text.splitlines()
              if l.startswith('dynkv_rpc_request_duration_seconds_count{')]
    assert sum(counts) >= 3, [l for l in text.splitlines() if "rpc_request" in l]
    assert 'dynkv_gossip_members{state="normal"} 3' in text
    promtool = promtool_path()
    if promtool:
        p = subprocess.run([promtool, "check", "metrics"], input=text.encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        assert p.returncode == 0 and not p.stdout.strip(), p.stdout.decode()

    info = run_json(n3, "info")
    assert info["node"] == "n3" and info["ready"] is True and info["not_ready"] == []
    for f in ("version", "uptime_seconds", "data_bytes", "memtable_bytes", "hints_backlog_bytes",
              "cache_hit_rate", "process"):
        assert f in info, (f, info)
    rc, out, err = run(n3, "info")
    assert rc == 0 and re.search(r"^Ready\s+: yes$", out, re.M), (out, err)

    # a member down: status says so, and exits 8
    cluster.kill("n3")
    assert wait_until(lambda: dkcluster.states(n1).get("n3") == "down", 30), dkcluster.states(n1)
    st = run_json(n1, "status", want_rc=8)
    n3m = [m for m in st["members"] if m["id"] == "n3"][0]
    assert n3m["state"] == "down" and n3m["reachable"] is False and n3m["load_bytes"] is None, n3m
    assert n3m["snapshots"] is None and n3m["snapshot_bytes"] is None, n3m
    rc, out, err = run(n1, "status")
    assert rc == 8 and "not every member" in err, (rc, out, err)
    assert re.search(r"^n3\s+down\s+\S+\s+\?", out, re.M), out


def test_unknown_verb_and_bad_output():
    rc, out, err = run(None, "frobnicate")
    assert rc == 2 and "unknown command 'frobnicate'" in err and "getendpoints" in err, err
    rc, out, err = run(None, "getendpoints")
    assert rc == 2 and "'getendpoints'" in err, err
    rc, out, err = run(None, "-o", "yaml", "status")
    assert rc == 2 and "yaml" in err, err
    rc, out, err = run(None, "--help")
    assert rc == 0 and "exit status" in out and "getendpoints KEY" in out, out
