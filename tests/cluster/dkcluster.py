"""Helpers for the dynkv cluster suite: real dynkvd processes on 127.0.x.y.

Clusters are made with tools/dynkv-cluster, imported here as a module
(`tool`), so the suite also exercises the operator's command.  Each test
module picks its own address range (IP_PREFIX in the module, e.g. 127.0.2,
giving nodes 127.0.2.1, 127.0.2.2, ...) and every cluster gets free ports,
so modules and concurrent runs do not collide.  Nodes run in the test's
process group (detach=False): the fixtures in conftest.py stop them at
teardown, and nothing outlives an interrupted run (see _kill_leftovers).

Requests use one fresh connection each (http.client) and return dkbb's
Response, so the black-box suite's helpers (quote_key, unb64, wait_until)
apply unchanged.  SOURCE_ADDRESS, when set, is the local address the
client binds before connecting: the partition driver uses one that its
firewall rules do not touch.  Only the Python standard library is used.
"""

import atexit
import concurrent.futures
import http.client
import importlib.machinery
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("DYNKV_SRCDIR") or os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "blackbox"))

import dkbb  # noqa: E402  (after the path change above)
from dkbb import Response, quote_key, unb64  # noqa: E402

wait_until = dkbb.wait_until  # re-exported for the tests

BUILDDIR = dkbb.BUILDDIR
PLUGIN_PATH = dkbb.PLUGIN_PATH
DYNKVD = dkbb.DYNKVD
os.environ.setdefault("DYNKVD", DYNKVD)
DYNKV = os.path.join(BUILDDIR, "client", "dynkv")


