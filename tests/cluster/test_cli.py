"""The `dynkv` command-line client against a running 3-node cluster:
output and exit status of get/put/delete/scan/cluster status, siblings,
conditional writes, and the failures (unreachable node, bad usage, not
enough replicas).  Also tools/dynkv-cluster's own command line."""

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

import dkcluster

IP_PREFIX = "127.0.5"
DYNKV = os.path.join(dkcluster.BUILDDIR, "client", "dynkv")


def run(node, *args, stdin=None):
    """(exit status, stdout bytes, stderr text) of `dynkv -n NODE args...`."""
    argv = [DYNKV] + (["-n", node.http] if node is not None else []) + list(args)
    p = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


@pytest.fixture
def cluster(shared_cluster):
    """One 3-node cluster for the tests that leave it as it was (each its
    own keys)."""
    if not os.access(DYNKV, os.X_OK):
        pytest.fail("%s is not built (make client/dynkv)" % DYNKV)
    return shared_cluster(3)


def test_put_get_delete(cluster):
    n1, n2, n3 = cluster.nodes
    rc, out, err = run(n1, "-C", "all", "put", "cli/a b", "hello")
    assert rc == 0, err
    ctx = out.decode().strip()
    assert ctx and "\n" not in ctx, out
    rc, out, err = run(n2, "-C", "quorum", "get", "cli/a b")
    assert (rc, out) == (0, b"hello"), (rc, out, err)
    # the key travelled percent-encoded: the HTTP API sees the same key
    assert dkcluster.values(dkcluster.get(n3, "cli/a b", cl="all")) == [b"hello"]

    # a value from stdin, binary
    blob = bytes(range(256))
    rc, out, err = run(n3, "-C", "all", "put", "cli-bin", "-", stdin=blob)
    assert rc == 0, err
    rc, out, err = run(n1, "get", "cli-bin")
    assert (rc, out) == (0, blob), (rc, err)

    rc, out, err = run(n1, "get", "cli-missing")
    assert rc == 4 and out == b"" and "not found" in err, (rc, out, err)
    rc, out, err = run(n2, "-C", "all", "delete", "cli/a b")
    assert rc == 0 and out == b"", (rc, out, err)
    rc, out, err = run(n3, "-C", "all", "get", "cli/a b")
    assert rc == 4, (rc, out, err)


def test_siblings_and_conditional_put(cluster):
    n1, n2, n3 = cluster.nodes
    rc, out, err = run(n1, "-C", "all", "put", "cli-sib", "from-a")
    assert rc == 0 and err == "", (rc, err)
    # a blind put next to a stored value makes a sibling, and says so
    rc, out, err = run(n2, "-C", "all", "put", "cli-sib", "from-b")
    assert rc == 0 and "2 concurrent values" in err and "sibling" in err, (rc, err)
    rc, out, err = run(n3, "-C", "all", "get", "cli-sib")
    assert rc == 3, (rc, out, err)
    lines = out.decode().splitlines()
    assert [ln.split(" version ")[0] for ln in lines if ln.startswith("sibling ")] == \
        ["sibling 1/2", "sibling 2/2"], lines
    assert sorted(ln for ln in lines if ln.startswith("from-")) == ["from-a", "from-b"], lines
    assert lines[-1].startswith("context "), lines
    ctx = lines[-1].split(" ", 1)[1]
    assert "concurrent values" in err
    rc, out, err = run(n3, "-j", "-C", "all", "put", "-c", ctx, "cli-sib", "merged")
    assert rc == 0 and err == "", err
    assert json.loads(out)["siblings"] == 1 and json.loads(out)["key"] == "cli-sib", out
    assert run(n1, "-C", "all", "get", "cli-sib")[:2] == (0, b"merged")

    rc, out, err = run(n1, "-C", "all", "put", "--if-none-match", "cli-sib", "again")
    assert rc == 5 and "412" in err, (rc, err)
    rc, out, err = run(n1, "-C", "all", "put", "--if-none-match", "cli-new", "created")
    assert rc == 0, err
    rc, out, err = run(n2, "-C", "all", "put", "--if-match", out.decode().strip(), "cli-new", "v2")
    assert rc == 0, err
    assert run(n3, "-C", "all", "get", "cli-new")[:2] == (0, b"v2")
    assert run(n2, "--no-routing", "-C", "all", "get", "cli-new")[:2] == (0, b"v2")
    rc, out, err = run(n1, "-j", "-C", "all", "put", "cli-new", "v3")
    assert rc == 0 and json.loads(out)["siblings"] == 2 and "concurrent" in err, (out, err)

    # CRDTs through the same client
    rc, out, err = run(n1, "-C", "all", "crdt", "apply", "cli-cnt", '{"type":"counter","increment":4}')
    assert (rc, out) == (0, b"4\n"), (rc, out, err)
    rc, out, err = run(n2, "-C", "all", "crdt", "apply", "cli-cnt", "-", stdin=b'{"type":"counter","increment":-1}')
    assert (rc, out) == (0, b"3\n"), (rc, out, err)
    rc, out, err = run(n3, "-j", "-C", "all", "crdt", "get", "cli-cnt")
    assert rc == 0 and json.loads(out) == {"key": "cli-cnt", "type": "counter", "value": 3}, out
    assert run(n3, "crdt", "get", "cli-none")[0] == 4
    rc, out, err = run(n3, "get", "cli-cnt")
    assert rc == 1 and "409" in err, (rc, err)


