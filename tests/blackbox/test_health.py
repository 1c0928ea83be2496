"""Liveness and readiness: GET /livez, GET /readyz (?verbose) and its
legacy alias GET /health, on a ready node, on a node whose engine turned
read-only after a full disk, and on a node that never joined its cluster."""

import os
import subprocess

import pytest

import dkbb

CHECKS = {"engine", "cluster", "membership", "ring_status", "ring", "draining"}


def checks(r):
    return {c["name"]: c for c in r.json()["checks"]}


def test_ready_node(node):
    r = node.request("GET", "/livez")
    assert r.status == 200, r
    assert r.json()["status"] == "ok"
    r = node.request("GET", "/readyz")
    assert r.status == 200, r
    j = r.json()
    assert j["status"] == "ok" and j["checks"] == [], j
    r = node.request("GET", "/readyz?verbose")
    assert r.status == 200, r
    c = checks(r)
    assert set(c) == CHECKS, c
    assert all(x["ok"] is True and x["message"] for x in c.values()), c
    # /health is the legacy alias of /readyz
    h = node.request("GET", "/health?verbose")
    assert h.status == 200 and set(checks(h)) == CHECKS, h
    assert node.request("HEAD", "/readyz").status == 200
    r = node.request("POST", "/readyz", body=b"")
    assert r.status == 405 and "GET" in (r.header("Allow") or ""), r


def test_not_ready_while_joining(make_node):
    """A node whose only seed never answers stays 'joining': alive, not
    ready, and says which check fails."""
    n = make_node("memory", ["cluster.seeds=127.0.0.1:%d" % dkbb.free_port()], start=False)
    n.start(path="/livez")
    r = n.request("GET", "/readyz")
    assert r.status == 503, r
    j = r.json()
    assert j["status"] == "unavailable" and j["error"] == "not_ready", j
    # not in touch with the cluster, ring status joining, not on the ring
    assert sorted(c["name"] for c in j["checks"]) == ["membership", "ring", "ring_status"], j
    assert "joining" in j["message"] and "seeds" in j["message"], j
    c = checks(n.request("GET", "/readyz?verbose"))
    assert set(c) == CHECKS, c
    assert not c["membership"]["ok"], c
    assert c["engine"]["ok"] and c["draining"]["ok"], c
    assert n.request("GET", "/health").status == 503
    assert n.request("GET", "/livez").status == 200


def small_fs_wrapper(mountpoint):
    """A command prefix that runs the daemon in its own mount namespace with
    a 3 MiB tmpfs on mountpoint, or None (with the reason) when this
    machine cannot do that."""
    script = 'mount -t tmpfs -o size=3m dynkv-test "$1" && shift && exec "$@"'
    for extra in ([], ["-r"]):
        cmd = ["unshare", "-m", "--propagation", "private"] + extra
        try:
            p = subprocess.run(cmd + ["sh", "-c", script, "sh", mountpoint, "true"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
        except (OSError, subprocess.TimeoutExpired) as e:
            return None, str(e)
        if p.returncode == 0:
            return cmd + ["sh", "-c", script, "sh", mountpoint], None
        why = p.stdout.decode("utf-8", "replace").strip()
    return None, why


def test_not_ready_when_engine_read_only(make_node):
    """A full disk makes the LSM engine refuse writes (a WAL write fails with
    ENOSPC); the node stays alive and readable but is no longer ready."""
    if not dkbb.have_engine("lsm"):
        pytest.skip("engine-lsm.so not built in %s" % dkbb.PLUGIN_PATH)
    n = make_node("lsm", start=False)
    os.makedirs(n.data_dir)
    wrapper, why = small_fs_wrapper(n.data_dir)
    if wrapper is None:
        pytest.skip("cannot mount a small tmpfs in a private mount namespace: %s" % why)
    n.wrapper = wrapper
    n.start()
    assert n.request("GET", "/readyz").status == 200
    n.put_ok("ro-first", b"kept")
    value = os.urandom(256 * 1024)
    statuses = []
    for i in range(40):
        r = n.put("ro-%d" % i, value)
        statuses.append(r.status)
        if r.status != 200:
            break
    assert statuses[-1] != 200, "40 PUTs of 256 KiB fit in a 3 MiB file system?"
    r = n.put("ro-after", b"x")
    assert r.status == 503 and r.json()["error"] == "read_only", r
    r = n.request("GET", "/readyz")
    assert r.status == 503, r
    j = r.json()
    assert [c["name"] for c in j["checks"]] == ["engine"], j
    assert "lsm_readonly" in j["message"], j
    assert n.request("GET", "/health").status == 503
    assert n.request("GET", "/livez").status == 200
    assert n.get_value("ro-first") == b"kept"
