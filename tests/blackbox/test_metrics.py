"""GET /metrics against Prometheus' own linter (`promtool check metrics`,
fetched by scripts/get-promtool.sh when it is not installed), and the
families an operator expects: build info, process metrics, gossip, RPC and
hints, counters typed as counters and named *_total, base units."""

import os
import re
import subprocess
import time

import pytest

import dkbb
from test_ops import parse_metrics

SRCDIR = os.environ.get("DYNKV_SRCDIR") or os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def promtool():
    script = os.path.join(SRCDIR, "scripts", "get-promtool.sh")
    p = subprocess.run(["sh", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    path = p.stdout.decode().strip()
    if p.returncode != 0 or not path:
        pytest.skip("promtool is not installed and could not be fetched: %s"
                    % p.stderr.decode("utf-8", "replace").strip())
    return path


def traffic(n):
    """Requests of every kind, so that every family has series."""
    n.put_ok("met-a", b"1")
    n.put_ok("met-a", b"2")
    n.get("met-a")
    n.get("met-missing")
    n.delete("met-a")
    n.scan("met-")
    n.request("GET", "/readyz")
    n.request("GET", "/livez")
    n.request("GET", "/nowhere")


def test_promtool_check_metrics(node, promtool):
    traffic(node)
    body = node.metrics().body
    p = subprocess.run([promtool, "check", "metrics"], input=body, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    out = p.stdout.decode("utf-8", "replace")
    assert p.returncode == 0 and out.strip() == "", \
        "promtool check metrics (exit %d):\n%s\n--- exposition ---\n%s" % (
            p.returncode, out, body.decode()[:6000])


def families(text):
    helps, types = {}, {}
    for line in text.splitlines():
        m = re.match(r"# (HELP|TYPE) (\S+) (.*)$", line)
        if m:
            (helps if m.group(1) == "HELP" else types)[m.group(2)] = m.group(3)
    return helps, types


def test_families(node):
    traffic(node)
    r = node.metrics()
    assert "version=0.0.4" in (r.header("Content-Type") or ""), r.headers
    text = r.body.decode()
    samples, _ = parse_metrics(text)
    helps, types = families(text)
    assert set(helps) == set(types), "HELP and TYPE differ: %r" % (set(helps) ^ set(types))
    for name, t in types.items():
        assert helps[name].strip(), "%s has an empty HELP" % name
        if t == "counter":
            assert name.endswith("_total"), "counter %s does not end in _total" % name
        else:
            assert not name.endswith("_total"), "%s %s ends in _total" % (t, name)
        assert not re.search(r"_(ms|us|ns)(_|$)", name), "%s is not in base units" % name
    # every sample belongs to a declared family
    declared = set(types)
    for name, labels, v in samples:
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in declared or base in declared, "sample %s has no family" % name
    names = {s[0] for s in samples}
    build = [l for n, l, v in samples if n == "dynkv_build_info"]
    assert len(build) == 1 and re.match(r"\d+\.\d+\.\d+", build[0]["version"]), build
    for want in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                 "process_open_fds", "process_max_fds", "process_start_time_seconds",
                 "dynkv_gossip_probes_total", "dynkv_gossip_suspicions_total",
                 "dynkv_rpc_connections_open", "dynkv_rpc_requests_sent_total",
                 "dynkv_rpc_timeouts_total", "dynkv_hints_disk_bytes",
                 "dynkv_coord_writes_total", "dynkv_http_requests_total",
                 "dynkv_http_request_duration_seconds_bucket"):
        assert want in names, "no %s in /metrics" % want
    members = {l["state"]: v for n, l, v in samples if n == "dynkv_gossip_members"}
    assert members.get("normal") == 1, members
    assert types["dynkv_coord_writes_total"] == "counter"
    v = [v for n, l, v in samples if n == "process_resident_memory_bytes"][0]
    assert v > 1 << 20, "resident memory %r bytes" % v
    start = [v for n, l, v in samples if n == "process_start_time_seconds"][0]
    assert time.time() - 3600 < start <= time.time() + 1, start


def test_engine_stats_follow_conventions(make_node):
    """The LSM engine reports a stall time in microseconds as a gauge named
    *_us_total: it is exposed as a counter in seconds."""
    if not dkbb.have_engine("lsm"):
        pytest.skip("engine-lsm.so not built in %s" % dkbb.PLUGIN_PATH)
    n = make_node("lsm")
    n.put_ok("met-lsm", b"x")
    text = n.metrics().body.decode()
    _, types = families(text)
    assert types.get("dynkv_engine_lsm_write_stall_seconds_total") == "counter", types
    assert types.get("dynkv_engine_lsm_wal_syncs_total") == "counter", types
    assert types.get("dynkv_engine_lsm_memtable_bytes") == "gauge", types
    samples, _ = parse_metrics(text)
    syncs = [v for n_, l, v in samples if n_ == "dynkv_engine_lsm_wal_syncs_total"]
    assert syncs and syncs[0] >= 1, syncs
    # The WAL's fdatasync durations: total and largest in seconds, and
    # cumulative counts by bound (the +Inf one is wal_syncs_total).
    assert types.get("dynkv_engine_lsm_wal_sync_seconds_total") == "counter", types
    assert types.get("dynkv_engine_lsm_wal_sync_max_seconds") == "gauge", types
    val = {n_: v for n_, l, v in samples}
    assert 0 < val["dynkv_engine_lsm_wal_sync_max_seconds"] <= val["dynkv_engine_lsm_wal_sync_seconds_total"], val
    le = [val["dynkv_engine_lsm_wal_syncs_le_%dms_total" % b] for b in (1, 4, 16, 64)]
    assert le == sorted(le) and le[-1] <= syncs[0], le


def test_block_cache_follows_memory(make_node):
    """[storage] block_cache_size = auto (the default) is 1/8 of the usable
    memory within 64MiB..16GiB, logged at start and exported; an explicit
    size wins."""
    if not dkbb.have_engine("lsm"):
        pytest.skip("engine-lsm.so not built in %s" % dkbb.PLUGIN_PATH)
    n = make_node("lsm")
    m = re.search(r"block_cache_size = auto: (\d+) bytes .* 1/8 of (\d+) bytes of usable memory",
                  n.read_log())
    assert m, n.read_log()
    cache, mem = int(m.group(1)), int(m.group(2))
    ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert 0 < mem <= ram, (mem, ram)
    assert cache == min(max(mem // 8, 64 << 20), 16 << 30), (cache, mem)
    samples, _ = parse_metrics(n.metrics().body.decode())
    got = [v for name, l, v in samples if name == "dynkv_storage_block_cache_size_bytes"]
    assert got == [cache], got
    fixed = make_node("lsm", sets=["storage.block_cache_size=32MiB"])
    assert "block_cache_size = auto" not in fixed.read_log()
    samples, _ = parse_metrics(fixed.metrics().body.decode())
    got = [v for name, l, v in samples if name == "dynkv_storage_block_cache_size_bytes"]
    assert got == [32 << 20], got