def test_scan(cluster):
    n1, n2, _ = cluster.nodes
    for i in range(5):
        assert run(n1, "-C", "all", "put", "scan/%d" % i, "v\t%d" % i)[0] == 0
    assert run(n1, "-C", "all", "put", "scan0", "outside")[0] == 0
    rc, out, err = run(n2, "-C", "all", "scan", "scan/")
    assert rc == 0, err
    assert out.decode().splitlines() == ["scan/%d\tv\\t%d" % (i, i) for i in range(5)], out
    rc, out, err = run(n2, "-C", "all", "scan", "--limit", "2", "scan/")
    assert rc == 0 and out.decode().splitlines() == ["scan/0\tv\\t0", "scan/1\tv\\t1"], out


def test_cluster_status_and_failures(make_cluster):
    cluster = make_cluster(3)     # its own: two nodes are killed below
    n1, n2, n3 = cluster.nodes
    rc, out, err = run(n2, "cluster", "status")
    assert rc == 0, err
    lines = out.decode().splitlines()
    assert lines[0].startswith("node n2, ring version "), lines
    assert lines[1].split()[:3] == ["ID", "STATE", "HTTP"], lines
    rows = {ln.split()[0]: ln.split() for ln in lines[2:]}
    assert sorted(rows) == ["n1", "n2", "n3"], lines
    for n in cluster.nodes:
        assert rows[n.id][1:5] == ["normal", n.http, n.rpc, n.gossip], rows[n.id]

    assert run(None, "-n", "127.0.5.250:1", "get", "x")[0] == 7
    assert run(n1, "frobnicate")[0] == 2
    assert run(n1, "-C", "most", "get", "x")[0] == 2
    rc, out, err = run(n1, "--help")
    assert rc == 0 and b"exit status" in out

    cluster.kill("n2")
    cluster.kill("n3")
    rc, out, err = run(n1, "-C", "quorum", "--strict", "put", "cli-503", "v")
    assert rc == 6, (rc, out, err)
    assert "503" in err and "1 acknowledged, 2 needed, 3 replicas" in err, err


