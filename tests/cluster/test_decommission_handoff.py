"""The end of a decommission: a node that is `left` drains before it may be
stopped, and says when it has (framework/cluster/leaver.h).

  hints after left  3 nodes, n_replicas = 2; only the leaver n3 delays its
                    writes (DK_TEST_WRITE_DELAY_MS, 2000 ms) and writers go
                    through it, so when it turns left it still has writes in
                    flight. n1 is frozen (SIGSTOP) that moment: the copies
                    for it fail and stay as hints on n3. n3 must not say
                    "handed_off" while it holds any (hints_pending > 0), it
                    refuses data requests with 503 "left", and a SIGTERM
                    then waits for the hand-off (HTTP still answers) instead
                    of exiting with the hints. n1 thaws, n3 replays at once,
                    reports handed_off with hints_pending 0 and exits 0;
                    every acknowledged key then reads at one through n1 and
                    n2.
  undelivered       the same with n1 kept frozen: SIGTERM waits only up to
                    its bound (shortened by DK_TEST_LEAVER_STOP_WAIT_MS),
                    then n3 stops and logs its hints by count and target.

The writers keep 12 delayed writes in flight on the leaver all the time,
so whenever the move's own handoff check (cluster/handoff_wait.h) passes
and n3 turns left, it still has writes in flight (a check that met its
30 s bound under that load made each test take ~40 s; it now passes once
every write started before it asked has settled, a few seconds).
"""

import json
import os
import signal
import time

import dkcluster
from dkcluster import Writer, check_reads, cli, metric, post, request, statuses, wait_unfenced, wait_until, write_keys

IP_PREFIX = "127.0.79"


def decommission_state(node):
    """GET /admin/decommission as a dict, or None when the node does not answer."""
    try:
        r = request(node, "GET", "/admin/decommission", timeout=2.0)
    except OSError:
        return None
    assert r.status == 200, r
    return r.json()


def leaver_cluster(make_cluster, monkeypatch, env=()):
    """3 nodes, n_replicas = 2; n3 (started last, with the write delay and
    env) is normal everywhere."""
    # A write starts 2 s after its plan and has request_timeout (3 s) from
    # the plan: when n3 turns left, the writes it planned in the last 2 s
    # still have their copies to send, which is the time the test has to
    # see it left and freeze n1 (1.2 s was once too short on a loaded
    # machine: no copy was left to fail).
    c = make_cluster(3, sets=["cluster.n_replicas=2", "cluster.request_timeout=3s", "cluster.read_repair_percent=0"],
                     start=False)
    c.start(["n1", "n2"], timeout=30, expect=["n1", "n2"])
    monkeypatch.setenv("DK_TEST_WRITE_DELAY_MS", "2000")
    for k, v in env:
        monkeypatch.setenv(k, v)
    c.start("n3", timeout=60, wait="health")
    monkeypatch.delenv("DK_TEST_WRITE_DELAY_MS")
    for k, v in env:
        monkeypatch.delenv(k)
    dkcluster.wait_status(c.nodes, "n3", "normal", 60)
    wait_unfenced(c.nodes)
    return c


def start_staggered(ws):
    """Start the writers spread over one write delay: each write takes about
    that long, so started together they would plan in lockstep, and when
    n3 turns left the last writes it planned could already be replicating
    (a window of anything from 0 to 2 s); spread, one was planned at most
    ~0.2 s before, and its copies are still to send for ~1.8 s."""
    for w in ws:
        w.start()
        time.sleep(2.0 / len(ws))


