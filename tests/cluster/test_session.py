"""Session tokens (X-Session) on a real 3-node cluster (N=3): read your
writes and monotonic reads across coordinators.

- A client writes a key through one node at X-Consistency: one and at once
  reads it through another node at one, alternating the nodes.  Without a
  token some reads come back stale (the reading coordinator answers from
  its own copy before the write's replication reached it: the count is
  printed and must be > 0, so the test shows the mechanism matters); with
  the token every read returns the client's own last write, for 10 k
  rounds or as many as fit in the time given, and again while a node is
  killed.
- A token that names a version no replica has is answered 503
  session_unavailable after the bounded wait (half of request_timeout),
  with the token unchanged, unless that version is older than half of
  vv_prune_age (it may have been pruned); an altered token is 400
  bad_session.
- Every /kv answer carries X-Session, and a put's X-Siblings says how many
  concurrent values the key has.
- The SDK (sdk/dkc-probe) carries the token by itself: what it got from one
  answer goes with the next request of the handle.
"""

import base64
import hashlib
import hmac
import http.client
import os
import time

import dkcluster

IP_PREFIX = "127.0.47"


class Client:
    """Keep-alive connections to every node; one session token."""

    def __init__(self, nodes):
        self.conns = {n.id: http.client.HTTPConnection(n.ip, n.http_port, timeout=15) for n in nodes}
        self.token = None
        self.ctx = {}

    def call(self, node, method, key, body=None, headers=None, session=True):
        h = dict(headers or {})
        h["X-Consistency"] = "one"
        if session and self.token:
            h["X-Session"] = self.token
        c = self.conns[node.id]
        try:
            c.request(method, "/kv/" + key, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
        except (OSError, http.client.HTTPException):
            c.close()
            raise
        if session and r.getheader("X-Session"):
            self.token = r.getheader("X-Session")
        return r.status, r, data

    def close(self):
        for c in self.conns.values():
            c.close()


def rounds(client, pairs, prefix, seconds, max_rounds, session, enough_stale=None):
    """Write then read through (writer, reader) pairs in turn: (rounds,
    stale reads, 503 session_unavailable answers). With enough_stale = M,
    stop early once M rounds ran and one read was stale (what the runs
    without a token need to show)."""
    n = stale = unavailable = 0
    end = time.time() + seconds
    while n < max_rounds and time.time() < end:
        if enough_stale is not None and stale and n >= enough_stale:
            break
        w, r = pairs[n % len(pairs)]
        key = "%s%d" % (prefix, n % 64)
        value = ("%s-%d" % (prefix, n)).encode()
        h = {"X-Context": client.ctx[key]} if key in client.ctx else {}
        st, resp, body = client.call(w, "PUT", key, value, h, session)
        assert st == 200, (st, body)
        client.ctx[key] = resp.getheader("X-Context")
        st, resp, body = client.call(r, "GET", key, None, {"Accept": "application/octet-stream"}, session)
        if st == 503 and b"session_unavailable" in body:
            unavailable += 1
        elif st != 200 or body != value:
            stale += 1
        n += 1
    return n, stale, unavailable


def test_read_your_writes(make_cluster):
    c = make_cluster(3)
    n1, n2, n3 = c.nodes
    everyone = [(n1, n2), (n2, n3), (n3, n1), (n1, n3), (n2, n1), (n3, n2)]
    cl = Client(c.nodes)
    try:
        # Without the token: stale reads happen.
        n, stale, _ = rounds(cl, everyone, "plain", 8.0, 4000, session=False, enough_stale=200)
        print("without a session token: %d stale reads in %d rounds" % (stale, n))
        assert n >= 200, n
        assert stale > 0, "no stale read in %d rounds without a token: the test shows nothing" % n

        # With it: never, all three nodes up...
        n, stale, unavailable = rounds(cl, everyone, "sess", 25.0, 10000, session=True)
        print("with the token, 3 nodes up: %d stale, %d session_unavailable in %d rounds"
              % (stale, unavailable, n))
        assert stale == 0 and n >= 200, (n, stale)
        assert unavailable <= max(5, n // 100), (n, unavailable)

        # ... and while a node is killed.
        c.kill("n3")
        two = [(n1, n2), (n2, n1)]
        n, stale, unavailable = rounds(cl, two, "down", 15.0, 5000, session=True)
        print("with the token, n3 killed: %d stale, %d session_unavailable in %d rounds"
              % (stale, unavailable, n))
        assert stale == 0 and n >= 100, (n, stale)
        assert unavailable <= max(5, n // 100), (n, unavailable)
        n, stale, _ = rounds(cl, two, "down-plain", 5.0, 2000, session=False, enough_stale=100)
        print("without a token, n3 killed: %d stale reads in %d rounds" % (stale, n))
    finally:
        cl.close()


def _varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def forge(cluster_root, token, node_id, counter, time_ms=0):
    """A valid session token (the test holds the cluster key) saying the
    client has seen version {node_id: counter} of the key that `token`, a
    fresh session's token after one request, names (its first entry's tag:
    version u8, count u8, spill u64, then tag u64 per entry)."""
    with open(os.path.join(cluster_root, "cluster.key")) as f:
        ck = bytes.fromhex(f.read().strip())
    ctx_key = hmac.new(ck, b"dynkv/context", hashlib.sha256).digest()
    skey = hmac.new(ctx_key, b"dynkv session token v1", hashlib.sha256).digest()
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert raw[0] == 1 and raw[1] >= 1, raw
    assert hmac.new(skey, raw[:-16], hashlib.sha256).digest()[:16] == raw[-16:], "MAC key derivation differs"
    tag = raw[10:18]
    vv = _varint(1) + bytes([len(node_id)]) + node_id.encode() + _varint(1) + _varint(counter) + _varint(time_ms)
    body = bytes([1, 1]) + bytes(8) + tag + vv
    mac = hmac.new(skey, body, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(body + mac).rstrip(b"=").decode()


def test_unavailable_bad_token_and_headers(shared_cluster):
    c = shared_cluster(3)
    n1, n2, _ = c.nodes
    r = dkcluster.put(n1, "s-key", "v1", cl="all")
    assert r.status == 200, r
    tok = r.header("X-Session")
    fresh = tok                                             # names s-key only
    assert tok and r.header("X-Siblings") == "1", r
    r = dkcluster.get(n2, "s-key", headers={"X-Session": tok})
    assert r.status == 200 and r.header("X-Session"), r
    r = dkcluster.get(n2, "s-missing", headers={"X-Session": tok})
    assert r.status == 404 and r.header("X-Session"), r
    r = dkcluster.put(n2, "s-key", "v2", cl="all")           # blind: a sibling
    assert r.status == 200 and r.header("X-Siblings") == "2", r

    # A version no replica has: refused after the bounded wait, not answered older.
    forged = forge(c.root, fresh, "n1", 1000000)
    t0 = time.time()
    r = dkcluster.get(n2, "s-key", cl="one", headers={"X-Session": forged})
    took = time.time() - t0
    assert r.status == 503 and r.json()["error"] == "session_unavailable", r
    assert r.header("X-Session") == forged, r
    assert 0.4 <= took < 5.0, took          # half of request_timeout (1 s here), less one retry step
    # What a session saw longer ago than half of vv_prune_age (7 d) may have
    # been pruned from the object: not required.
    r = dkcluster.get(n2, "s-key", cl="one", headers={"X-Session": forge(c.root, fresh, "n1", 1000000, 1000)})
    assert r.status == 200, r
    # Keys the token does not name are not held up.
    r = dkcluster.get(n2, "s-missing", headers={"X-Session": forged})
    assert r.status == 404, r

    # Altered or foreign tokens are refused, saying why.
    bad = forged[:-2] + ("A" if forged[-2] != "A" else "B") + forged[-1]
    r = dkcluster.get(n1, "s-key", headers={"X-Session": bad})
    assert r.status == 400 and r.json()["error"] == "bad_session", r
    assert r.header("X-Session") not in (None, bad), r      # a new, empty session
    r = dkcluster.get(n1, "s-key", headers={"X-Session": "not a token"})
    assert r.status == 400 and r.json()["error"] == "bad_session", r


def test_sdk_carries_the_session(shared_cluster):
    from test_sdk import Probe
    c = shared_cluster(3)
    p = Probe(c.nodes[0].http, DKC_CONSISTENCY="one")
    try:
        assert p("session")["session"] is None
        assert p("put", "sdk-s", "v1")["rc"] == 0
        first = p("session")["session"]
        assert first, "no X-Session kept after a put"
        r = p("get", "sdk-s")
        assert r["rc"] == 0 and r["values"] == ["v1"], r
        # The handle sends what it holds: a token naming a version no
        # replica has makes its read fail rather than answer older data.
        forged = forge(c.root, first, "n1", 1000000)
        assert p("session", forged)["session"] == forged
        r = p("get", "sdk-s")
        assert r["rc"] == -4 and "session_unavailable" in r["error"], r
        assert p("session", "none")["session"] is None
        r = p("get", "sdk-s")
        assert r["rc"] == 0 and r["values"] == ["v1"], r
    finally:
        p.close()