def test_dynkv_cluster_command_line():
    """tools/dynkv-cluster as an operator runs it: create, start, status,
    kill, start one node, stop, remove without a node (refused), destroy."""
    tool = os.path.join(dkcluster.SRCDIR, "tools", "dynkv-cluster")
    root = dkcluster.tmp_root()
    d = os.path.join(root, "c")
    port = dkcluster.tool.find_base_port(["127.0.5.1", "127.0.5.2"])

    def cl(*args):
        p = subprocess.run([sys.executable, tool] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        return p.returncode, p.stdout.decode(errors="replace")

    try:
        rc, out = cl("create", d, "--nodes", "2", "--ip-prefix", "127.0.5", "--base-port",
                     str(port), "--set", "cluster.gossip_interval=200ms")
        assert rc == 0, out
        assert "n2  http 127.0.5.2:%d  rpc 127.0.5.2:%d  gossip 127.0.5.2:%d" \
            % (port, port + 1, port + 2) in out, out
        with open(os.path.join(d, "n2", "node.ini")) as f:
            ini = f.read()
        assert "seeds = 127.0.5.1:%d,127.0.5.2:%d" % (port + 2, port + 2) in ini, ini
        assert "gossip_interval = 200ms" in ini, ini
        rc, out = cl("start", d)
        # progress lines (stderr), then the curl line (stdout)
        assert rc == 0 and out.strip().splitlines()[-1] == "curl http://127.0.5.1:%d/cluster" % port, out
        assert "n2 sees all 2 nodes normal" in out, out
        rc, out = cl("status", d)
        rows = [ln.split() for ln in out.splitlines()[1:]]
        assert rc == 0 and [(r[0], r[2], r[3], r[4]) for r in rows] == [
            ("n1", "yes", "127.0.5.1:%d" % port, "normal"),
            ("n2", "yes", "127.0.5.2:%d" % port, "normal")], out
        assert cl("kill", d, "n2") == (0, "n2 killed\n")
        rc, out = cl("status", d)
        assert out.splitlines()[2].split()[:3] == ["n2", "-", "no"], out
        rc, out = cl("start", d, "2")
        assert rc == 0, out
        assert cl("stop", d) == (0, "n1 stopped\nn2 stopped\n")
        assert cl("stop", d, "n1") == (0, "n1 not running\n")
        # `remove DIR` without a node once deleted the folder: now a usage
        # error that points to destroy and leaves every file in place.
        rc, out = cl("remove", d)
        assert rc == 2 and "dynkv-cluster destroy %s" % d in out, out
        assert os.path.isfile(os.path.join(d, "cluster.json")), os.listdir(d)
        assert os.path.isfile(os.path.join(d, "n2", "node.ini"))
        assert cl("destroy", d)[0] == 0 and not os.path.exists(d)
        rc, out = cl("destroy", root)
        assert rc == 1 and "not a dynkv-cluster folder" in out, out
    finally:
        if os.path.exists(d):
            dkcluster.tool.Cluster(d).stop(sig=signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)


def test_dynkv_cluster_token(tmp_path):
    """dynkv-cluster against nodes with [security] tokens_file: start waits
    for GET /cluster with --token, status shows states only with a token
    (--token or $DYNKV_TOKEN)."""
    tool = os.path.join(dkcluster.SRCDIR, "tools", "dynkv-cluster")
    out = subprocess.run([dkcluster.DYNKVD, "token", "ops", "read"], stdout=subprocess.PIPE, check=True,
                         timeout=30).stdout.decode().splitlines()
    token = out[0]
    (tmp_path / "tokens").write_text(out[1] + "\n")
    root = dkcluster.tmp_root()
    d = os.path.join(root, "c")
    port = dkcluster.tool.find_base_port(["127.0.5.1"])

    def cl(*args, env=None):
        e = dict(os.environ)
        e.pop("DYNKV_TOKEN", None)
        e.update(env or {})
        p = subprocess.run([sys.executable, tool] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60, env=e)
        return p.returncode, p.stdout.decode(errors="replace")

    try:
        rc, out = cl("create", d, "--nodes", "1", "--ip-prefix", "127.0.5", "--base-port", str(port),
                     "--set", "security.tokens_file=%s" % (tmp_path / "tokens"))
        assert rc == 0, out
        # --token=T: a base64url token may begin with "-", which argparse
        # would take for an option after a bare --token (1 run in 64)
        rc, out = cl("start", d, "--token=" + token, "--timeout", "20")
        assert rc == 0 and "n1 sees all 1 nodes normal" in out, out
        assert out.strip().splitlines()[-1] == \
            'curl -H "Authorization: Bearer $DYNKV_TOKEN" http://127.0.5.1:%d/cluster' % port, out
        assert token not in out
        rc, out = cl("status", d)
        assert rc == 0 and out.splitlines()[1].split()[-1] == "-", out      # no token: no view
        rc, out = cl("status", d, env={"DYNKV_TOKEN": token})
        assert rc == 0 and out.splitlines()[1].split()[-1] == "normal", out
        rc, out = cl("status", d, "--token=" + token)
        assert rc == 0 and out.splitlines()[1].split()[-1] == "normal", out
        assert cl("stop", d) == (0, "n1 stopped\n")
    finally:
        if os.path.exists(d):
            dkcluster.tool.Cluster(d).stop(sig=signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)
