"""pytest fixtures for the dynkv cluster suite.

`make_cluster(nodes, engine="memory", sets=(), node_sets=None, start=True,
name="dynkv")` creates a cluster with tools/dynkv-cluster on the test
module's address range (the module's IP_PREFIX) and, by default, starts
every node and waits until each lists all of them as normal.  At teardown
every node gets SIGTERM (SIGKILL after 10 s; a node that needed it fails the
test) and the folder is removed, also when the test failed.  A failing
test's report carries the log tails of every node it started.

`shared_cluster(nodes, engine="memory", sets=())` gives the tests of one
module one started cluster per set of arguments (module scope: made on
first use, stopped like the above after the module's last test), for tests
that only read and write keys of their own and leave every node as they
found it (a test that stops, freezes or moves nodes makes its own with
make_cluster). Each use asserts that every node still runs. A cluster
start costs ~3 s, most of a short test.

DK_CLUSTER_SHARD=1 or 2 runs one half of the suite (whole modules; the
ones in SHARD_2 or all the others): `make check` runs the halves side by
side (tests/cluster/run-cluster-1.sh and -2.sh), each a few minutes where
the whole suite takes ten, since a test mostly waits on its nodes. Modules
run side by side only on their own addresses (IP_PREFIX, distinct in
SHARD_2), so a module that shares addresses with another, listens on a
wildcard address or on 127.0.0.x, or changes host networking stays in
half 1 with every new module; SHARD_2 holds the long ring-move modules
and a few others, about half of the time.

The tests/run-pytest.sh wrapper passes DK_PYTEST_COUNTS: the counts of passed,
failed (including errors) and skipped tests are written there at the end
(the hook dkbb.pytest_terminal_summary, imported here).
"""

import os

import pytest

import dkcluster
# dkbb is importable once dkcluster has put tests/blackbox on sys.path.
from dkbb import pytest_terminal_summary  # noqa: E402,F401  (pytest hook)


SHARD_2 = {"test_read_fence.py", "test_membership_change.py", "test_decommission_handoff.py",
           "test_antientropy.py", "test_gossip_auth.py", "test_failover.py"}


def pytest_collection_modifyitems(config, items):
    shard = os.environ.get("DK_CLUSTER_SHARD", "")
    if not shard:
        return
    if shard not in ("1", "2"):
        raise pytest.UsageError("DK_CLUSTER_SHARD=%s: 1 or 2 (or unset: the whole suite)" % shard)
    keep, drop = [], []
    for item in items:
        second = os.path.basename(str(item.fspath)) in SHARD_2
        (keep if second == (shard == "2") else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep


@pytest.fixture
def make_cluster(request):
    prefix = getattr(request.module, "IP_PREFIX", None)
    assert prefix, "test module %s must set IP_PREFIX" % request.module.__name__
    made = []

    def make(nodes, engine="memory", sets=(), node_sets=None, start=True, name="dynkv"):
        c = dkcluster.make(dkcluster.tmp_root(), nodes, prefix, engine, sets, node_sets, name)
        made.append(c)
        if start:
            c.start(timeout=30)
        return c

    request.node._dk_clusters = made
    yield make
    killed = []
    for c in made:
        killed += ["%s (%s)" % (nid, c.root) for nid in dkcluster.cleanup(c)]
    assert not killed, "still running 10 s after SIGTERM (killed): " + ", ".join(killed)


@pytest.fixture(scope="module")
def _shared_clusters(request):
    prefix = getattr(request.module, "IP_PREFIX", None)
    assert prefix, "test module %s must set IP_PREFIX" % request.module.__name__
    made = {}
    request.module._dk_shared_clusters = made
    yield prefix, made
    killed = []
    for c in made.values():
        killed += ["%s (%s)" % (nid, c.root) for nid in dkcluster.cleanup(c)]
    assert not killed, "still running 10 s after SIGTERM (killed): " + ", ".join(killed)


@pytest.fixture
def shared_cluster(_shared_clusters):
    prefix, made = _shared_clusters

    def get(nodes, engine="memory", sets=()):
        key = (nodes, engine, tuple(sets))
        c = made.get(key)
        if c is None:
            c = made[key] = dkcluster.make(dkcluster.tmp_root(), nodes, prefix, engine, sets)
            c.start(timeout=30)
        down = [n.id for n in c.nodes if not c.alive(n.id)]
        assert not down, "a test stopped %s of the shared cluster %s" % (down, c.root)
        return c
    return get


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    shared = list(getattr(item.module, "_dk_shared_clusters", {}).values())
    for c in getattr(item, "_dk_clusters", []) + shared:
        for n in c.nodes:
            if getattr(c, "logs", None) is None and not os.path.exists(n.log):
                continue
            rep.sections.append(("dynkvd log %s %s (%s)" % (n.id, n.http, c.root),
                                 dkcluster.log_tail(c, n.id)))

