"""Client tokens ([security] tokens_file) against a real dynkvd, with a
tokens file written from `dynkvd token NAME ROLE`:

- the 401/403 matrix: no token, an unknown token, and each role (read,
  write, admin) against every data, cluster and admin route and method;
  401 carries WWW-Authenticate: Bearer and a JSON error;
- /livez, /readyz, /health, /ui/ and (by default) /metrics stay open;
  metrics_need_token makes /metrics need the read role, and its CORS
  preflight stays open for the dashboard;
- a request with a body and no valid token is answered 401/403 as soon
  as its headers are in, before the body is read (the client sends no
  body), with Connection: close;
- failures are counted in dynkv_http_auth_failures_total{reason};
- no token appears in the node's log (debug level) after failed and
  successful requests;
- SIGHUP reloads the file: a client added works, a client removed gets
  401, a malformed file keeps the old clients and logs why;
- a malformed file refuses start with exit 2 and "file:line:";
- the dynkv CLI sends --token or $DYNKV_TOKEN, and exits 9 on 401/403;
- tokens work the same over HTTPS (the CLI with --cacert and --token).
"""

import os
import signal
import subprocess
import time

import pytest

import dkbb

DYNKV = os.path.join(dkbb.BUILDDIR, "client", "dynkv")


def make_token(name, role):
    """(token, file line) from `dynkvd token NAME ROLE`."""
    p = subprocess.run([dkbb.DYNKVD, "token", name, role], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.decode().splitlines()
    assert len(lines) == 2, lines
    token, line = lines
    assert len(token) >= 43 and token not in line, (token, line)   # >= 256 bits, the line has the hash only
    assert line.split()[:2] == [name, role]
    return token, line


def bearer(token):
    return {"Authorization": "Bearer " + token} if token else {}


def write_tokens(path, lines):
    with open(path, "w") as f:
        f.write("# dynkv clients (test)\n\n" + "\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def tokens():
    return {role: make_token("c-" + role, role) for role in ("read", "write", "admin")}


@pytest.fixture(scope="module")
def anode(tokens):
    """One node (memory engine) with the three clients."""
    n = dkbb.Node("memory", ["node.log_level=debug"])
    path = os.path.join(n.root, "tokens")
    write_tokens(path, [line for _, line in tokens.values()])
    n.sets.append("security.tokens_file=" + path)
    n.tokens_path = path
    try:
        n.start()
    except BaseException:
        n.cleanup()
        raise
    yield n
    rc = n.cleanup()
    assert rc == 0, n.log_text[-4000:]


# (method, path, body, role needed); the admin routes chosen do not harm
# the node (no decommission).
ROUTES = [
    ("GET", "/kv/auth-k", None, "read"),
    ("HEAD", "/kv/auth-k", None, "read"),
    ("PUT", "/kv/auth-k", b"v", "write"),
    ("DELETE", "/kv/auth-gone", None, "write"),
    ("GET", "/kv?prefix=auth-", None, "read"),
    ("GET", "/crdt/auth-c", None, "read"),
    ("POST", "/crdt/auth-c", b'{"type":"counter","op":"incr","by":1}', "write"),
    ("GET", "/cluster", None, "read"),
    ("GET", "/cluster/ring", None, "read"),
    ("GET", "/cluster/endpoints/auth-k", None, "read"),
    ("GET", "/info", None, "read"),
    ("GET", "/admin/repair", None, "admin"),
    ("GET", "/admin/streams", None, "admin"),
    ("GET", "/admin/local/auth-k", None, "admin"),
    ("POST", "/admin/cleanup", b"", "admin"),
    ("POST", "/admin/remove/no-such-node", b"", "admin"),
    ("PUT", "/cluster", b"", "admin"),
    ("GET", "/no-such-route", None, "read"),
]
ORDER = {"read": 1, "write": 2, "admin": 3}


def test_matrix(anode, tokens):
    assert anode.request("PUT", "/kv/auth-k", b"v", bearer(tokens["write"][0])).status in (200, 201, 204)
    bad = []
    for method, path, body, need in ROUTES:
        who = [(None, None), ("unknown", "x" * 43)] + [(r, tokens[r][0]) for r in ("read", "write", "admin")]
        for role, token in who:
            r = anode.request(method, path, body, bearer(token))
            if role is None or role == "unknown":
                want = 401
            elif ORDER[role] < ORDER[need]:
                want = 403
            else:
                want = None     # anything but 401/403
            ok = r.status not in (401, 403) if want is None else r.status == want
            if not ok:
                bad.append("%s %s as %s: %d %s, want %s" % (method, path, role, r.status, r.body[:120],
                                                           want or "not 401/403"))
                continue
            if r.status == 401:
                assert (r.header("WWW-Authenticate") or "").startswith("Bearer"), r.headers
                if method != "HEAD":
                    assert r.json()["error"] in ("unauthorized", "invalid_token"), r.body
            if r.status == 403 and method != "HEAD":
                doc = r.json()
                assert doc["error"] == "forbidden" and ("c-" + role) in doc["message"], doc
                assert need in doc["message"], doc
    assert not bad, "\n".join(bad)


def test_scheme_and_header_forms(anode, tokens):
    tok = tokens["read"][0]
    for value, want in [("bearer " + tok, 200), ("Bearer  " + tok + " ", 200), ("Basic " + tok, 401),
                        (tok, 401), ("Bearer", 401), ("Bearer " + tok + "x", 401), ("Bearer " + tok[:-1], 401)]:
        r = anode.request("GET", "/cluster", headers={"Authorization": value})
        assert r.status == want, (value, r)


def test_refused_before_the_body(anode, tokens):
    """A request that announces a 1 MiB body gets its 401/403 as soon as its
    headers are in: the client sends the headers only and reads the answer
    (Connection: close, then the server closes) without sending a byte of
    the body; with Expect: 100-continue no 100 comes first, and a chunked
    upload is refused before its first chunk.  Before, the node waited for
    (and buffered) the whole body and answered 408 after request_timeout."""
    mib = str(1024 * 1024)
    cases = [
        ("no token", [], 401, "unauthorized"),
        ("unknown token", [("Authorization", "Bearer " + "x" * 43)], 401, "invalid_token"),
        ("read role", [("Authorization", "Bearer " + tokens["read"][0])], 403, "forbidden"),
        ("expect 100", [("Expect", "100-continue")], 401, "unauthorized"),
        ("chunked", [("Transfer-Encoding", "chunked")], 401, "unauthorized"),
    ]
    for what, hdrs, status, code in cases:
        if not any(k == "Transfer-Encoding" for k, _ in hdrs):
            hdrs = hdrs + [("Content-Length", mib)]
        with dkbb.RawConn(anode.port, timeout=10) as c:
            t0 = time.monotonic()
            c.send(dkbb.request_bytes("PUT", "/kv/early-" + what.replace(" ", "-"), hdrs))
            r = c.read_response()
            took = time.monotonic() - t0
            assert r.status == status, (what, r)
            assert took < 5, "%s: the answer took %.1f s" % (what, took)
            assert r.json()["error"] == code, (what, r.body)
            assert (r.header("Connection") or "").lower() == "close", (what, r.headers)
            if status == 401:
                assert (r.header("WWW-Authenticate") or "").startswith("Bearer"), (what, r.headers)
            # the body is never read: the server closes; what the client
            # still sends is discarded (the node keeps serving)
            assert c.at_eof(timeout=5), what
    assert anode.request("GET", "/kv/early-no-token", headers=bearer(tokens["read"][0])).status == 404
    # a client with the right role still uploads: the check lets it through
    big = b"v" * (1024 * 1024)
    r = anode.request("PUT", "/kv/early-ok", big, bearer(tokens["write"][0]))
    assert r.status in (200, 201, 204), r
    r = anode.request("GET", "/kv/early-ok", headers=bearer(tokens["read"][0]))
    assert r.status == 200 and dkbb.unb64(r.json()["value"]) == big, r.status


def test_open_routes(anode):
    for path in ("/livez", "/readyz", "/health", "/ui/", "/metrics"):
        r = anode.request("GET", path)
        assert r.status == 200, (path, r)
    assert anode.request("HEAD", "/livez").status == 200
    assert anode.request("GET", "/ui").status == 301


def failures(node, token=None):
    r = node.request("GET", "/metrics", headers=bearer(token))
    assert r.status == 200, r
    out = {}
    for line in r.body.decode().splitlines():
        if line.startswith("dynkv_http_auth_failures_total{"):
            reason = line.split('reason="')[1].split('"')[0]
            out[reason] = int(line.split()[-1])
    assert set(out) == {"missing", "invalid", "forbidden"}, out
    return out


def test_failures_counted(anode, tokens):
    before = failures(anode)
    anode.request("GET", "/kv/auth-k")
    anode.request("GET", "/kv/auth-k")
    anode.request("GET", "/kv/auth-k", headers=bearer("nope"))
    anode.request("PUT", "/kv/auth-k", b"x", bearer(tokens["read"][0]))
    after = failures(anode)
    assert after["missing"] - before["missing"] == 2, (before, after)
    assert after["invalid"] - before["invalid"] == 1, (before, after)
    assert after["forbidden"] - before["forbidden"] == 1, (before, after)


def test_metrics_need_token(make_node, tokens, tmp_path):
    path = tmp_path / "tokens"
    write_tokens(str(path), [tokens["read"][1], tokens["write"][1]])
    n = make_node("memory", ["security.tokens_file=%s" % path, "security.metrics_need_token=true"])
    r = n.request("GET", "/metrics")
    assert r.status == 401 and (r.header("WWW-Authenticate") or "").startswith("Bearer"), r
    assert n.request("GET", "/metrics", headers=bearer("wrong")).status == 401
    r = n.request("GET", "/metrics", headers=bearer(tokens["read"][0]))
    assert r.status == 200 and b"dynkv_http_auth_failures_total" in r.body, r
    assert failures(n, tokens["write"][0])["missing"] >= 1
    # the dashboard's preflight before it sends the token to another member
    r = n.request("OPTIONS", "/metrics", headers={"Origin": "http://elsewhere",
                                                 "Access-Control-Request-Headers": "authorization"})
    assert r.status == 204, r
    assert r.header("Access-Control-Allow-Origin") == "*", r.headers
    assert "authorization" in (r.header("Access-Control-Allow-Headers") or "").lower(), r.headers
    assert n.request("GET", "/readyz").status == 200


def test_token_never_logged(anode, tokens):
    secret = "s3cr3t-never-logged-" + "q" * 20
    anode.request("GET", "/kv/auth-k", headers=bearer(secret))
    anode.request("PUT", "/kv/auth-k", b"v", bearer(tokens["read"][0]))
    anode.request("GET", "/kv/auth-k", headers=bearer(tokens["read"][0]))
    anode.request("POST", "/admin/cleanup", b"", bearer(tokens["admin"][0]))
    anode.request("GET", "/kv/auth-k", headers={"Authorization": secret})
    log = anode.read_log()
    assert "clients need a bearer token: 3 clients" in log, log[-2000:]
    for t in [secret] + [tok for tok, _ in tokens.values()]:
        assert t not in log, "a token is in the log"


def wait_log(node, text, start):
    assert dkbb.wait_until(lambda: text in node.read_log()[start:], timeout=10), \
        "%r not in the log:\n%s" % (text, node.read_log()[start:])


def test_sighup_reload(make_node, tokens, tmp_path):
    path = str(tmp_path / "tokens")
    write_tokens(path, [tokens["read"][1]])
    n = make_node("memory", ["security.tokens_file=" + path])
    r_tok, w_tok = tokens["read"][0], tokens["write"][0]
    assert n.request("GET", "/cluster", headers=bearer(r_tok)).status == 200
    assert n.request("GET", "/cluster", headers=bearer(w_tok)).status == 401

    # add the writer, remove the reader
    write_tokens(path, [tokens["write"][1]])
    mark = len(n.read_log())
    n.proc.send_signal(signal.SIGHUP)
    wait_log(n, "tokens file %s reloaded: 1 client" % path, mark)
    assert n.request("PUT", "/kv/hup", b"1", bearer(w_tok)).status in (200, 201, 204)
    assert n.request("GET", "/cluster", headers=bearer(r_tok)).status == 401

    # a malformed file: the old clients stay, the log says why with file:line
    with open(path, "a") as f:
        f.write("broken line\n")
    mark = len(n.read_log())
    n.proc.send_signal(signal.SIGHUP)
    wait_log(n, "keeping the clients of before", mark)
    assert "%s:4:" % path in n.read_log()[mark:]
    assert n.request("GET", "/kv/hup", headers=bearer(w_tok)).status == 200
    assert n.request("GET", "/cluster", headers=bearer(r_tok)).status == 401


@pytest.mark.parametrize("text,line,what", [
    ("app read\n", 1, "3 fields"),
    ("# c\n\napp reader " + "a" * 64 + "\n", 3, "role 'reader'"),
    ("app read " + "A" * 64 + "\n", 1, "64 lowercase hex"),
    ("app read " + "a" * 64 + "\napp write " + "b" * 64 + "\n", 2, "already named on line 1"),
])
def test_malformed_file_refused(tmp_path, text, line, what):
    path = str(tmp_path / "tokens")
    with open(path, "w") as f:
        f.write(text)
    n = dkbb.Node("memory", ["security.tokens_file=" + path], root=str(tmp_path / "node"))
    os.makedirs(n.root, exist_ok=True)
    p = subprocess.run(n.argv(dkbb.free_port()), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    err = p.stderr.decode()
    assert p.returncode == 2, (p.returncode, err)
    assert "%s:%d:" % (path, line) in err and what in err, err
    assert not os.path.exists(n.data_dir), "the data directory was touched"
    # --check-config reports it too
    p = subprocess.run([dkbb.DYNKVD, "--check-config", "/dev/null", "--set", "security.tokens_file=" + path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert p.returncode == 2 and "%s:%d:" % (path, line) in p.stderr.decode(), p.stderr


def test_missing_file_refused(tmp_path):
    path = str(tmp_path / "nope")
    n = dkbb.Node("memory", ["security.tokens_file=" + path], root=str(tmp_path / "node"))
    p = subprocess.run(n.argv(dkbb.free_port()), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert p.returncode == 2 and path in p.stderr.decode() and "cannot read" in p.stderr.decode(), p.stderr


def test_token_verb_usage():
    for args in ([], ["x"], ["a b", "read"], ["app", "reader"]):
        p = subprocess.run([dkbb.DYNKVD, "token"] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=30)
        assert p.returncode == 2 and p.stdout == b"", (args, p)
    a, b = make_token("x", "read")[0], make_token("x", "read")[0]
    assert a != b


def cli(node, *args, env=None):
    e = dict(os.environ)
    e.pop("DYNKV_TOKEN", None)
    e.update(env or {})
    p = subprocess.run([DYNKV, "-n", "127.0.0.1:%d" % node.port] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60, env=e)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def test_cli_token(anode, tokens):
    if not os.access(DYNKV, os.X_OK):
        pytest.fail("%s is not built" % DYNKV)
    r_tok, w_tok, a_tok = (tokens[k][0] for k in ("read", "write", "admin"))
    rc, out, err = cli(anode, "put", "auth-cli", "v1")
    assert rc == 9 and "--token" in err and "401" in err, (rc, err)
    rc, out, err = cli(anode, "--token", w_tok, "put", "auth-cli", "v1")
    assert rc == 0, err
    rc, out, err = cli(anode, "get", "auth-cli", env={"DYNKV_TOKEN": r_tok})
    assert (rc, out) == (0, b"v1"), (rc, err)
    # --token wins over the environment
    rc, out, err = cli(anode, "--token", "bad", "get", "auth-cli", env={"DYNKV_TOKEN": r_tok})
    assert rc == 9 and "401" in err, (rc, err)
    rc, out, err = cli(anode, "put", "auth-cli", "v2", env={"DYNKV_TOKEN": r_tok})
    assert rc == 9 and "403" in err and "role" in err, (rc, err)
    rc, out, err = cli(anode, "scan", "auth-", env={"DYNKV_TOKEN": r_tok})
    assert rc == 0 and b"auth-cli\tv1" in out, (rc, out, err)
    rc, out, err = cli(anode, "streams", env={"DYNKV_TOKEN": w_tok})
    assert rc == 9 and "403" in err, (rc, err)
    rc, out, err = cli(anode, "streams", env={"DYNKV_TOKEN": a_tok})
    assert rc == 0, err
    # status asks each member's /info: the token goes there too
    rc, out, err = cli(anode, "-o", "json", "status", env={"DYNKV_TOKEN": r_tok})
    assert rc == 0 and b'"reachable": true' in out, (rc, out, err)
    rc, out, err = cli(anode, "info", env={"DYNKV_TOKEN": r_tok})
    assert rc == 0, err
    for t in (r_tok, w_tok, a_tok):
        assert t not in err


def test_tokens_over_https(tmp_path, tokens):
    """Tokens and TLS together: the CLI with --cacert and a token over HTTPS,
    401 without one, 403 for a role too low."""
    test_tls = pytest.importorskip("test_tls")
    if test_tls.OPENSSL is None:
        pytest.skip("openssl command not installed")
    d = str(tmp_path)
    ca_key, ca = test_tls.make_ca(d, "ca")
    cert, key = test_tls.make_cert(d, "server", ca_key, ca)
    path = os.path.join(d, "tokens")
    write_tokens(path, [line for _, line in tokens.values()])
    n = test_tls.TlsNode({"ca": ca, "cert": cert, "key": key}, ["security.tokens_file=" + path])
    try:
        n.start()
        url = "https://127.0.0.1:%d" % n.port
        assert n.request("GET", "/kv/tls-auth").status == 401
        assert n.request("PUT", "/kv/tls-auth", b"x", bearer(tokens["read"][0])).status == 403
        rc, out, err = cli_at(url, "--cacert", ca, "--token", tokens["write"][0], "put", "tls-auth", "secure")
        assert rc == 0, err
        rc, out, err = cli_at(url, "--cacert", ca, "get", "tls-auth", env={"DYNKV_TOKEN": tokens["read"][0]})
        assert (rc, out) == (0, b"secure"), (rc, err)
        rc, out, err = cli_at(url, "--cacert", ca, "get", "tls-auth")
        assert rc == 9 and "401" in err, (rc, err)
        log = n.read_log()
        assert all(tok not in log for tok, _ in tokens.values())
    finally:
        rc = n.cleanup()
    assert rc == 0, n.log_text[-4000:]


def cli_at(url, *args, env=None):
    e = dict(os.environ)
    e.pop("DYNKV_TOKEN", None)
    e.update(env or {})
    p = subprocess.run([DYNKV, "-n", url] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60, env=e)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")