def cli(node, *args):
    """(exit status, stdout text, stderr text) of `dynkv -n NODE args...`."""
    p = subprocess.run([DYNKV, "-n", node.http] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def _load_tool():
    path = os.path.join(SRCDIR, "tools", "dynkv-cluster")
    loader = importlib.machinery.SourceFileLoader("dynkv_cluster", path)
    spec = importlib.util.spec_from_loader("dynkv_cluster", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


tool = _load_tool()

# Short timers so failures are detected and requests give up quickly.
FAST = ["cluster.gossip_interval=200ms", "cluster.request_timeout=1s"]
IO_TIMEOUT = 15.0
SOURCE_ADDRESS = None

# Every cluster made in this process, for failure reports and last-resort
# cleanup.
ALL_CLUSTERS = []


def have_engine(name):
    return dkbb.have_engine(name)


def make(root, nodes, ip_prefix, engine="memory", sets=(), node_sets=None, name="dynkv", keyed=True):
    """Create (not start) a cluster folder under `root` with the fast timers.
    The nodes keep dynkvd's own loop count (one per core, as a node alone on
    its machine runs), not the tool's shared one, so the suites go on
    crossing loops; a test's own node.loop_threads comes later and wins."""
    c = tool.create(os.path.join(root, "c"), nodes, engine=engine,
                    sets=FAST + ["node.loop_threads=0"] + list(sets),
                    ip_prefix=ip_prefix, name=name, node_sets=node_sets, keyed=keyed)
    c = tool.Cluster(c.root, detach=False)
    ALL_CLUSTERS.append(c)
    return c


@atexit.register
def _kill_leftovers():
    for c in ALL_CLUSTERS:
        if os.path.isdir(c.root):
            c.stop(sig=signal.SIGKILL)


def request(node, method, path, body=None, headers=None, timeout=IO_TIMEOUT):
    conn = http.client.HTTPConnection(node.ip, node.http_port, timeout=timeout,
                                      source_address=(SOURCE_ADDRESS, 0) if SOURCE_ADDRESS else None)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, r.reason, r.getheaders(), data)
    finally:
        conn.close()


def _hdrs(cl, headers):
    h = dict(headers or {})
    if cl:
        h["X-Consistency"] = cl
    return h


def put(node, key, value, cl=None, headers=None, timeout=IO_TIMEOUT):
    if isinstance(value, str):
        value = value.encode()
    return request(node, "PUT", "/kv/" + quote_key(key), value, _hdrs(cl, headers), timeout)


def get(node, key, cl=None, headers=None, timeout=IO_TIMEOUT):
    return request(node, "GET", "/kv/" + quote_key(key), None, _hdrs(cl, headers), timeout)


def delete(node, key, cl=None, headers=None):
    return request(node, "DELETE", "/kv/" + quote_key(key), None, _hdrs(cl, headers))


def local(node, key, timeout=5.0):
    """This node's own replica: GET /admin/local/{key}."""
    return request(node, "GET", "/admin/local/" + quote_key(key), timeout=timeout)


def values(resp):
    """The values of a 200 GET-shaped response as a sorted list of bytes
    (one for a plain value, several for siblings)."""
    assert resp.status == 200, resp
    j = resp.json()
    if j.get("conflict"):
        return sorted(unb64(s["value"]) for s in j["values"])
    return [unb64(j["value"])]


def holders(cluster, key, value=None):
    """Ids of the nodes whose local replica of `key` exists (and, given
    `value`, contains it, alone or among siblings).  Unreachable nodes
    count as not holding it."""
    out = []
    for n in cluster.nodes:
        try:
            r = local(n, key)
        except (OSError, http.client.HTTPException):
            continue
        if r.status == 200 and (value is None or value in values(r)):
            out.append(n.id)
    return out


def view(node):
    """GET /cluster as a dict (asserting 200 JSON with members)."""
    r = request(node, "GET", "/cluster")
    assert r.status == 200, "GET /cluster on %s: %r" % (node.id, r)
    j = r.json()
    assert isinstance(j.get("members"), list), j
    return j


def states(node):
    """{member id: state} as `node` sees it, or {} when it does not answer."""
    try:
        return {m["id"]: m["state"] for m in view(node)["members"]}
    except (OSError, http.client.HTTPException, AssertionError):
        return {}


def statuses(node):
    """{member id: ring status} as `node` sees it ({} when it does not answer)."""
    try:
        return {m["id"]: m.get("status") for m in view(node)["members"]}
    except (OSError, http.client.HTTPException, AssertionError, ValueError):
        return {}


def wait_status(nodes, member, status, timeout, poll=0.2):
    """Wait until every node of `nodes` sees `member` with ring status
    `status` (e.g. "left" once a decommission is over), asserting it
    happens within `timeout` seconds; `poll` is the interval between looks
    (small when the moment right after matters)."""
    def ok():
        return all(statuses(n).get(member) == status for n in nodes)
    assert dkbb.wait_until(ok, timeout, poll), "%s is not %s everywhere after %.0f s: %r" % (
        member, status, timeout, {n.id: statuses(n).get(member) for n in nodes})


def metric(node, name):
    """The value of dynkv_NAME in the node's GET /metrics (0.0 when absent).
    Durations counted in ms internally (NAME_ms_total) are exported in
    seconds (NAME_seconds_total)."""
    r = request(node, "GET", "/metrics")
    assert r.status == 200, r
    for line in r.body.decode().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "dynkv_" + name:
            return float(parts[1])
    return 0.0


def freeze_collecting(c, node_id, writer, seconds=3.0):
    """SIGSTOP node_id for `seconds` (always SIGCONT after) while `writer`
    keeps writing; the {key: value} it had acknowledged during the freeze."""
    pid = c.pid(node_id)
    before = len(writer.acked)
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        os.kill(pid, signal.SIGCONT)
    return dict(list(writer.acked.items())[before:])


def wait_unfenced(nodes, timeout=35.0):
    """Wait until no node of `nodes` has its read fence up: right after a
    move, the nodes that gained ranges serve no read of them until every
    member counts them (cluster/read_fence.h), so a read at all of those
    ranges answers 503 for that moment."""
    def ok():
        return all(metric(n, "handoff_read_fenced") == 0 for n in nodes)
    assert dkbb.wait_until(ok, timeout, 0.05), {n.id: metric(n, "handoff_read_fenced") for n in nodes}


def post(node, path):
    return request(node, "POST", path, b"", {"Content-Length": "0"})


def write_keys(nodes, prefix, count, cl="quorum", pad=0):
    """Write count keys (values padded with pad bytes) through the nodes in
    turn, 8 at a time; returns {key: value}, asserting all were
    acknowledged."""
    def one(i):
        k = "%s-%05d" % (prefix, i)
        v = "v-%s-%s" % (k, "x" * pad)
        r = put(nodes[i % len(nodes)], k, v, cl=cl)
        return k, v, r.status
    acked = {}
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        for k, v, st in ex.map(one, range(count)):
            assert st == 200, (k, st)
            acked[k] = v
    return acked


def check_reads(nodes, acked, cl):
    """Every acknowledged key reads back with its value through every node
    at consistency cl (nodes in turn, keys in order); returns the list of
    failures (node id, key, status)."""
    jobs = [(n, k, v) for n in nodes for k, v in sorted(acked.items())]

    def one(job):
        n, k, v = job
        r = get(n, k, cl=cl)
        if r.status != 200 or v.encode() not in values(r):
            return (n.id, k, r.status)
        return None
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        return [b for b in ex.map(one, jobs) if b]


class Writer(threading.Thread):
    """Writes fresh keys at quorum through `coords` in turn until stopped;
    remembers the acknowledged ones (in the order acknowledged)."""

    def __init__(self, coords, prefix):
        super().__init__(daemon=True)
        self.coords, self.prefix = coords, prefix
        self.stop_flag = threading.Event()
        self.acked, self.failed, self.error = {}, [], None

    def run(self):
        i = 0
        try:
            while not self.stop_flag.is_set():
                k = "%s-%05d" % (self.prefix, i)
                v = "v-%s" % k
                try:
                    r = put(self.coords[i % len(self.coords)], k, v, cl="quorum", timeout=10)
                    if r.status == 200:
                        self.acked[k] = v
                    else:
                        self.failed.append((k, r.status))
                except OSError as e:
                    self.failed.append((k, str(e)))
                i += 1
        except BaseException as e:  # reported by the test
            self.error = e

    def finish(self):
        self.stop_flag.set()
        self.join(30)
        assert not self.is_alive(), "writer hung"
        assert self.error is None, self.error


def cleanup(c):
    """Stop every node (SIGTERM; SIGKILL after 10 s), keep the log tails for
    the report, remove the folder.  Returns the ids that had to be killed."""
    res = c.stop()
    c.logs = {n.id: n.read_log() for n in c.nodes}
    shutil.rmtree(os.path.dirname(c.root), ignore_errors=True)
    return sorted(nid for nid, what in res.items() if what == "killed")


def tmp_root():
    return tempfile.mkdtemp(prefix="dynkv-cl-")


def log_tail(c, node_id, lines=80):
    text = getattr(c, "logs", {}).get(node_id)
    if text is None:
        text = c.node(node_id).read_log()
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"


def dump(obj):
    return json.dumps(obj, sort_keys=True)
