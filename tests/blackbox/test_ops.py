"""Operations: /health, /metrics, shutdown on SIGTERM, durability across a
restart (lsm), command-line and configuration errors."""

import json
import os
import re
import signal
import subprocess
import tempfile

import pytest

import dkbb
from dkbb import Node, unb64

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Prometheus text format -> (samples [(name, labels, value)], types)."""
    samples, types = [], {}
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split()
            if len(parts) >= 4 and parts[1] == "TYPE":
                types[parts[2]] = parts[3]
            continue
        m = SAMPLE.match(line)
        assert m, "not a Prometheus sample line: %r" % line
        labels = dict(LABEL.findall(m.group(2) or ""))
        samples.append((m.group(1), labels, float(m.group(3))))
    return samples, types


def metric_sum(samples, name, **want):
    return sum(v for n, l, v in samples
               if n == name and all(l.get(k) == w for k, w in want.items()))


def test_health(node):
    r = node.request("GET", "/health")
    assert r.status == 200, r
    assert r.json()["status"] == "ok"


def test_metrics_request_counter_grows(node):
    node.put_ok("ops-m1", b"x")
    r = node.metrics()
    assert (r.header("Content-Type") or "").startswith("text/plain"), r.headers
    samples, types = parse_metrics(r.body.decode())
    assert types.get("dynkv_http_requests_total") == "counter", types
    before = metric_sum(samples, "dynkv_http_requests_total", op="put")
    assert before >= 1, "no op=\"put\" series after a PUT"
    for i in range(3):
        node.put_ok("ops-m1", b"y")
    samples, _ = parse_metrics(node.metrics().body.decode())
    after = metric_sum(samples, "dynkv_http_requests_total", op="put")
    assert after >= before + 3, "put counter went %r -> %r after 3 PUTs" % (before, after)


def test_metrics_duration_histogram(node):
    node.put_ok("ops-m2", b"x")
    for _ in range(2):
        node.get("ops-m2")
    samples, types = parse_metrics(node.metrics().body.decode())
    h = "dynkv_http_request_duration_seconds"
    assert types.get(h) == "histogram", types
    buckets = [(l, v) for n, l, v in samples if n == h + "_bucket" and l.get("op") == "get"]
    assert buckets, "no %s_bucket{op=\"get\"} lines" % h
    # one series per other label set (e.g. status): check each separately
    series = {}
    for l, v in buckets:
        assert "le" in l, l
        key = tuple(sorted((k, x) for k, x in l.items() if k != "le"))
        le = float("inf") if l["le"] == "+Inf" else float(l["le"])
        series.setdefault(key, []).append((le, v))
    total = 0
    for key, points in series.items():
        points.sort()
        assert points[-1][0] == float("inf"), "missing le=\"+Inf\" in %r" % (key,)
        counts = [v for _, v in points]
        assert counts == sorted(counts), "buckets not cumulative: %r" % points
        labels = dict(key)
        count = [v for n, l, v in samples if n == h + "_count" and l == labels]
        sums = [v for n, l, v in samples if n == h + "_sum" and l == labels]
        assert count == [counts[-1]], "_count %r != +Inf bucket %r" % (count, counts[-1])
        assert len(sums) == 1 and sums[0] >= 0, sums
        total += counts[-1]
    assert total >= 2


def test_sigterm_exits_zero(make_node, engine):
    n = make_node(engine)
    n.put_ok("ops-term", b"x")
    assert n.stop() == 0, n.read_log()


def test_sigterm_with_open_idle_connection(make_node, engine):
    n = make_node(engine)
    with dkbb.RawConn(n.port) as c:
        c.send(dkbb.request_bytes("GET", "/health"))
        assert c.read_response().status == 200
        assert n.stop() == 0, n.read_log()


def test_restart_on_same_data_dir(make_node, engine):
    """Every engine restarts on its own data dir (the catalog is reopened);
    memory keeps nothing, but the node must serve again."""
    n = make_node(engine)
    n.put_ok("ops-restart", b"x")
    n.restart()
    n.put_ok("ops-restart-2", b"y")
    assert n.get_value("ops-restart-2") == b"y"


def write_workload(n):
    """Acknowledged writes, overwrites, deletes and siblings; returns the
    expected final state {key: value or None for deleted, or a sorted list
    of sibling values}."""
    want = {}
    for i in range(60):
        k = "dur-%03d" % i
        n.put_ok(k, b"v%d" % i * 10)
        want[k] = b"v%d" % i * 10
    for i in range(0, 60, 5):
        k = "dur-%03d" % i
        assert n.delete(k).status == 200
        want[k] = None
    for i in range(1, 60, 7):
        if i % 5 == 0:
            continue
        k = "dur-%03d" % i
        ctx = n.get(k).json()["context"]
        n.put_ok(k, b"over", {"X-Context": ctx})
        want[k] = b"over"
    n.put_ok("dur-sib", b"left")
    n.put_ok("dur-sib", b"right")
    want["dur-sib"] = [b"left", b"right"]
    n.put_ok("dur-ttl", b"later", {"X-TTL": "3600"})
    want["dur-ttl"] = b"later"
    n.put_ok("dur-big", bytes(range(256)) * 4096)
    want["dur-big"] = bytes(range(256)) * 4096
    return want


def check_state(n, want):
    for k, v in want.items():
        r = n.get(k)
        if v is None:
            assert r.status == 404, "deleted key %r is back: %r" % (k, r)
        elif isinstance(v, list):
            j = r.json()
            assert j.get("conflict") is True, j
            assert sorted(unb64(s["value"]) for s in j["values"]) == v
        else:
            assert r.status == 200, "acknowledged key %r lost: %r" % (k, r)
            assert unb64(r.json()["value"]) == v, "key %r has a wrong value" % k
    pairs, _ = n.scan_all("dur-", 17)
    live = sorted(k for k, v in want.items() if v is not None)
    assert [p["key"] for p in pairs] == live


@pytest.fixture
def lsm_only():
    if not dkbb.have_engine("lsm"):
        pytest.skip("engine-lsm.so not built in %s" % dkbb.PLUGIN_PATH)


def test_lsm_restart_keeps_acknowledged_writes(make_node, lsm_only):
    n = make_node("lsm")
    want = write_workload(n)
    n.restart()
    check_state(n, want)
    # and once more, after writes on the restarted node
    n.put_ok("dur-after", b"restart")
    want["dur-after"] = b"restart"
    n.restart()
    check_state(n, want)


def test_lsm_kill9_keeps_acknowledged_writes(make_node, lsm_only):
    """storage.sync defaults to true: a write acknowledged before SIGKILL is
    durable (DESIGN.md: nothing may lose an acknowledged write)."""
    n = make_node("lsm")
    want = write_workload(n)
    n.kill()
    n.start()
    check_state(n, want)


# -- command line and configuration --------------------------------------------

def run_dynkvd(args, timeout=10):
    """Run dynkvd to completion (it must exit by itself): (status, output)."""
    if not os.path.exists(dkbb.DYNKVD):
        raise AssertionError("dynkvd not found at %s" % dkbb.DYNKVD)
    try:
        p = subprocess.run([dkbb.DYNKVD] + args, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("dynkvd %r still running after %d s (it should exit): %r"
                             % (args, timeout, e.output))
    return p.returncode, p.stdout.decode("utf-8", "replace")


def base_sets(d):
    """A valid command line (free ports, so that a daemon which wrongly
    starts cannot disturb anything before run_dynkvd's timeout)."""
    ports = dkbb.free_ports(3)
    return ["--set", "node.data_dir=" + os.path.join(d, "data"),
            "--set", "node.http_listen=127.0.0.1:%d" % ports[0],
            "--set", "node.rpc_listen=127.0.0.1:%d" % ports[1],
            "--set", "node.gossip_listen=127.0.0.1:%d" % ports[2],
            "--set", "storage.engine=memory",
            "--set", "storage.plugin_dir=" + dkbb.PLUGIN_PATH]


def test_unknown_config_key():
    with tempfile.TemporaryDirectory(prefix="dynkv-bb-") as d:
        rc, out = run_dynkvd(base_sets(d) + ["--set", "storage.nonsense=1"])
    assert rc == 2, "exit %r: %s" % (rc, out)
    assert "nonsense" in out, out


def test_bad_config_value():
    with tempfile.TemporaryDirectory(prefix="dynkv-bb-") as d:
        rc, out = run_dynkvd(base_sets(d) + ["--set", "cluster.read_consistency=often"])
    assert rc == 2, "exit %r: %s" % (rc, out)
    assert "read_consistency" in out, out


def test_missing_config_file():
    rc, out = run_dynkvd(["--config", "/nonexistent.ini"])
    assert rc == 2, "exit %r: %s" % (rc, out)
    assert "/nonexistent.ini" in out, out


def test_config_file_error_names_file_and_line():
    with tempfile.TemporaryDirectory(prefix="dynkv-bb-") as d:
        ini = os.path.join(d, "node.ini")
        with open(ini, "w") as f:
            f.write("[node]\ndata_dir = %s\n[storage]\nengine = memory\nbogus_key = 3\n"
                    % os.path.join(d, "data"))
        rc, out = run_dynkvd(["--config", ini])
    assert rc == 2, "exit %r: %s" % (rc, out)
    assert "bogus_key" in out and "node.ini" in out, out
    assert re.search(r"\b5\b", out), "no line number 5 in: " + out


def test_help():
    rc, out = run_dynkvd(["--help"])
    assert rc == 0, out
    assert "--set" in out and "--config" in out, out


def test_version():
    rc, out = run_dynkvd(["--version"])
    assert rc == 0, out
    assert re.search(r"\d+\.\d+\.\d+", out), out


def test_engine_mismatch_refused(make_node, lsm_only):
    n = make_node("memory")
    n.put_ok("mismatch", b"x")
    assert n.stop() == 0
    other = Node("lsm", root=n.root)
    port = dkbb.free_port()
    rc, out = run_dynkvd(other.argv(port)[1:])
    assert rc != 0, "dynkvd opened a memory data dir with engine lsm:\n" + out
    assert "memory" in out and "lsm" in out, out


def test_sigterm_during_load(make_node, engine):
    """SIGTERM while requests are in flight: exit 0, no crash."""
    n = make_node(engine)
    reqs = b"".join(dkbb.request_bytes("PUT", "/kv/load-%d" % i, body=b"x" * 1000)
                    for i in range(200))
    with dkbb.RawConn(n.port) as c:
        c.send_tolerant(reqs)
        c.read_response()
        n.proc.send_signal(signal.SIGTERM)
        rc = n.proc.wait(dkbb.STOP_TIMEOUT)
        assert rc == 0, n.read_log()


def test_json_error_bodies_are_json(node):
    r = node.get("ops-missing")
    assert r.header("Content-Type", "").startswith("application/json"), r.headers
    json.loads(r.body)


def test_log_levels_and_json_lines(make_node):
    """[log] format = json gives one JSON object per line; [log] levels and
    POST /admin/loglevel (and `dynkv loglevel`) set a subsystem's level at
    run time without touching the others."""
    import json as _json
    n = make_node("memory", sets=["log.format=json", "log.levels=membership=warn"])
    lines = [l for l in n.read_log().splitlines() if l.startswith("{")]
    assert lines, n.read_log()[-1000:]
    objs = [_json.loads(l) for l in lines]
    assert all(set(o) == {"time", "level", "subsystem", "message"} for o in objs), objs[:3]
    assert any(o["subsystem"] == "rpc" for o in objs), objs
    assert not any(o["subsystem"] == "membership" and o["level"] == "info" for o in objs), objs
    r = n.request("GET", "/admin/loglevel").json()
    assert r == {"level": "info", "format": "json", "subsystems": {"membership": "warn"}}, r
    assert n.request("POST", "/admin/loglevel?level=loud").status == 400
    assert n.request("POST", "/admin/loglevel?subsystem=Bad!&level=debug").status == 400
    assert n.request("POST", "/admin/loglevel?subsystem=api&level=debug").status == 200
    cli = os.path.join(dkbb.BUILDDIR, "client", "dynkv")
    p = subprocess.run([cli, "-n", "127.0.0.1:%d" % n.port, "-o", "json", "loglevel", "default", "membership"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert p.returncode == 0, p.stderr
    assert _json.loads(p.stdout)["subsystems"] == {"api": "debug"}, p.stdout
    p = subprocess.run([cli, "-n", "127.0.0.1:%d" % n.port, "loglevel"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    assert p.returncode == 0 and "api" in p.stdout.decode() and "json" in p.stdout.decode(), p.stdout


def test_bad_log_levels_refused():
    with tempfile.TemporaryDirectory(prefix="dynkv-bb-") as d:
        rc, out = run_dynkvd(base_sets(d) + ["--set", "log.levels=rpc"])
    assert rc == 2 and "[log] levels" in out and "SUBSYSTEM=LEVEL" in out, out
