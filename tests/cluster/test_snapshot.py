"""A node restored from a snapshot in a live cluster gets back what it
missed: 3 nodes, N = 3, LSM, no hinted handoff (hint_window = 0), so only
the restored node's refill (it starts as `replacing` under a new
incarnation and streams its ranges) can bring back the writes made after
the snapshot.  Every key then reads the same from the restored node's own
copy as from a node that never stopped, and its new writes are not
mistaken for old ones (its version-vector actor is new)."""

import json
import os
import shutil
import subprocess
import time

import pytest

import dkcluster
from dkcluster import local, put, request, wait_until

IP_PREFIX = "127.0.23"
DYNKV = os.path.join(dkcluster.BUILDDIR, "client", "dynkv")

lsm_only = pytest.mark.skipif(not dkcluster.have_engine("lsm"),
                              reason="engine-lsm.so not built in %s" % dkcluster.PLUGIN_PATH)


def copy_of(node, key):
    r = local(node, key)
    return (r.status, dkcluster.values(r) if r.status == 200 else [])


@lsm_only
def test_restored_node_catches_up(make_cluster):
    c = make_cluster(3, engine="lsm", sets=["cluster.hint_window=0", "storage.memtable_size=1MiB"])
    n1, n2, n3 = c.nodes
    old = ["old-%03d" % i for i in range(200)]
    for k in old:
        assert put(n1, k, "v1-" + k, cl="all").status == 200
    r = request(n2, "POST", "/admin/snapshots?name=before")
    assert r.status == 201, r
    snap = r.json()["path"]
    # `dynkv status` shows each member's snapshots and their size
    st = subprocess.run([DYNKV, "-n", n1.http, "-o", "json", "status"], stdout=subprocess.PIPE, timeout=60)
    assert st.returncode == 0, st
    rows = {m["id"]: m for m in json.loads(st.stdout)["members"]}
    assert (rows["n2"]["snapshots"], rows["n2"]["snapshot_bytes"]) == (1, r.json()["bytes"]), rows["n2"]
    assert r.json()["bytes"] > 0, r.json()
    assert (rows["n1"]["snapshots"], rows["n1"]["snapshot_bytes"]) == (0, 0), rows["n1"]
    keep = os.path.join(c.root, "n2-before")
    shutil.copytree(snap, keep)

    new = ["new-%03d" % i for i in range(100)]
    for k in new:
        assert put(n1, k, "v1-" + k, cl="all").status == 200
    for k in old[:30]:
        ctx = local(n1, k).header("x-context")
        assert put(n1, k, "v2-" + k, cl="all", headers={"X-Context": ctx}).status == 200

    c.stop("n2")
    shutil.rmtree(n2.data_dir)
    shutil.move(keep, n2.data_dir)
    c.start("n2", timeout=60)
    assert "starts from snapshot before" in n2.read_log()

    keys = old + new

    def behind():
        return [k for k in keys if copy_of(n2, k) != copy_of(n1, k)]

    t0 = time.monotonic()
    left = wait_until(lambda: not behind(), 60, 0.5) or behind()
    assert left is True, "after %.0f s n2 still differs on %d keys, e.g. %r" % (
        time.monotonic() - t0, len(left), [(k, copy_of(n1, k), copy_of(n2, k)) for k in left[:3]])
    assert wait_until(lambda: dkcluster.states(n1).get("n2") == "normal", 30), dkcluster.states(n1)
    assert copy_of(n2, "old-005") == (200, [b"v2-old-005"])
    assert copy_of(n2, "new-099") == (200, [b"v1-new-099"])

    # the restored node's own writes supersede, never collide
    ctx = local(n2, "old-100").header("x-context")
    assert put(n2, "old-100", "v3", cl="all", headers={"X-Context": ctx}).status == 200
    for n in c.nodes:
        assert copy_of(n, "old-100") == (200, [b"v3"]), n.id
