"""Node snapshots (POST/GET/DELETE /admin/snapshots) and restore: a
snapshot holds every write acknowledged before it and none after a restore
point; a data directory restored from it starts under a new incarnation
(its actor never reuses a counter spent after the snapshot) and keeps
every key of the snapshot; names are checked; engines without a
checkpoint answer 501."""
import json
import os
import shutil

import pytest

import dkbb


def snapshot(n, name=None):
    path = "/admin/snapshots" + ("?name=" + name if name else "")
    return n.request("POST", path)


def restore(n, snap_dir):
    """What README "Snapshots and restore" tells an operator: keep the
    snapshot outside the data directory, replace the directory with it."""
    keep = n.root + "/restore-from"
    shutil.copytree(snap_dir, keep, symlinks=True)
    shutil.rmtree(n.data_dir)
    shutil.move(keep, n.data_dir)


@pytest.mark.parametrize("engine", ["lsm", "rocksdb", "lmdb"])
def test_snapshot_and_restore_round_trip(make_node, engine):
    if not dkbb.have_engine(engine):
        pytest.skip("engine %s not built" % engine)
    # a small memtable so the snapshot holds tables and a live WAL both
    sets = ["storage.memtable_size=1MiB"] if engine == "lsm" else []
    n = make_node(engine, sets=sets)
    before = {"k%04d" % i: os.urandom(900) for i in range(2500)}
    for k, v in before.items():
        n.put_ok(k, v)
    r = snapshot(n, "s1")
    assert r.status == 201, r
    info = r.json()
    assert info["name"] == "s1" and info["bytes"] > 0 and info["path"].endswith("/snapshots/s1"), info
    snap_dir = info["path"]
    assert os.path.isfile(os.path.join(snap_dir, "SNAPSHOT"))
    # a second one of the same name is refused; a bad name is 400
    assert snapshot(n, "s1").status == 409
    for bad in ("..", ".hidden", "a/b", "x" * 65, "sp%20ace"):
        assert snapshot(n, bad).status in (400, 404), bad
    # writes after the snapshot
    after = {"a%03d" % i: b"late" for i in range(100)}
    for k, v in after.items():
        n.put_ok(k, v)
    n.put_ok("k0000", b"overwritten after the snapshot")
    listing = n.request("GET", "/admin/snapshots").json()
    assert [s["name"] for s in listing["snapshots"]] == ["s1"], listing

    # restore: the snapshot folder becomes the data directory
    assert n.stop() == 0
    restore(n, snap_dir)
    n.start()
    log = n.read_log()
    assert "starts from snapshot s1" in log, log[-2000:]
    assert not os.path.exists(os.path.join(n.data_dir, "SNAPSHOT")), "the restore marker stays"
    for k, v in before.items():
        assert n.get_value(k) == v, k
    for k in after:
        assert n.get(k).status == 404, k
    # the restored node writes on: a new version supersedes the snapshot's
    r = n.get("k0001")
    n.put_ok("k0001", b"after restore", headers={"X-Context": r.json()["context"]})
    assert n.get_value("k0001") == b"after restore"
    versions = n.get("k0001").json()["version"]
    assert len(versions) >= 1, versions

    # the restored directory has no snapshots; a new one, then delete it
    assert n.request("GET", "/admin/snapshots").json()["snapshots"] == []
    assert snapshot(n).status == 201          # default name: the UTC time
    names = [s["name"] for s in n.request("GET", "/admin/snapshots").json()["snapshots"]]
    assert len(names) == 1 and names[0].endswith("Z"), names
    assert n.request("DELETE", "/admin/snapshots/nosuch").status == 404
    assert n.request("DELETE", "/admin/snapshots/" + names[0]).status == 200
    assert n.request("GET", "/admin/snapshots").json()["snapshots"] == []


def test_restored_snapshot_takes_a_new_incarnation(make_node):
    n = make_node("lsm")
    n.put_ok("x", b"1")
    assert snapshot(n, "first").status == 201
    snap_dir = os.path.join(n.data_dir, "snapshots", "first")
    v1 = n.get("x").json()["version"]
    assert n.stop() == 0
    restore(n, snap_dir)
    n.start()
    r = n.get("x")
    n.put_ok("x", b"2", headers={"X-Context": r.json()["context"]})
    v2 = n.get("x").json()["version"]
    # the new write is counted under an actor the snapshot never had
    assert set(v2) - set(v1), (v1, v2)


def test_snapshot_of_another_node_refused(make_node, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    n = make_node("lsm", root=str(tmp_path / "a"))
    n.put_ok("x", b"1")
    assert snapshot(n, "s").status == 201
    snap_dir = os.path.join(n.data_dir, "snapshots", "s")
    other = dkbb.Node("lsm", sets=["node.id=n7"], root=str(tmp_path / "b"))
    shutil.copytree(snap_dir, other.data_dir)
    try:
        other.spawn(dkbb.free_port())
        assert other.proc.wait(timeout=20) == 2
        assert "snapshot of node n1" in other.read_log()
    finally:
        other.cleanup()


def test_engine_without_checkpoint_answers_501(make_node):
    n = make_node("memory")
    r = snapshot(n, "m")
    assert r.status == 501 and "memory" in r.json()["message"], r
    assert n.request("GET", "/admin/snapshots").json()["snapshots"] == []
    assert n.request("PUT", "/admin/snapshots").status == 405


def test_singular_post_is_an_alias(make_node):
    """POST /admin/snapshot (the issue's and nodetool's singular) writes one
    like POST /admin/snapshots; only POST: GET of the singular is 404."""
    n = make_node("lsm")
    n.put_ok("k", b"v")
    r = n.request("POST", "/admin/snapshot?name=one")
    assert r.status == 201 and r.json()["name"] == "one", r
    names = [s["name"] for s in n.request("GET", "/admin/snapshots").json()["snapshots"]]
    assert names == ["one"], names
    assert n.request("GET", "/admin/snapshot").status == 404
    assert n.request("POST", "/admin/snapshot?name=one").status == 409


def test_cli_snapshot_verbs(make_node):
    import subprocess
    cli = os.path.join(dkbb.BUILDDIR, "client", "dynkv")
    n = make_node("lsm")
    n.put_ok("x", b"1")

    def run(*args):
        p = subprocess.run([cli, "-n", "127.0.0.1:%d" % n.port] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    rc, out, err = run("snapshot", "nightly-1")
    assert rc == 0 and "nightly-1" in out, (rc, out, err)
    rc, out, err = run("-o", "json", "listsnapshots")
    assert rc == 0 and [s["name"] for s in json.loads(out)["snapshots"]] == ["nightly-1"], (rc, out, err)
    rc, out, err = run("snapshot", "nightly-1")
    assert rc == 1 and "exists already" in err, (rc, out, err)
    rc, out, err = run("clearsnapshot", "nightly-1")
    assert rc == 0 and "deleted" in out, (rc, out, err)
    rc, out, err = run("clearsnapshot", "nightly-1")
    assert rc == 1, (rc, out, err)
    rc, out, err = run("listsnapshots")
    assert rc == 0 and "nightly-1" not in out, (rc, out, err)
