"""pytest fixtures for the dynkvd black-box suite.

`engine` is parametrized over the storage engines: memory always, lsm
(skipped, visibly) when $DYNKV_PLUGIN_PATH/engine-lsm.so is not built.
`node` is one dynkvd per test module and engine (tests use distinct keys);
`make_node` starts dedicated nodes inside a test, for state that must not be
shared (restarts, resolver or sibling-limit settings).  Every node is
stopped with SIGTERM at teardown, which must make it exit 0; a node still
alive after 30 s (dkbb.STOP_TIMEOUT) is killed.  A failing test's report carries the tail of
the logs of the nodes it touched.

The tests/run-pytest.sh wrapper passes DK_PYTEST_COUNTS: the counts of passed,
failed (including errors) and skipped tests are written there at the end
(the hook dkbb.pytest_terminal_summary, imported here).
"""

import os

import pytest

import dkbb
from dkbb import pytest_terminal_summary  # noqa: F401  (pytest hook)

ENGINE_PARAMS = [
    pytest.param("memory", id="memory"),
    pytest.param("lsm", id="lsm", marks=pytest.mark.skipif(
        not dkbb.have_engine("lsm"),
        reason="engine-lsm.so not built in %s" % dkbb.PLUGIN_PATH)),
]


@pytest.fixture(scope="module", params=ENGINE_PARAMS)
def engine(request):
    return request.param


def _stop_problem(node, rc):
    what = "was still running %.0f s after SIGTERM (killed)" % dkbb.STOP_TIMEOUT if rc is None else \
        "exited with %r on SIGTERM, expected 0" % rc
    return "dynkvd (engine %s) %s\n%s" % (node.engine, what, node.log_text[-8000:])


def _finish(node):
    rc = node.cleanup()
    assert rc == 0, _stop_problem(node, rc)


@pytest.fixture(scope="module")
def node(engine):
    n = dkbb.Node(engine)
    try:
        n.start()
    except BaseException:
        n.cleanup()
        raise
    yield n
    _finish(n)


@pytest.fixture
def make_node():
    """make_node(engine, sets=(), root=None, start=True, wrapper=()) -> a
    started Node."""
    nodes = []

    def make(engine="memory", sets=(), root=None, start=True, wrapper=()):
        n = dkbb.Node(engine, sets, root, wrapper)
        nodes.append(n)
        if start:
            n.start()
        return n

    yield make
    bad = []
    for n in nodes:
        rc = n.cleanup()
        if rc != 0:
            bad.append(_stop_problem(n, rc))
    assert not bad, "\n".join(bad)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    item._dk_first_node = len(dkbb.ALL_NODES)
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    first = getattr(item, "_dk_first_node", len(dkbb.ALL_NODES))
    for i, n in enumerate(dkbb.ALL_NODES):
        if i < first and not n.alive():
            continue
        text = n.read_log() if os.path.exists(n.log_path) else n.log_text
        tail = "\n".join(text.splitlines()[-120:])
        rep.sections.append(("dynkvd log (%s, port %s, %s)" % (n.engine, n.port, n.root),
                             tail or "(empty)"))

