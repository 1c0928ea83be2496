"""A network partition healed: partition_driver.py runs the whole scenario
(see its docstring) inside a private network + PID namespace made with
unshare, so its firewall rules and its nodes cannot touch anything outside
and nothing outlives it.  As root `unshare -n` is enough; otherwise a user
namespace (-r) gives the rights inside.  Skipped, with the reason, when
unshare, ip or iptables are missing or refused here."""

import json
import os
import shutil
import subprocess
import sys

import pytest

import dkcluster

IP_PREFIX = "127.0.0"   # inside the private namespace only
HERE = os.path.dirname(os.path.abspath(__file__))


def unshare_argv():
    for tool in ("unshare", "ip", "iptables"):
        if not shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
            pytest.skip("%s is not installed" % tool)
    argv = ["unshare"] + ([] if os.geteuid() == 0 else ["-r"]) + \
        ["-n", "-p", "-f", "--kill-child", "--mount-proc"]
    p = subprocess.run(argv + ["true"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        pytest.skip("cannot make private namespaces (%s): %s"
                    % (" ".join(argv), p.stdout.decode(errors="replace").strip()))
    return argv


def test_partition_heals_into_all_replicas():
    argv = unshare_argv()
    work = dkcluster.tmp_root()
    env = dict(os.environ, PATH=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    try:
        try:
            p = subprocess.run(argv + [sys.executable, os.path.join(HERE, "partition_driver.py"),
                                       work], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env=env, timeout=120, start_new_session=True)
            out, rc = p.stdout.decode(errors="replace"), p.returncode
        except subprocess.TimeoutExpired as e:
            out, rc = (e.output or b"").decode(errors="replace"), "timeout after 120 s"
        logs = []
        for nid in ("n1", "n2", "n3"):
            path = os.path.join(work, "c", nid, "dynkvd.log")
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    tail = f.read().splitlines()[-60:]
                logs.append("--- %s log:\n%s" % (nid, "\n".join(tail)))
        last = out.strip().splitlines()[-1] if out.strip() else "{}"
        try:
            res = json.loads(last)
        except ValueError:
            res = {}
        if rc == 77:
            pytest.skip(res.get("message", out))
        assert rc == 0, "partition driver: %s\n%s\n%s" % (rc, out[-4000:], "\n".join(logs))
    finally:
        shutil.rmtree(work, ignore_errors=True)
