"""pytest fixtures for the dynkv cluster suite.

`make_cluster(nodes, engine="memory", sets=(), node_sets=None, start=True,
name="dynkv")` creates a cluster with tools/dynkv-cluster on the test
module's address range (the module's IP_PREFIX) and, by default, starts
every node and waits until each lists all of them as normal.  At teardown
every node gets SIGTERM (SIGKILL after 10 s; a node that needed it fails the
test) and the folder is removed, also when the test failed.  A failing
test's report carries the log tails of every node it started.

The tests/run-pytest.sh wrapper passes DK_PYTEST_COUNTS: the counts of passed,
failed (including errors) and skipped tests are written there at the end
(the hook dkbb.pytest_terminal_summary, imported here).
"""

import os

import pytest

import dkcluster
# dkbb is importable once dkcluster has put tests/blackbox on sys.path.
from dkbb import pytest_terminal_summary  # noqa: E402,F401  (pytest hook)


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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    for c in getattr(item, "_dk_clusters", []):
        for n in c.nodes:
            if getattr(c, "logs", None) is None and not os.path.exists(n.log):
                continue
            rep.sections.append(("dynkvd log %s %s (%s)" % (n.id, n.http, c.root),
                                 dkcluster.log_tail(c, n.id)))