def test_decommission_hands_off_hints_before_it_stops(make_cluster, monkeypatch):
    c = leaver_cluster(make_cluster, monkeypatch)
    n1, n2, n3 = c.nodes
    d = decommission_state(n3)
    assert d["handed_off"] is False and d["status"] == "normal", d
    acked = write_keys(c.nodes, "hpre", 32)
    ws = [Writer([n3], "hlive%02d" % i) for i in range(12)]
    start_staggered(ws)
    pid1 = c.pid("n1")
    samples = []
    frozen = False
    try:
        time.sleep(1.0)
        r = post(n3, "/admin/decommission")
        assert r.status == 200, r
        # the moment n3 says it is left, freeze n1: n3's writes still in
        # flight (each starts 2000 ms after its plan) cannot reach it
        assert wait_until(lambda: statuses(n3).get("n3") == "left", 60, 0.01), statuses(n3)
        os.kill(pid1, signal.SIGSTOP)
        frozen = True
        t_end = time.monotonic() + 3.0
        while time.monotonic() < t_end:
            d = decommission_state(n3)
            samples.append((d["handed_off"], d["hints_pending"], metric(n3, "hints_pending")))
            time.sleep(0.1)
        # a left node serves no data
        r = request(n3, "GET", "/kv/hpre-00001", headers={"X-Consistency": "one"})
        assert r.status == 503 and r.json()["error"] == "left", r
        assert "left" in r.json()["message"], r.json()
        held = max(s[2] for s in samples)
        assert held > 0, "n3 held no hint for the frozen n1: the test did not test anything (%r)" % samples[-5:]
        assert not any(s[0] for s in samples), "n3 said handed_off while n1 could not take its hints: %r" % samples
        # SIGTERM now: n3 waits for the hand-off (and still answers HTTP)
        pid3 = c.pid("n3")
        os.kill(pid3, signal.SIGTERM)
        # once it says it waits (a loaded machine may handle the signal
        # later than a fixed pause), it is still there
        assert wait_until(lambda: "waiting for it" in n3.read_log() or not c.alive("n3"), 15, 0.05), \
            n3.read_log()[-2000:]
        time.sleep(0.5)
        assert c.alive("n3"), "n3 exited on SIGTERM with %d hint(s) undelivered" % held
        assert "waiting for it" in n3.read_log(), n3.read_log()[-2000:]
    finally:
        if frozen:
            os.kill(pid1, signal.SIGCONT)
        for w in ws:
            w.finish()
    # n1 is back: n3 replays, says handed_off with no hint left, and exits
    t0 = time.monotonic()
    while c.alive("n3") and time.monotonic() - t0 < 60:
        d = decommission_state(n3)
        if d is not None:
            samples.append((d["handed_off"], d["hints_pending"], d["hints_pending"]))
        time.sleep(0.05)
    assert not c.alive("n3"), "n3 still runs %.0f s after SIGTERM and SIGCONT of n1" % (time.monotonic() - t0)
    bad = [s for s in samples if s[0] and (s[1] or s[2])]
    assert not bad, "n3 said handed_off while it held hints: %r" % bad
    log = n3.read_log()
    assert "decommission complete" in log and "safe to stop" in log, log[-3000:]
    assert "handed off after" in log, log[-3000:]
    assert "undelivered hint" not in log, log[-3000:]
    for w in ws:
        acked.update(w.acked)
    assert len(acked) > 40, len(acked)
    wait_unfenced([n1, n2])
    bad = check_reads([n1, n2], acked, "one")
    print("\n  %d keys; n3 held up to %d hint(s) for the frozen n1 after it left; reads at one missed: %d" % (
        len(acked), held, len(bad)))
    assert not bad, "%d of %d reads at one missed after n3 handed off, e.g. %r" % (len(bad), len(acked) * 2, bad[:5])


def test_decommission_sigterm_reports_undelivered_hints(make_cluster, monkeypatch):
    """The same, but n1 stays frozen: a SIGTERM to n3 waits for the hand-off
    only up to its bound (30 s; 1.5 s through the test hook
    DK_TEST_LEAVER_STOP_WAIT_MS), then n3 stops and logs the hints it could
    not deliver by count and target, never silently."""
    t_start = time.monotonic()
    c = leaver_cluster(make_cluster, monkeypatch, env=[("DK_TEST_LEAVER_STOP_WAIT_MS", "1500")])
    n1, n2, n3 = c.nodes
    t_ready = time.monotonic()
    ws = [Writer([n3], "ulive%02d" % i) for i in range(12)]
    start_staggered(ws)
    pid1 = c.pid("n1")
    frozen = False
    try:
        time.sleep(1.0)
        # the CLI with --wait 0 returns once n3 is leaving, not handed off
        rc, out, err = cli(n3, "--wait", "0", "-j", "decommission")
        assert rc == 0, (rc, out, err)
        assert decommission_state(n3)["handed_off"] is False, (out, decommission_state(n3))
        assert "leav" in json.loads(out)["message"], out
        assert wait_until(lambda: statuses(n3).get("n3") == "left", 60, 0.01), statuses(n3)
        os.kill(pid1, signal.SIGSTOP)
        frozen = True
        assert wait_until(lambda: metric(n3, "hints_pending") > 0, 30, 0.1), "n3 kept no hint for the frozen n1"
        assert wait_until(lambda: decommission_state(n3)["hints_pending"] > 0, 15, 0.05), decommission_state(n3)
        d = decommission_state(n3)
        assert d["status"] == "left" and d["handed_off"] is False, d
        t0 = time.monotonic()
        os.kill(c.pid("n3"), signal.SIGTERM)
        assert wait_until(lambda: not c.alive("n3"), 30, 0.05), "n3 still runs 30 s after SIGTERM"
        waited = time.monotonic() - t0
    finally:
        if frozen:
            os.kill(pid1, signal.SIGCONT)
        for w in ws:
            w.finish()
    log = n3.read_log()
    print("\n  cluster ready in %.1f s, the rest took %.1f s; n3 waited %.1f s after SIGTERM" % (
        t_ready - t_start, time.monotonic() - t_ready, waited))
    assert waited >= 1.4, "n3 did not wait for the hand-off (%.2f s)" % waited
    assert "not handed off after 1500 ms" in log and "undelivered hint(s) (" in log and " for n1" in log, \
        log[-3000:]
    assert "safe to stop" not in log, log[-3000:]
