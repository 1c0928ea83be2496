"""Mutual TLS between nodes (issue 10, "TLS and client authentication"):
with [security] tls_ca_file every RPC connection is TLS, both ends verify
the other's certificate against that CA, and the certificate must name the
node id the peer claims (CN or DNS subjectAltName).

A throwaway CA and per-node certificates are made with the `openssl`
command line (as tests/blackbox/test_tls.py does).  With the certificate
set, the HTTP listener speaks HTTPS, so this module talks to the nodes over
HTTPS with the CA and waits for the cluster itself instead of through the
tool's plain-HTTP wait.
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

import dkcluster
import rpcforge as rf

IP_PREFIX = "127.0.43"
OPENSSL = shutil.which("openssl")

pytestmark = pytest.mark.skipif(OPENSSL is None, reason="openssl command not installed (Debian package openssl)")


def run(argv):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert r.returncode == 0, r.stderr
    return r


def make_ca(d, name):
    key, pem = os.path.join(d, name + ".key"), os.path.join(d, name + ".pem")
    run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", key, "-out", pem, "-days", "2", "-subj", "/CN=dynkv rpc test CA " + name])
    return key, pem


def make_cert(d, name, cn, ca_key, ca_pem, san):
    key, csr, pem = (os.path.join(d, name + ext) for ext in (".key", ".csr", ".pem"))
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\n" % san)
    run([OPENSSL, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", key, "-out", csr, "-subj", "/CN=" + cn])
    run([OPENSSL, "x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key, "-CAcreateserial",
         "-out", pem, "-days", "2", "-extfile", ext])
    return pem, key


@pytest.fixture(scope="module")
def pki():
    d = tempfile.mkdtemp(prefix="dynkv-rpctls-")
    try:
        ca_key, ca = make_ca(d, "ca")
        other_key, other_ca = make_ca(d, "other")
        p = {"dir": d, "ca": ca, "other_ca": other_ca, "certs": {}, "other": {}, "wrongname": {}}
        for i in range(1, 5):
            ip = "%s.%d" % (IP_PREFIX, i)
            # Node id in the CN; the IP as SAN for HTTPS clients.
            p["certs"][i] = make_cert(d, "n%d" % i, "n%d" % i, ca_key, ca, "IP:%s" % ip)
            p["other"][i] = make_cert(d, "x%d" % i, "n%d" % i, other_key, other_ca, "IP:%s" % ip)
            # Signed by the right CA but naming another node.
            p["wrongname"][i] = make_cert(d, "w%d" % i, "n9", ca_key, ca, "IP:%s,DNS:n9" % ip)
        yield p
    finally:
        shutil.rmtree(d, ignore_errors=True)


def tls_sets(pki, n, kind="certs", ca=None, extra=()):
    """node_sets for nodes 1..n: each its own certificate (pki[kind])."""
    out = {}
    for i in range(1, n + 1):
        cert, key = pki[kind][i] if isinstance(kind, str) else pki[kind[i]][i]
        out[i] = ["security.tls_cert_file=" + cert, "security.tls_key_file=" + key,
                  "security.tls_ca_file=" + (ca or pki["ca"])] + list(extra)
    return out


LOOPS2 = ["node.loop_threads=2"]


def loop1_counts(nodes, ca):
    """(coord_loop1_requests_total, rpc_loop1_served_total) summed."""
    return (sum(metric(n, ca, "coord_loop1_requests_total") for n in nodes),
            sum(metric(n, ca, "rpc_loop1_served_total") for n in nodes))


def https(node, ca, method, path, body=None, headers=None, timeout=15.0):
    ctx = ssl.create_default_context(cafile=ca)
    conn = http.client.HTTPSConnection(node.ip, node.http_port, timeout=timeout, context=ctx)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return dkcluster.Response(r.status, r.reason, r.getheaders(), r.read())
    finally:
        conn.close()


def states(node, ca):
    try:
        r = https(node, ca, "GET", "/cluster", timeout=2.0)
        return {m["id"]: m["state"] for m in json.loads(r.body)["members"]}
    except (OSError, http.client.HTTPException, ValueError, KeyError):
        return {}


def wait_for(pred, timeout=30.0, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def ready(node, ca):
    try:
        return https(node, ca, "GET", "/readyz", timeout=2.0).status == 200
    except (OSError, http.client.HTTPException):
        return False


def start_tls(c, nodes, ca, want):
    c.start(which=[n.id for n in nodes], wait="none")
    for n in nodes:
        assert wait_for(lambda n=n: all(states(n, ca).get(i) == "normal" for i in want) and ready(n, ca)), \
            "%s sees %r; log:\n%s" % (n.id, states(n, ca), dkcluster.log_tail(c, n.id))


def metric(node, ca, name):
    r = https(node, ca, "GET", "/metrics")
    assert r.status == 200
    m = re.search(r"^dynkv_%s(?:\{[^}]*\})? (\d+)" % re.escape(name), r.body.decode(), re.M)
    return int(m.group(1)) if m else 0


def put(node, ca, key, value, cl):
    return https(node, ca, "PUT", "/kv/" + dkcluster.quote_key(key), value.encode(), {"X-Consistency": cl})


def get(node, ca, key, cl):
    return https(node, ca, "GET", "/kv/" + dkcluster.quote_key(key), None, {"X-Consistency": cl})


def local(node, ca, key):
    return https(node, ca, "GET", "/admin/local/" + dkcluster.quote_key(key), timeout=5.0)


def rpc_addr(node):
    ip, port = node.rpc.rsplit(":", 1)
    return ip, int(port)


def test_mutual_tls_cluster_replicates_and_reads_at_all(make_cluster, pki):
    c = make_cluster(3, node_sets=tls_sets(pki, 3), start=False)
    ca = pki["ca"]
    start_tls(c, c.nodes, ca, ["n1", "n2", "n3"])
    for i in range(10):
        r = put(c.nodes[i % 3], ca, "k%d" % i, "v%d" % i, "all")
        assert r.status in (200, 201, 204), r
    tags = set()
    for i in range(10):
        for n in c.nodes:
            r = get(n, ca, "k%d" % i, "all")
            assert r.status == 200 and dkcluster.values(r) == [b"v%d" % i], (n.id, r)
            tags.add(r.header("X-Ring"))
    # Every answer names the one ring, whichever loop thread took its
    # connection (each loop answers X-Ring from its own ring snapshot).
    ring_tag = json.loads(https(c.nodes[0], ca, "GET", "/cluster/ring").body)["ring_tag"]
    assert tags == {ring_tag}, (tags, ring_tag)
    # Every node holds every key (N=3): the replicas went over TLS.
    for n in c.nodes:
        assert local(n, ca, "k0").status == 200, n.id
    for n in c.nodes:
        assert "with mutual TLS" in n.read_log(), n.id
        assert metric(n, ca, "rpc_handshake_failures_total") == 0, n.id


def test_mutual_tls_with_two_loops_coordinates_and_serves_on_loop_1(make_cluster, pki):
    """With RPC TLS, loop 1 of each node has its own TLS connections to
    the peers (loop 0's contexts, shared) and takes its share of the
    inbound ones: requests arriving on loop 1 are coordinated there and
    replica requests arriving on its connections are served there."""
    c = make_cluster(3, node_sets=tls_sets(pki, 3, extra=LOOPS2), start=False)
    ca = pki["ca"]
    start_tls(c, c.nodes, ca, ["n1", "n2", "n3"])
    before = loop1_counts(c.nodes, ca)
    for i in range(30):
        r = put(c.nodes[i % 3], ca, "l%d" % i, "v%d" % i, "quorum")
        assert r.status in (200, 201, 204), r
    for i in range(30):
        r = get(c.nodes[(i + 1) % 3], ca, "l%d" % i, "all")
        assert r.status == 200 and dkcluster.values(r) == [b"v%d" % i], r
    coord1, served1 = loop1_counts(c.nodes, ca)
    assert coord1 > before[0], "loop 1 coordinated nothing with RPC TLS"
    assert served1 > before[1], "loop 1 served no replica request with RPC TLS"
    for n in c.nodes:
        assert metric(n, ca, "rpc_handshake_failures_total") == 0, n.id
        assert "loop 0 coordinates every request" not in n.read_log(), n.id


def test_node_with_certificate_of_another_ca_is_refused(make_cluster, pki):
    kinds = {1: "certs", 2: "certs", 3: "certs", 4: "other"}
    c = make_cluster(4, node_sets=tls_sets(pki, 4, kind=kinds), start=False)
    ca = pki["ca"]
    good, rogue = c.nodes[:3], c.nodes[3]
    start_tls(c, good, ca, ["n1", "n2", "n3"])
    before = [metric(n, ca, "rpc_handshake_failures_total") for n in good]
    c.start(which=[rogue.id], wait="none")
    # The rogue's gossip holds the cluster key, so it is seen; every RPC
    # connection between it and the others fails the TLS handshake.
    assert wait_for(lambda: sum(metric(n, ca, "rpc_handshake_failures_total") for n in good) > sum(before)), \
        "no refused handshake counted; n1 log:\n" + dkcluster.log_tail(c, "n1")
    assert wait_for(lambda: any(re.search(r"TLS handshake on connection from .* failed: .*certificate",
                                          n.read_log()) for n in good))
    # ...and the rogue counts its own refused handshakes too.
    assert wait_for(lambda: metric(rogue, pki["other_ca"], "rpc_handshake_failures_total") > 0)
    for i in range(20):
        r = put(good[i % 3], ca, "r%d" % i, "v%d" % i, "quorum")
        assert r.status in (200, 201, 204), r
    time.sleep(1.0)
    # The rogue has none of them (its HTTPS speaks the other CA's cert).
    for i in range(20):
        r = local(rogue, pki["other_ca"], "r%d" % i)
        assert r.status == 404, (i, r)
    for i in range(20):
        r = get(good[0], ca, "r%d" % i, "quorum")
        assert r.status == 200 and dkcluster.values(r) == [b"v%d" % i], r


def test_certificate_naming_another_node_is_refused(make_cluster, pki):
    kinds = {1: "certs", 2: "certs", 3: "wrongname"}
    c = make_cluster(3, node_sets=tls_sets(pki, 3, kind=kinds), start=False)
    ca = pki["ca"]
    start_tls(c, c.nodes[:2], ca, ["n1", "n2"])
    c.start(which=["n3"], wait="none")
    n1 = c.nodes[0]
    assert wait_for(lambda: re.search(r"names neither in its CN nor in a DNS subjectAltName the node id n3",
                                      n1.read_log() + c.nodes[1].read_log())), dkcluster.log_tail(c, "n1")
    assert metric(n1, ca, "rpc_handshake_failures_total") + metric(c.nodes[1], ca,
                                                                      "rpc_handshake_failures_total") > 0


def test_plain_rpc_client_to_a_tls_node_is_refused(make_cluster, pki):
    c = make_cluster(1, node_sets=tls_sets(pki, 1), start=False)
    ca = pki["ca"]
    n1 = c.nodes[0]
    c.start(wait="none")
    assert wait_for(lambda: states(n1, ca).get("n1") == "normal" and ready(n1, ca))
    before = metric(n1, ca, "rpc_handshake_failures_total")
    s = socket.create_connection(rpc_addr(n1), timeout=5.0)
    try:
        s.sendall(rf.frame(rf.HELLO, rf.hello_body("n2")))
        got = b""
        while True:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
    finally:
        s.close()
    # No RPC frame came back: nothing, or a TLS alert record (0x15).
    assert got == b"" or got[0] == 0x15, got[:32]
    assert wait_for(lambda: metric(n1, ca, "rpc_handshake_failures_total") > before)
    assert wait_for(lambda: "TLS handshake on connection from" in n1.read_log())


def test_sighup_reloads_rpc_certificate_and_ca(make_cluster, pki):
    """n3 starts with the other CA's certificate and trust; once its files
    hold the right ones, SIGHUP makes its new RPC connections work.  Every
    node runs two loops: the reload reaches loop 1's connections too (n3's
    loop 1 coordinates writes at W=all after it, and the loops of n1 and
    n2 serve n3's replica requests)."""
    d = tempfile.mkdtemp(prefix="dynkv-rpctls-n3-", dir=pki["dir"])
    files = {k: os.path.join(d, k + ".pem") for k in ("cert", "key", "ca")}
    shutil.copy(pki["other"][3][0], files["cert"])
    shutil.copy(pki["other"][3][1], files["key"])
    shutil.copy(pki["other_ca"], files["ca"])
    sets = tls_sets(pki, 2, extra=LOOPS2)
    sets[3] = ["security.tls_cert_file=" + files["cert"], "security.tls_key_file=" + files["key"],
               "security.tls_ca_file=" + files["ca"]] + LOOPS2
    c = make_cluster(3, node_sets=sets, start=False)
    ca = pki["ca"]
    n1, n3 = c.nodes[0], c.nodes[2]
    start_tls(c, c.nodes[:2], ca, ["n1", "n2"])
    c.start(which=["n3"], wait="none")
    assert wait_for(lambda: metric(n1, ca, "rpc_handshake_failures_total") > 0)
    shutil.copy(pki["certs"][3][0], files["cert"])
    shutil.copy(pki["certs"][3][1], files["key"])
    shutil.copy(pki["ca"], files["ca"])
    os.kill(c.pid("n3"), signal.SIGHUP)
    assert wait_for(lambda: "SIGHUP: RPC TLS certificate reloaded" in n3.read_log()), dkcluster.log_tail(c, "n3")
    # HTTPS reloaded too: n3 now answers with the right CA's certificate,
    # and the cluster forms with it.
    assert wait_for(lambda: all(states(n, ca).get(i) == "normal" for n in c.nodes for i in ("n1", "n2", "n3"))
                    and ready(n3, ca), timeout=40), dkcluster.log_tail(c, "n3")
    # n3 joined the ring: its new ranges are fenced until every member
    # counts them, and a local read of one answers 503 until then (CI,
    # under load, once read it in that moment).
    assert wait_for(lambda: all(metric(n, ca, "handoff_read_fenced") == 0 for n in c.nodes), timeout=35)
    r = put(n1, ca, "after-reload", "v", "all")
    assert r.status in (200, 201, 204), r
    assert local(n3, ca, "after-reload").status == 200
    before = loop1_counts([n3], ca)[0]
    for i in range(20):
        r = put(n3, ca, "via-n3-%d" % i, "v", "all")
        assert r.status in (200, 201, 204), r
    assert loop1_counts([n3], ca)[0] > before, "n3's loop 1 coordinated none of its writes"
    for n in c.nodes:
        assert local(n, ca, "via-n3-19").status == 200, n.id
