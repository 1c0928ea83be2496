"""tools/dynkv-cluster as the README uses it: the "Running a cluster" lines
run from the repository root without DYNKVD, DYNKV_BUILDDIR or
DYNKV_PLUGIN_PATH (only the addresses are moved to this module's range and
free ports), and `start` shows progress while nodes come up."""

import os
import re
import shutil
import subprocess
import tempfile

import pytest

import dkcluster

IP_PREFIX = "127.0.12"


def readme_block():
    """The shell lines of the README's "Running a cluster" code block."""
    with open(os.path.join(dkcluster.SRCDIR, "README.md")) as f:
        text = f.read()
    sec = text.split("## Running a cluster", 1)[1]
    block = sec.split("```sh\n", 1)[1].split("```", 1)[0]
    return [l.split("  #")[0].strip() for l in block.splitlines() if l.strip()]


def test_readme_lines_work_from_the_repository_root():
    src = os.path.realpath(dkcluster.SRCDIR)
    build = os.path.realpath(dkcluster.BUILDDIR)
    if os.path.dirname(build) != src:
        pytest.skip("the build folder %s is not directly in the source tree %s, where "
                    "the README's lines look" % (build, src))
    rel_build = os.path.basename(build)
    port = dkcluster.tool.find_base_port(["%s.%d" % (IP_PREFIX, i) for i in range(1, 6)])
    root = tempfile.mkdtemp(prefix="dynkv-readme-")
    where = os.path.join(root, "mycluster")
    env = {k: v for k, v in os.environ.items()
           if k not in ("DYNKVD", "DYNKV_BUILDDIR", "DYNKV_PLUGIN_PATH")}
    env["DYNKV_NODE"] = "%s.1:%d" % (IP_PREFIX, port)    # the client's default node
    lines = readme_block()
    assert any(l.startswith("tools/dynkv-cluster create mycluster") for l in lines), lines
    outputs = []
    try:
        for line in lines:
            cmd = re.sub(r"\bmycluster\b", where, line)
            cmd = cmd.replace("127.0.0.", IP_PREFIX + ".").replace(":8080", ":%d" % port)
            cmd = cmd.replace("_build/", rel_build + "/")
            if " create " in cmd:
                cmd += " --ip-prefix %s --base-port %d" % (IP_PREFIX, port)
            p = subprocess.run(["sh", "-c", cmd], cwd=src, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=90)
            out, err = p.stdout.decode(), p.stderr.decode()
            outputs.append((line, p.returncode, out, err))
            assert p.returncode == 0, "README line %r (run as %r) failed with %d:\n%s\n%s" % (
                line, cmd, p.returncode, out, err)
    finally:
        subprocess.run([os.path.join(src, "tools", "dynkv-cluster"), "stop", where], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        shutil.rmtree(root, ignore_errors=True)
    by_line = {l: (rc, out, err) for l, rc, out, err in outputs}
    start = by_line["tools/dynkv-cluster start mycluster"]
    # progress while nodes start: each node serving, then each seeing all five
    for i in range(1, 6):
        assert re.search(r"^n%d serves http://\S+ \(\d+\.\d s\)$" % i, start[2], re.M), start[2]
        assert re.search(r"^n%d sees all 5 nodes normal" % i, start[2], re.M), start[2]
    status = by_line["tools/dynkv-cluster status mycluster"][1]
    assert len(re.findall(r"\bnormal\b", status)) == 5, status
    members = [l for l in outputs if "client/dynkv -n" in l[0]][0][2]
    assert len(re.findall(r"^n\d\s+normal", members, re.M)) == 5, members
    got = [l for l in outputs if " get user:1" in l[0]][0][2]
    assert got.strip().endswith("alice"), got


def test_start_is_quiet_on_request(make_cluster):
    c = make_cluster(1, start=False)
    p = subprocess.run([os.path.join(dkcluster.SRCDIR, "tools", "dynkv-cluster"), "start", c.root,
                        "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    try:
        assert p.returncode == 0, p.stderr
        assert p.stderr.decode() == "", p.stderr
    finally:
        c.stop()


def _tool(*args, timeout=180):
    p = subprocess.run([os.path.join(dkcluster.SRCDIR, "tools", "dynkv-cluster")] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def test_add_remove_and_snapshot(make_cluster):
    """`add` gives a running cluster a fourth node that ends normal with
    the cluster's key and seeds and serves every key; `remove n2`
    decommissions n2 through its API and stops it with no key lost;
    `snapshot NAME` writes NAME on every running node."""
    if not dkcluster.have_engine("lsm"):
        pytest.skip("engine lsm not built")
    c = make_cluster(3, engine="lsm")
    try:
        keys = {"t%03d" % i: ("v%d" % i).encode() for i in range(150)}
        for k, v in keys.items():
            r = dkcluster.put(c.nodes[0], k, v, cl="all")
            assert r.status in (200, 201, 204), r
        rc, out, err = _tool("add", c.root)
        assert rc == 0, (out, err)
        assert out.startswith("n4 "), out
        assert "n4 sees all 4 nodes normal" in err, err
        c4 = dkcluster.tool.Cluster(c.root, detach=False)
        n4 = c4.node("n4")
        assert n4.ip == "%s.4" % IP_PREFIX and c4.alive("n4")
        with open(n4.ini) as f:
            ini = f.read()
        with open(c.nodes[0].ini) as f:
            ini1 = f.read()
        assert "cluster_key_file = %s" % c.meta["key"] in ini, ini
        assert "seeds = %s" % c.meta["seeds"] in ini and "engine = lsm" in ini, ini
        assert ini1.count("\n") == ini.count("\n"), (ini1, ini)
        states = {m["id"]: dkcluster.tool._member_state(m) for m in dkcluster.view(c.nodes[0])["members"]}
        assert states == {"n1": "normal", "n2": "normal", "n3": "normal", "n4": "normal"}, states
        for k, v in keys.items():
            assert dkcluster.values(dkcluster.get(n4, k, cl="all")) == [v], k

        rc, out, err = _tool("remove", c.root, "n2")
        assert rc == 0, (out, err)
        assert "n2 decommissioned and stopped" in out, out
        c5 = dkcluster.tool.Cluster(c.root, detach=False)
        assert [n.id for n in c5.nodes] == ["n1", "n3", "n4"]
        assert not c.alive("n2")
        members = {m["id"]: m for m in dkcluster.view(c.nodes[0])["members"]}
        assert "n2" not in members or members["n2"]["status"] in ("left", "removed"), members
        for k, v in keys.items():
            assert dkcluster.values(dkcluster.get(c.nodes[2], k, cl="quorum")) == [v], k

        rc, out, err = _tool("snapshot", c.root, "before-upgrade")
        assert rc == 0, (out, err)
        for n in c5.nodes:
            assert os.path.isdir(os.path.join(n.data_dir, "snapshots", "before-upgrade")), n.id
            assert re.search(r"^%s before-upgrade /\S+/snapshots/before-upgrade$" % n.id, out, re.M), out
        # a second time: the name exists on every node, so every node fails
        rc, out, err = _tool("snapshot", c.root, "before-upgrade")
        assert rc == 1 and "failed on 3 node(s)" in err, (rc, out, err)
    finally:
        dkcluster.tool.Cluster(c.root).stop()


def test_create_shares_the_cores_between_the_loops_of_its_nodes():
    """`create` gives each of N > 1 nodes cores // N loop threads (at least
    one) instead of dynkvd's one per core, a --set node.loop_threads wins,
    and one node keeps the default; the node reads what was written."""
    cores = len(os.sched_getaffinity(0))
    root = tempfile.mkdtemp(prefix="dynkv-loops-")
    try:
        cases = [("three", ["--nodes", "3"], str(max(1, cores // 3))),
                 ("set", ["--nodes", "3", "--set", "node.loop_threads=2"], "2"),
                 ("one", ["--nodes", "1"], None)]
        for name, args, want in cases:
            where = os.path.join(root, name)
            rc, out, err = _tool("create", where, "--ip-prefix", IP_PREFIX, *args, timeout=60)
            assert rc == 0, (name, out, err)
            for node in sorted(d for d in os.listdir(where) if d.startswith("n")):
                got = dkcluster.tool._read_ini(os.path.join(where, node, "node.ini"))
                assert got.get("node", {}).get("loop_threads") == want, (name, node, got.get("node"))
        # A node started from such a file runs that many loops.
        rc, out, err = _tool("start", os.path.join(root, "three"), "--quiet")
        try:
            assert rc == 0, (out, err)
            with open(os.path.join(root, "three", "n1", "dynkvd.log")) as f:
                log = f.read()
            loops = max(1, cores // 3)
            assert re.search(r"\b%d loop threads?\b" % loops, log), log[-2000:]
        finally:
            _tool("stop", os.path.join(root, "three"))
    finally:
        shutil.rmtree(root, ignore_errors=True)
