"""The maintenance verbs (nodetool's compact, flush, drain) through the
CLI and HTTP: POST /admin/flush writes the LSM memtable out as a table,
POST /admin/compact leaves one run of tables and every key readable, an
engine without compact_range answers 501 (the CLI exits 1 and says so),
other methods are 405, and drain answers 202, then the process drains as
for SIGTERM and exits 0 with every acknowledged write kept."""
import json
import os
import subprocess
import time

import pytest

import dkbb

CLI = os.path.join(dkbb.BUILDDIR, "client", "dynkv")


def cli(n, *args):
    p = subprocess.run([CLI, "-n", "127.0.0.1:%d" % n.port, "-T", "60"] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=90)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def tables(n):
    """The LSM's table files under the data directory."""
    out = []
    for d, _, files in os.walk(n.data_dir):
        if "snapshots" in d:
            continue
        out += [f for f in files if f.endswith(".sst")]
    return sorted(out)


def test_flush_and_compact_lsm(make_node):
    if not dkbb.have_engine("lsm"):
        pytest.skip("engine lsm not built")
    n = make_node("lsm", sets=["storage.memtable_size=64MiB"])
    data = {"k%04d" % i: os.urandom(200) for i in range(1500)}
    for k, v in data.items():
        n.put_ok(k, v)
    before = tables(n)
    rc, out, err = cli(n, "flush")
    assert rc == 0, (out, err)
    assert "flush done" in out, out
    after = tables(n)
    assert len(after) > len(before), (before, after)
    # a second generation of tables, then compact them
    for i in range(700):
        k = "j%04d" % i
        data[k] = b"second " + k.encode()
        n.put_ok(k, data[k])
    assert cli(n, "flush")[0] == 0
    rc, out, err = cli(n, "-o", "json", "compact")
    assert rc == 0, (out, err)
    j = json.loads(out)
    assert j["done"] == "compact" and j["ms"] >= 0, j
    for k, v in data.items():
        assert n.get_value(k) == v, k
    assert "compact asked over HTTP: done" in n.read_log()


def test_methods_and_unsupported(make_node):
    n = make_node("memory")
    for path in ("/admin/compact", "/admin/flush", "/admin/drain"):
        r = n.request("GET", path)
        assert r.status == 405 and "POST" in r.header("Allow", ""), (path, r)
    assert n.request("POST", "/admin/compact").status == 200
    assert n.request("POST", "/admin/flush").status == 200
    if not dkbb.have_engine("lmdb"):
        return
    m = make_node("lmdb")
    r = m.request("POST", "/admin/compact")
    assert r.status == 501 and r.json()["error"], r
    rc, out, err = cli(m, "compact")
    assert rc == 1 and "compact_range" in err, (rc, out, err)
    assert cli(m, "flush")[0] == 0


def test_drain_exits_zero_and_keeps_writes(make_node):
    engine = "lsm" if dkbb.have_engine("lsm") else "memory"
    n = make_node(engine)
    for i in range(200):
        n.put_ok("d%03d" % i, b"v%d" % i)
    rc, out, err = cli(n, "drain")
    assert rc == 0, (out, err)
    assert "draining" in out, out
    deadline = time.monotonic() + 30
    while n.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert n.proc.poll() == 0, n.read_log()[-3000:]
    log = n.read_log()
    assert "drain asked over HTTP" in log and "draining" in log, log[-2000:]
    n.proc = None
    if engine == "memory":
        return
    n.start()
    for i in range(200):
        assert n.get_value("d%03d" % i) == b"v%d" % i
