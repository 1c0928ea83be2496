"""Streaming survives crashes on either side.

3 nodes with the lsm engine (n_replicas = 2) hold 1200 keys of 2 KiB; every
node streams out at 128 KiB/s (cluster.stream_rate), so a 4th node's
bootstrap takes a few seconds.  While it streams:
  1. the joiner itself gets SIGKILL and is started again on its data
     folder: it is still joining, and picks its streams up from the
     progress saved in its catalog (its log says what it resumed);
  2. one of its sources gets SIGKILL and is started again at once: the
     joiner retries against it and completes.
Then the joiner is normal everywhere, every key reads at X-Consistency:
one through it, and it holds about half of them itself.
"""

import time

import pytest

import dkcluster
from dkcluster import local, request, wait_until
from test_membership_change import check_reads, cli, statuses, wait_status, write_keys

IP_PREFIX = "127.0.10"

pytestmark = pytest.mark.skipif(not dkcluster.have_engine("lsm"), reason="engine-lsm.so not built")


def streams(node):
    try:
        r = request(node, "GET", "/admin/streams", timeout=2.0)
    except OSError:
        return None
    return r.json() if r.status == 200 else None


def test_crashes_during_a_join(make_cluster):
    c = make_cluster(4, engine="lsm", sets=["cluster.n_replicas=2", "cluster.stream_rate=128KiB"], start=False)
    c.start(["n1", "n2", "n3"], timeout=30, expect=["n1", "n2", "n3"])
    n1, n2, n3, n4 = c.nodes
    acked = write_keys([n1, n2, n3], "big", 1200, pad=2048)

    t0 = time.monotonic()
    c.start("n4", timeout=30, wait="health")

    def streamed(min_bytes):
        s = streams(n4)
        return s is not None and s["incoming"]["bytes"] >= min_bytes and not s["incoming"]["done"]

    assert wait_until(lambda: streamed(100 * 1024), 20.0, 0.05), "n4 never streamed 100 KiB: %r" % streams(n4)
    got = streams(n4)["incoming"]
    c.kill("n4")
    c.start("n4", timeout=30, wait="health")
    assert statuses(n1).get("n4") == "joining", statuses(n1)
    log = n4.read_log().split("\n=== ")[-1]
    assert wait_until(lambda: "resuming" in n4.read_log().split("\n=== ")[-1] or
                      "were already received" in n4.read_log().split("\n=== ")[-1], 30.0, 0.1), \
        "n4 restarted (after %d bytes of %d ranges) without resuming:\n%s" % (got["bytes"], got["ranges_total"], log[-3000:])

    # the operator's view while it streams: a progress bar under n4
    def bar():
        rc, out = cli(n4, "cluster", "status")[:2]
        return rc == 0 and "streaming [" in out and "ranges" in out
    assert wait_until(bar, 10.0, 0.1), "no progress bar in 'dynkv cluster status': %r" % (cli(n4, "cluster", "status"),)

    # now a source dies and comes back
    def busy_source():
        s = streams(n4)
        if not s:
            return None
        live = [x for x in s["incoming"]["streams"] if x["state"] in ("request", "merge") and x["source"] != "n4"]
        return live[0]["source"] if live else None

    src = wait_until(busy_source, 10.0, 0.05)
    if src and src is not True:
        c.kill(src)
        c.start(src, timeout=30, wait="health")
    wait_status(c.nodes, "n4", "normal", 90)
    took = time.monotonic() - t0
    print("\n  n4 joined in %.1f s with its own crash and %s's" % (took, src or "no source"))
    for line in n4.read_log().splitlines():
        if "stream:" in line and ("resum" in line or "already" in line or "complete" in line):
            print("   ", line[24:])

    bad = check_reads([n4], acked, "one")
    assert not bad, "%d reads at R=one through n4 failed, e.g. %r" % (len(bad), bad[:5])
    share = sum(1 for k in acked if local(n4, k).status == 200)
    assert 0.35 * len(acked) < share < 0.65 * len(acked), (share, len(acked))
