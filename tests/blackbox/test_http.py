"""The HTTP layer with raw sockets: keep-alive, pipelining, chunked bodies,
size limits, malformed requests and error codes.

After every bad request the node must still serve: a fresh connection's
GET /health is 200 and the sentinel key stored at the start reads back."""

import socket
import threading

import pytest

from dkbb import MIB, RawConn, chunked, request_bytes, unb64

SENTINEL = ("http-sentinel", b"still here")


@pytest.fixture(scope="module")
def hnode(node):
    node.put_ok(*SENTINEL)
    return node


def still_serving(n):
    n.assert_still_serving(*SENTINEL)


def error_code(r):
    j = r.json()
    assert isinstance(j.get("message"), str) and j["message"], j
    return j["error"]


# -- connection handling ---------------------------------------------------

def test_keep_alive(hnode):
    with RawConn(hnode.port) as c:
        c.send(request_bytes("PUT", "/kv/ka-1", body=b"one"))
        r = c.read_response()
        assert r.status == 200, r
        assert (r.header("Connection") or "").lower() != "close", r
        c.send(request_bytes("GET", "/kv/ka-1"))
        r = c.read_response()
        assert r.status == 200 and unb64(r.json()["value"]) == b"one", r
        c.send(request_bytes("DELETE", "/kv/ka-1"))
        assert c.read_response().status == 200
        c.send(request_bytes("GET", "/kv/ka-1"))
        assert c.read_response().status == 404
        c.send(request_bytes("GET", "/health"))
        r = c.read_response()
        assert r.status == 200 and r.json()["status"] == "ok", r


def test_pipelining_in_order(hnode):
    reqs = (request_bytes("PUT", "/kv/pipe-a", body=b"AAA")
            + request_bytes("GET", "/kv/pipe-missing")
            + request_bytes("GET", "/kv/pipe-a"))
    with RawConn(hnode.port) as c:
        c.send(reqs)
        r1, r2, r3 = c.read_response(), c.read_response(), c.read_response()
        assert r1.status == 200 and r1.json()["key"] == "pipe-a", r1
        assert r2.status == 404 and r2.json()["error"] == "not_found", r2
        assert r3.status == 200 and unb64(r3.json()["value"]) == b"AAA", r3
        # the connection is still usable afterwards
        c.send(request_bytes("GET", "/health"))
        assert c.read_response().status == 200


def test_pipelined_puts_with_bodies(hnode):
    body = b"".join(request_bytes("PUT", "/kv/pipe-p%d" % i, body=b"v%d" % i * (i + 1))
                    for i in range(10))
    with RawConn(hnode.port) as c:
        c.send(body)
        for i in range(10):
            r = c.read_response()
            assert r.status == 200 and r.json()["key"] == "pipe-p%d" % i, r
    for i in range(10):
        assert hnode.get_value("pipe-p%d" % i) == b"v%d" % i * (i + 1)


def test_request_split_into_single_bytes(hnode):
    req = request_bytes("PUT", "/kv/slow-key", [("X-TTL", "3600")], body=b"slowly")
    with RawConn(hnode.port) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(req)):
            c.send(req[i:i + 1])
        r = c.read_response()
        assert r.status == 200, r
    assert hnode.get_value("slow-key") == b"slowly"


def test_connection_close_is_honoured(hnode):
    with RawConn(hnode.port) as c:
        c.send(request_bytes("GET", "/health", [("Connection", "close")]))
        assert c.read_response().status == 200
        assert c.at_eof(), "server kept the connection open after Connection: close"


# -- bodies ------------------------------------------------------------------

def put_chunked(port, key, pieces):
    with RawConn(port) as c:
        c.send(request_bytes("PUT", "/kv/" + key, [("Transfer-Encoding", "chunked")]))
        c.send_tolerant(chunked(pieces))
        return c.read_response()


def test_chunked_put(hnode):
    pieces = [b"hello ", b"x" * 1000, b"\x00\r\n0\r\n", b"end"]
    r = put_chunked(hnode.port, "chunk-1", pieces)
    assert r.status == 200, r
    assert hnode.get_value("chunk-1") == b"".join(pieces)


def test_chunked_exactly_1mib(hnode):
    pieces = [bytes([i]) * 65536 for i in range(16)]
    r = put_chunked(hnode.port, "chunk-1mib", pieces)
    assert r.status == 200, r
    assert hnode.get_value("chunk-1mib") == b"".join(pieces)


def test_chunked_too_large(hnode):
    pieces = [b"c" * 65536 for _ in range(16)] + [b"!"]
    r = put_chunked(hnode.port, "chunk-big", pieces)
    assert r.status == 413, r
    assert hnode.get("chunk-big").status == 404, "a rejected PUT must not write"
    still_serving(hnode)


def test_content_length_too_large(hnode):
    with RawConn(hnode.port) as c:
        c.send(request_bytes("PUT", "/kv/cl-big", [("Content-Length", str(MIB + 1))]))
        c.send_tolerant(b"z" * (MIB + 1))
        try:
            r = c.read_response()
        except (ConnectionResetError, EOFError) as e:
            raise AssertionError("no 413 response before the connection ended: %r "
                                 "(answer, then drain or lingering-close)" % e)
        assert r.status == 413, r
        assert error_code(r)
    assert hnode.get("cl-big").status == 404, "a rejected PUT must not write"
    still_serving(hnode)


