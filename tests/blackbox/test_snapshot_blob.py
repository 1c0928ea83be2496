"""A snapshot of an LSM node one of whose blob files is missing (an
operator deleted it while the node was stopped): the node serves the
other values, the snapshot is taken (201), and it says which file it
lacks: engine/BLOBS-MISSING in the snapshot and a warning in the log
naming the file (README "Snapshots and restore")."""
import glob
import os

import pytest

import dkbb


def test_snapshot_names_missing_blob_file(make_node):
    if not dkbb.have_engine("lsm"):
        pytest.skip("engine lsm not built")
    n = make_node("lsm", sets=["storage.memtable_size=1MiB", "engine.lsm.blob_min_size=1024"])
    values = {"b%04d" % i: os.urandom(6000) for i in range(400)}
    for k, v in values.items():
        n.put_ok(k, v)
    assert n.stop() == 0
    blobs = sorted(glob.glob(os.path.join(n.data_dir, "engine", "*.blob")))
    assert len(blobs) >= 2, blobs
    gone = os.path.basename(blobs[0])
    os.unlink(blobs[0])
    n.start()
    ok = sum(n.get(k).status == 200 for k in values)
    assert 0 < ok < len(values), ok
    r = n.request("POST", "/admin/snapshots?name=s1")
    assert r.status == 201, r
    snap = r.json()["path"]
    with open(os.path.join(snap, "engine", "BLOBS-MISSING")) as f:
        note = f.read()
    assert note.startswith(gone + ":") and note.count("\n") == 1, note
    log = n.read_log()
    assert gone in log and "BLOBS-MISSING" in log, log[-2000:]
    n.put_ok("after", b"the snapshot")
    assert n.get_value("after") == b"the snapshot"
