"""HTTPS on the node's HTTP port ([security] tls_cert_file, tls_key_file).

A throwaway CA and server certificates for 127.0.0.1 are made with the
`openssl` command line in a temporary directory (module fixture `pki`).
Clients are curl, Python's ssl module and the `dynkv` CLI: the node must
serve HTTPS to a client that trusts the CA, be refused by one that does
not, never answer plain HTTP on the port, refuse TLS 1.1, swap its
certificate on SIGHUP for new connections while an open keep-alive
connection keeps working, and refuse to start on a key that does not match
its certificate or on half a configuration.
"""

import hashlib
import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import warnings

import pytest

import dkbb

OPENSSL = shutil.which("openssl")
CURL = shutil.which("curl")
CLI = os.path.join(dkbb.BUILDDIR, "client", "dynkv")

pytestmark = pytest.mark.skipif(OPENSSL is None, reason="openssl command not installed (Debian package openssl)")


def run(argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, **kw)


def make_ca(d, name):
    key, pem = os.path.join(d, name + ".key"), os.path.join(d, name + ".pem")
    r = run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", pem, "-days", "2", "-subj", "/CN=dynkv test CA " + name])
    assert r.returncode == 0, r.stderr
    return key, pem


def make_cert(d, name, ca_key, ca_pem, san="IP:127.0.0.1"):
    key, csr, pem = (os.path.join(d, name + ext) for ext in (".key", ".csr", ".pem"))
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\n" % san)
    r = run([OPENSSL, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", csr, "-subj", "/CN=" + name])
    assert r.returncode == 0, r.stderr
    r = run([OPENSSL, "x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key, "-CAcreateserial",
             "-out", pem, "-days", "2", "-extfile", ext])
    assert r.returncode == 0, r.stderr
    return pem, key


def der_sha256(pem_path):
    with open(pem_path) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return hashlib.sha256(der).hexdigest()


@pytest.fixture(scope="module")
def pki():
    d = tempfile.mkdtemp(prefix="dynkv-tls-")
    try:
        ca_key, ca = make_ca(d, "ca")
        p = {"dir": d, "ca": ca}
        p["cert"], p["key"] = make_cert(d, "server1", ca_key, ca)
        p["cert2"], p["key2"] = make_cert(d, "server2", ca_key, ca)
        other_key, other_ca = make_ca(d, "other")
        p["other_ca"] = other_ca
        yield p
    finally:
        shutil.rmtree(d, ignore_errors=True)


def client_ctx(ca, **kw):
    ctx = ssl.create_default_context(cafile=ca)
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


class TlsNode(dkbb.Node):
    """A node whose HTTP port speaks HTTPS; its certificate and key are
    copies in its own directory, so a test can replace them."""

    def __init__(self, pki, sets=()):
        super().__init__("memory")
        self.ca = pki["ca"]
        self.cert = os.path.join(self.root, "cert.pem")
        self.key = os.path.join(self.root, "key.pem")
        shutil.copy(pki["cert"], self.cert)
        shutil.copy(pki["key"], self.key)
        self.sets = ["security.tls_cert_file=" + self.cert, "security.tls_key_file=" + self.key] + list(sets)

    def connection(self, timeout=dkbb.IO_TIMEOUT):
        return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                           context=client_ctx(self.ca))

    def request(self, method, path, body=None, headers=None, timeout=dkbb.IO_TIMEOUT):
        conn = self.connection(timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return dkbb.Response(r.status, r.reason, r.getheaders(), r.read())
        finally:
            conn.close()

    def url(self, path):
        return "https://127.0.0.1:%d%s" % (self.port, path)


@pytest.fixture
def tls_node(pki):
    n = TlsNode(pki)
    try:
        n.start()
        yield n
    finally:
        rc = n.cleanup()
    assert rc == 0, "dynkvd did not exit 0 on SIGTERM\n" + n.log_text[-4000:]


def curl(*args):
    return run([CURL, "-sS", "--max-time", "10"] + list(args))


needs_curl = pytest.mark.skipif(CURL is None, reason="curl not installed")


@needs_curl
def test_curl_with_the_ca_puts_and_gets(tls_node):
    r = curl("--cacert", tls_node.ca, "-X", "PUT", "--data-binary", "over tls",
             "-o", "/dev/null", "-w", "%{http_code}", tls_node.url("/kv/tls-x"))
    assert r.returncode == 0 and r.stdout == b"200", r
    r = curl("--cacert", tls_node.ca, tls_node.url("/kv/tls-x"))
    assert r.returncode == 0, r
    assert b'"value":"' + dkbb.b64(b"over tls").encode() + b'"' in r.stdout
    # and the same through Python's ssl, checking the protocol it got
    ctx = client_ctx(tls_node.ca)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", tls_node.port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
            assert t.selected_alpn_protocol() == "http/1.1"
    conn = tls_node.connection()
    try:
        conn.request("GET", "/kv/tls-x")
        assert conn.getresponse().status == 200
        assert conn.sock.version() in ("TLSv1.2", "TLSv1.3")
    finally:
        conn.close()


@needs_curl
def test_curl_without_the_ca_fails_verification(tls_node, pki):
    r = curl(tls_node.url("/health"))
    assert r.returncode == 60, r          # CURLE_PEER_FAILED_VERIFICATION
    r = curl("--cacert", pki["other_ca"], tls_node.url("/health"))
    assert r.returncode == 60, r
    assert tls_node.alive()


def test_plain_http_is_never_served(tls_node):
    if CURL:
        r = curl("http://127.0.0.1:%d/kv/tls-x" % tls_node.port)
        assert r.returncode != 0 and b"HTTP/" not in r.stdout, r
    with socket.create_connection(("127.0.0.1", tls_node.port), timeout=10) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while True:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
        assert b"HTTP/" not in got, got        # closed, at most a TLS alert
    m = tls_node.metrics().body.decode()
    line = [ln for ln in m.splitlines() if ln.startswith("dynkv_http_tls_handshake_failures_total")]
    assert line and float(line[0].split()[-1]) >= 1, line
    assert "TLS handshake with" in tls_node.read_log()


def test_tls_1_1_is_refused_1_2_and_1_3_served(tls_node):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old = client_ctx(tls_node.ca)
        old.set_ciphers("DEFAULT:@SECLEVEL=0")      # let this client offer 1.0 and 1.1
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    with socket.create_connection(("127.0.0.1", tls_node.port), timeout=10) as s:
        with pytest.raises(ssl.SSLError) as e:
            old.wrap_socket(s, server_hostname="127.0.0.1")
    # the server's protocol_version alert, not a client-side refusal
    assert "PROTOCOL_VERSION" in str(e.value).upper() or "protocol version" in str(e.value), e.value
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = client_ctx(tls_node.ca, minimum_version=v, maximum_version=v)
        with socket.create_connection(("127.0.0.1", tls_node.port), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
                assert t.version() == v.name.replace("v1_", "v1.")
                t.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                assert t.recv(100).startswith(b"HTTP/1.1 200 ")


def peer_sha256(conn):
    return hashlib.sha256(conn.sock.getpeercert(binary_form=True)).hexdigest()


def wait_log(node, text, count, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if node.read_log().count(text) >= count:
            return
        time.sleep(0.05)
    raise AssertionError("no %d× %r in the log\n%s" % (count, text, node.log_text[-3000:]))


def test_sighup_reloads_the_certificate_without_dropping_connections(tls_node, pki):
    first, second = der_sha256(pki["cert"]), der_sha256(pki["cert2"])
    assert first != second
    kept = tls_node.connection()
    try:
        kept.request("PUT", "/kv/tls-reload", body=b"before")
        r = kept.getresponse()
        assert r.status == 200 and r.getheader("Connection") != "close"
        r.read()
        assert peer_sha256(kept) == first

        # a broken pair first: the old certificate stays
        shutil.copy(pki["cert2"], tls_node.cert)        # key still server1's
        tls_node.proc.send_signal(signal.SIGHUP)
        wait_log(tls_node, "TLS certificate not reloaded", 1)
        fresh = tls_node.connection()
        fresh.request("GET", "/health")
        assert fresh.getresponse().status == 200
        assert peer_sha256(fresh) == first
        fresh.close()

        # the matching key: new connections get the new certificate
        shutil.copy(pki["key2"], tls_node.key)
        tls_node.proc.send_signal(signal.SIGHUP)
        wait_log(tls_node, "TLS certificate reloaded", 1)
        fresh = tls_node.connection()
        fresh.request("GET", "/kv/tls-reload")
        r = fresh.getresponse()
        assert r.status == 200 and b'"value":"' + dkbb.b64(b"before").encode() + b'"' in r.read()
        assert peer_sha256(fresh) == second
        fresh.close()

        # the connection opened before both reloads still works, same session
        kept.request("GET", "/kv/tls-reload")
        r = kept.getresponse()
        body = r.read()
        assert r.status == 200, body
        assert b'"value":"' + dkbb.b64(b"before").encode() + b'"' in body
        assert peer_sha256(kept) == first
    finally:
        kept.close()


@pytest.mark.parametrize("case", ["mismatched-key", "cert-only", "unreadable", "ca-file", "ca-unreadable"])
def test_bad_tls_configuration_refuses_to_start(pki, case):
    n = dkbb.Node("memory")
    try:
        sets = {
            "mismatched-key": ["security.tls_cert_file=" + pki["cert"], "security.tls_key_file=" + pki["key2"]],
            "cert-only": ["security.tls_cert_file=" + pki["cert"]],
            "unreadable": ["security.tls_cert_file=" + os.path.join(pki["dir"], "missing.pem"),
                           "security.tls_key_file=" + pki["key"]],
            "ca-file": ["security.tls_ca_file=" + pki["ca"]],
            "ca-unreadable": ["security.tls_cert_file=" + pki["cert"], "security.tls_key_file=" + pki["key"],
                              "security.tls_ca_file=" + os.path.join(pki["dir"], "missing-ca.pem")],
        }[case]
        r = run(n.argv(dkbb.free_port()) + [x for s in sets for x in ("--set", s)])
        err = r.stderr.decode()
        assert r.returncode == 2, (r.returncode, err)
        expect = {"mismatched-key": "is not the key of the certificate",
                  "cert-only": "tls_cert_file and tls_key_file go together",
                  "unreadable": "tls_cert_file",
                  "ca-file": "tls_ca_file (mutual TLS between nodes) needs tls_cert_file",
                  "ca-unreadable": "tls_ca_file"}[case]
        assert expect in err, err
    finally:
        n.cleanup()


@pytest.mark.skipif(not os.path.exists(CLI), reason="dynkv CLI not built")
def test_cli_with_cacert(tls_node, pki):
    url = "https://127.0.0.1:%d" % tls_node.port
    r = run([CLI, "--cacert", tls_node.ca, "-n", url, "put", "tls-cli", "via the CLI"])
    assert r.returncode == 0, r
    r = run([CLI, "--cacert", tls_node.ca, "-n", "127.0.0.1:%d" % tls_node.port, "get", "tls-cli"])
    assert r.returncode == 0 and r.stdout == b"via the CLI", r
    r = run([CLI, "-n", url, "get", "tls-cli"], env=dict(os.environ, DYNKV_CACERT=tls_node.ca))
    assert r.returncode == 0 and r.stdout == b"via the CLI", r
    # another CA: the certificate is not trusted
    r = run([CLI, "--cacert", pki["other_ca"], "-n", url, "get", "tls-cli"])
    assert r.returncode == 7 and b"not trusted" in r.stderr, r
    # right CA, wrong name: the certificate is for 127.0.0.1 only
    r = run([CLI, "--cacert", tls_node.ca, "-n", "https://localhost:%d" % tls_node.port, "get", "tls-cli"])
    assert r.returncode == 7 and b"not for the host" in r.stderr, r
    # plain HTTP to the HTTPS port gets no answer
    r = run([CLI, "-n", "127.0.0.1:%d" % tls_node.port, "get", "tls-cli"])
    assert r.returncode == 7 and b"https://" in r.stderr, r
    # an unreadable CA file is a usage error
    r = run([CLI, "--cacert", os.path.join(pki["dir"], "nope.pem"), "-n", url, "get", "tls-cli"])
    assert r.returncode == 2, r


def test_malformed_http_over_tls_gets_400(tls_node):
    ctx = client_ctx(tls_node.ca)
    with socket.create_connection(("127.0.0.1", tls_node.port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
            t.sendall(b"GET /health HTTP/1.1\r\nHost x\r\n\r\n")
            got = b""
            while True:
                chunk = t.recv(4096)
                if not chunk:
                    break
                got += chunk
    assert got.startswith(b"HTTP/1.1 400 "), got
    assert tls_node.request("GET", "/health").status == 200


def test_reloads_under_load_on_two_loops(pki):
    """Two loop threads share the context holder; SIGHUPs swap it while
    clients on both loops make new connections and reuse old ones."""
    import threading
    n = TlsNode(pki, sets=["node.loop_threads=2"])
    try:
        n.start()
        errors, done = [], threading.Event()

        def client(i):
            conn = None
            try:
                for j in range(400):
                    if done.is_set():
                        break
                    if conn is None or j % 5 == 0:     # new connections and kept ones
                        if conn:
                            conn.close()
                        conn = n.connection()
                    conn.request("GET", "/health")
                    r = conn.getresponse()
                    r.read()
                    if r.status != 200:
                        errors.append((i, j, r.status))
            except Exception as e:  # noqa: BLE001 - any failure is the finding
                errors.append((i, repr(e)))
            finally:
                if conn:
                    conn.close()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        pairs = [(pki["cert2"], pki["key2"]), (pki["cert"], pki["key"])]
        for k in range(6):
            cert, key = pairs[k % 2]
            shutil.copy(cert, n.cert)
            shutil.copy(key, n.key)
            n.proc.send_signal(signal.SIGHUP)
            wait_log(n, "TLS certificate reloaded", k + 1)
        done.set()
        for t in threads:
            t.join(60)
        assert not errors, errors[:5]
        assert n.alive()
    finally:
        rc = n.cleanup()
    assert rc == 0, n.log_text[-4000:]
