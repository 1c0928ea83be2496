"""A node id belongs to one live process: a second dynkvd started from a
copy of a live node's data (here its snapshot, restored on "another host":
another loopback address) with the same id is refused and exits 1 within
seconds, naming the other claimant; the original stays normal at its own
address and keeps serving.  A node restarted at its own address is not
refused (every other cluster test restarts nodes)."""

import os
import shutil
import subprocess
import time

import dkcluster
from dkcluster import put, request, wait_until

IP_PREFIX = "127.0.24"


def test_copied_node_does_not_impersonate_the_live_one(make_cluster, tmp_path):
    c = make_cluster(3)
    n1, n2, n3 = c.nodes
    for i in range(20):
        assert put(n1, "k%d" % i, "v", cl="all").status == 200
    r = request(n2, "POST", "/admin/snapshots?name=copy")
    if r.status == 501:             # the memory engine cannot snapshot: copy the catalog-only folder
        data = str(tmp_path / "data")
        shutil.copytree(n2.data_dir, data, ignore=shutil.ignore_patterns("LOCK"))
    else:
        assert r.status == 201, r
        data = str(tmp_path / "data")
        shutil.copytree(r.json()["path"], data)
    ip = IP_PREFIX + ".9"
    ports = dkcluster.dkbb.free_ports(3)
    log = open(str(tmp_path / "impostor.log"), "wb")
    argv = [dkcluster.dkbb.DYNKVD, "--config", n2.ini,
            "--set", "node.data_dir=" + data,
            "--set", "node.http_listen=%s:%d" % (ip, ports[0]),
            "--set", "node.rpc_listen=%s:%d" % (ip, ports[1]),
            "--set", "node.gossip_listen=%s:%d" % (ip, ports[2])]
    p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        rc = p.wait(timeout=45)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise AssertionError("the copy of n2 kept running: " + open(str(tmp_path / "impostor.log")).read()[-3000:]
                             + "\n--- n2:\n" + n2.read_log()[-3000:])
    finally:
        log.close()
    text = open(str(tmp_path / "impostor.log")).read()
    assert rc == 1, (rc, text[-2000:])
    assert "answers as node id n2" in text and n2.gossip in text, text[-2000:]
    # the original is untouched
    time.sleep(1.0)
    for n in (n1, n3):
        view = {m["id"]: m for m in dkcluster.view(n)["members"]}
        assert view["n2"]["state"] == "normal", view["n2"]
        assert view["n2"]["gossip"] == n2.gossip, view["n2"]
    assert put(n2, "after", "x", cl="all").status == 200