def test_put_without_length(hnode):
    with RawConn(hnode.port) as c:
        c.send(b"PUT /kv/nolen HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.read_response()
        assert r.status == 411, r
        assert error_code(r)
    assert hnode.get("nolen").status == 404
    still_serving(hnode)


# -- headers and request lines ----------------------------------------------

def test_large_but_allowed_headers(hnode):
    with RawConn(hnode.port) as c:
        c.send(request_bytes("GET", "/health", [("X-Pad", "p" * 12000)]))
        assert c.read_response().status == 200


def test_header_block_too_large(hnode):
    with RawConn(hnode.port) as c:
        c.send_tolerant(request_bytes("GET", "/health", [("X-Pad-%d" % i, "h" * 1000)
                                                        for i in range(17)]))
        r = c.read_response()
        assert r.status == 431, r
    still_serving(hnode)


def test_malformed_request_line(hnode):
    with RawConn(hnode.port) as c:
        c.send(b"GARBAGE\r\n\r\n")
        r = c.read_response()
        assert r.status == 400, r
        assert c.at_eof(), "connection must close after a malformed request"
    still_serving(hnode)


@pytest.mark.parametrize("raw", [
    b"GET\r\n\r\n",
    b"\x00\x01\x02\x03\r\n\r\n",
    b"GET /kv/a HTTP/1.1\r\nHost x\r\n\r\n",
    b"PUT /kv/a HTTP/1.1\r\nContent-Length: -4\r\n\r\n",
    b"PUT /kv/a HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nab",
    b"PUT /kv/a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
])
def test_malformed_requests_get_4xx(hnode, raw):
    with RawConn(hnode.port) as c:
        c.send_tolerant(raw)
        try:
            r = c.read_response()
        except (ConnectionResetError, EOFError):
            r = None
        assert r is not None, "closed without an answer to %r" % raw
        assert 400 <= r.status < 500, r
    still_serving(hnode)


def test_unknown_method(hnode):
    with RawConn(hnode.port) as c:
        c.send(b"FOO /kv/a HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.read_response()
        assert 400 <= r.status < 600, r
    still_serving(hnode)


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_method_not_allowed(hnode, method):
    r = hnode.request(method, "/kv/a", body=b"x")
    assert r.status == 405, r
    assert error_code(r)
    still_serving(hnode)


@pytest.mark.parametrize("path", ["/nope", "/kvx/a", "/", "/kvv"])
def test_unknown_path(hnode, path):
    r = hnode.request("GET", path)
    assert r.status == 404, r
    assert error_code(r)
    still_serving(hnode)


# -- keys ---------------------------------------------------------------------

def test_empty_key(hnode):
    r = hnode.request("PUT", "/kv/", body=b"x")
    assert r.status == 400, r
    assert error_code(r) == "bad_key"
    r = hnode.request("GET", "/kv/")
    assert r.status == 400 and error_code(r) == "bad_key", r
    still_serving(hnode)


@pytest.mark.parametrize("path", ["/kv/%G1", "/kv/%", "/kv/ab%4", "/kv/%zz"])
def test_bad_percent_encoding(hnode, path):
    for method, body in (("PUT", b"x"), ("GET", None), ("DELETE", None)):
        r = hnode.request(method, path, body=body)
        assert r.status == 400, (method, r)
        assert error_code(r) == "bad_key"
    still_serving(hnode)


def test_key_too_long(hnode):
    r = hnode.request("PUT", "/kv/" + "L" * 257, body=b"x")
    assert r.status == 400 and error_code(r) == "key_too_long", r
    still_serving(hnode)


# -- concurrency --------------------------------------------------------------

def hammer(n, clients=8, per_client=40):
    """`clients` threads, each on its own keep-alive connection, write then
    read back their own keys; returns the list of problems seen."""
    problems = []

    def client(c):
        try:
            with RawConn(n.port) as conn:
                for i in range(per_client):
                    key, val = "conc-%d-%d" % (c, i), b"%d:%d:" % (c, i) * (i + 1)
                    conn.send(request_bytes("PUT", "/kv/" + key, body=val))
                    r = conn.read_response()
                    if r.status != 200:
                        problems.append((key, "PUT", r))
                        continue
                    conn.send(request_bytes("GET", "/kv/" + key))
                    r = conn.read_response()
                    if r.status != 200 or unb64(r.json()["value"]) != val:
                        problems.append((key, "GET", r))
        except Exception as e:  # reported by the caller's assertion
            problems.append(("client %d" % c, "exception", repr(e)))

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return problems


def test_concurrent_clients(hnode):
    assert hammer(hnode) == []
    still_serving(hnode)


def test_concurrent_clients_several_loops(make_node, engine):
    """node.loop_threads > 1: connections spread over several loops."""
    n = make_node(engine, ["node.loop_threads=4"])
    assert hammer(n) == []
    pairs, _ = n.scan_all("conc-", 1000)
    assert len(pairs) == 8 * 40
