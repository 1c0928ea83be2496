"""Authenticated RPC against real keyed clusters (issue 10, "Cluster traffic
is authenticated by default" and "Bounded resources").

Frames are forged with rpcforge (the wire format of rpc_frame.h and the
handshake of rpc_auth.h, written again in Python).  Each attack first runs
as a control with the cluster's key (DIR/cluster.key), so a refusal below
is the missing key's doing, not a malformed frame's.
"""

import os
import re
import socket
import subprocess
import time

import pytest

import dkcluster
import rpcforge as rf
from dkcluster import tool

IP_PREFIX = "127.0.13"
ROGUE_PREFIX = "127.0.14"


def metric(node, name):
    r = dkcluster.request(node, "GET", "/metrics")
    assert r.status == 200
    m = re.search(r"^dynkv_%s(?:\{[^}]*\})? (\d+)" % re.escape(name), r.body.decode(), re.M)
    return int(m.group(1)) if m else 0


def rpc_addr(node):
    ip, port = node.rpc.rsplit(":", 1)
    return ip, int(port)


def cluster_key(c):
    return rf.rpc_key(rf.read_key_file(os.path.join(c.root, tool.KEY_FILE)))


def wait_for(pred, timeout=10.0, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def nobody_has(c, key):
    return dkcluster.holders(c, key) == []


@pytest.fixture
def keyed3(shared_cluster):
    """One keyed 3-node cluster for the module: no test stops a node of it,
    and each writes keys of its own."""
    return shared_cluster(3)


def test_hello_without_the_key_is_refused_and_nothing_is_served(keyed3):
    c = keyed3
    n1 = c.nodes[0]
    key = cluster_key(c)
    # Control: with the key, a FORWARD_WRITE through n1 writes the key.
    ok = rf.Conn(rpc_addr(n1))
    ok.handshake("n2", key)
    t, _, body = ok.request(rf.FORWARD_WRITE, rf.forward_write_body("ctl", b"with-key"))
    assert t == rf.FORWARD_RESULT and rf.read_varint(body, 0)[0] == 0, (t, body)
    assert dkcluster.values(dkcluster.get(n1, "ctl", cl="all")) == [b"with-key"]
    ok.close()

    before = metric(n1, "rpc_auth_failures_total")
    forged = rf.Conn(rpc_addr(n1))
    mine, t, body = forged.hello("n2")
    assert t == rf.HELLO_ACK          # the node proves itself first...
    # ...and the impostor cannot: a made-up proof, then requests right behind it.
    forged.send_raw(rf.frame(rf.AUTH, os.urandom(32))
                    + rf.frame(rf.FORWARD_WRITE, rf.forward_write_body("stolen", b"x"), 7)
                    + rf.frame(rf.PUT_REPLICA, rf.lp("stolen2") + rf.lp(b"\x01junk") + rf.lp(""), 8)
                    + rf.frame(rf.GET_REPLICA, rf.lp("ctl"), 9))
    t, _, body = forged.recv()
    assert t == rf.ERROR
    code, msg = rf.parse_error(body)
    assert "failed to prove it holds the cluster key" in msg, msg
    assert forged.wait_closed(5.0)
    port = forged.local_port
    forged.close()

    assert wait_for(lambda: metric(n1, "rpc_auth_failures_total") >= before + 1)
    log = n1.read_log()
    assert re.search(r"refused connection from 127\.[0-9.]+:%d: node n2 failed to prove" % port, log), \
        log[-2000:]
    for k in ("stolen", "stolen2"):
        assert nobody_has(c, k)
        assert dkcluster.get(n1, k, cl="all").status == 404

    # Frames before AUTH are refused too (no AUTH at all).
    early = rf.Conn(rpc_addr(n1))
    early.hello("n3")
    early.send_raw(rf.frame(rf.FORWARD_WRITE, rf.forward_write_body("early", b"x"), 5))
    t, _, body = early.recv()
    assert t == rf.ERROR and "expected AUTH" in rf.parse_error(body)[1]
    assert early.wait_closed(5.0)
    early.close()
    assert nobody_has(c, "early")

    # A node of protocol version 1 is told why.
    old = rf.Conn(rpc_addr(n1))
    _, t, body = old.hello("n3", proto=1)
    assert t == rf.ERROR and "protocol version 1" in rf.parse_error(body)[1]
    old.close()
    # A node of protocol 2 (HMAC-SHA256 frame tags) is told what changed.
    v2 = rf.Conn(rpc_addr(n1))
    _, t, body = v2.hello("n3", proto=2)
    assert t == rf.ERROR, (t, body)
    msg = rf.parse_error(body)[1]
    assert "protocol version 2" in msg and "speaks 3" in msg and "AES-128-GMAC" in msg, msg
    v2.close()


def test_a_replayed_handshake_is_refused(keyed3):
    c = keyed3
    n2 = c.nodes[1]
    key = cluster_key(c)
    # Record a legitimate handshake (HELLO and AUTH) ...
    rec = rf.Conn(rpc_addr(n2))
    nonce = os.urandom(16)
    mine, t, body = rec.hello("n1", nonce=nonce)
    acc = rf.parse_hello(body)
    auth = rf.proof(key, "initiator", mine, acc)
    rec.send(rf.AUTH, auth)
    rec.authed = True
    rec.k_out, rec.k_in = rf.session_keys(key, mine, acc)
    rt, _, _ = rec.request(rf.GET_REPLICA, rf.lp("k"))
    assert rt == rf.REPLICA_VALUE
    recorded = [f for f in rec.sent_frames]
    rec.close()

    # ... and replay its bytes on a new connection: the node's nonce is new,
    # so the recorded AUTH proves nothing, and nothing after it is served.
    before = metric(n2, "rpc_auth_failures_total")
    rep = rf.Conn(rpc_addr(n2))
    rep.send_raw(recorded[0])
    t, _, body = rep.recv()
    assert t == rf.HELLO_ACK and rf.parse_hello(body)["nonce"] != acc["nonce"]
    rep.send_raw(recorded[1] + recorded[2])
    t, _, body = rep.recv()
    assert t == rf.ERROR and "failed to prove" in rf.parse_error(body)[1]
    assert rep.wait_closed(5.0)
    rep.close()
    assert wait_for(lambda: metric(n2, "rpc_auth_failures_total") >= before + 1)

    # A HELLO_ACK-style proof made for another nonce does not pass either
    # (a stale MAC in a fresh HELLO).
    stale = rf.Conn(rpc_addr(n2))
    stale.hello("n1", nonce=nonce)
    stale.send(rf.AUTH, auth)
    t, _, body = stale.recv()
    assert t == rf.ERROR
    stale.close()


def test_a_tampered_or_replayed_frame_closes_the_connection(keyed3):
    c = keyed3
    n3 = c.nodes[2]
    key = cluster_key(c)
    before = metric(n3, "rpc_auth_failures_total")

    # Flipped MAC byte on a write: closed, the write is not applied.
    a = rf.Conn(rpc_addr(n3))
    a.handshake("n1", key)
    t, _, _ = a.request(rf.GET_REPLICA, rf.lp("k"))
    assert t == rf.REPLICA_VALUE
    data = rf.frame(rf.FORWARD_WRITE, rf.forward_write_body("tampered", b"x"), 11)
    tag = bytearray(a.tag(data))
    tag[0] ^= 1
    a.send_raw(data + bytes(tag))
    assert a.wait_closed(5.0)
    a.close()

    # A body bit flipped under the right tag of the original: closed.
    b = rf.Conn(rpc_addr(n3))
    b.handshake("n1", key)
    data = bytearray(rf.frame(rf.FORWARD_WRITE, rf.forward_write_body("tampered2", b"x"), 12))
    tag = b.tag(bytes(data))
    data[rf.HEADER_LEN + 2] ^= 0x20
    # Keep the frame's CRC right so only the MAC can catch it.
    body = bytes(data[rf.HEADER_LEN:-4])
    data[-4:] = rf.masked(body).to_bytes(4, "little")
    b.send_raw(bytes(data) + tag)
    assert b.wait_closed(5.0)
    b.close()

    # A replayed (valid) frame: its sequence number is stale.
    r = rf.Conn(rpc_addr(n3))
    r.handshake("n1", key)
    first = r.send(rf.GET_REPLICA, rf.lp("k"), 1)
    r.recv()
    r.send_raw(first)
    assert r.wait_closed(5.0)
    r.close()

    assert wait_for(lambda: metric(n3, "rpc_auth_failures_total") >= before + 3)
    assert nobody_has(c, "tampered") and nobody_has(c, "tampered2")
    assert "has a wrong MAC" in n3.read_log()
    # The cluster itself is fine.
    assert dkcluster.put(n3, "after", "ok", cl="all").status in (200, 201, 204)


def test_frames_go_without_crc_only_where_the_mac_covers_them(keyed3):
    """DK_FRAME_NO_CRC (rpc_frame.h): a node sends frames without their
    body CRC only to a peer whose HELLO announced CRC_OPTIONAL (one of an
    older release gets CRCs), reads such frames once the connection is
    authenticated, and refuses one before."""
    c = keyed3
    n3 = c.nodes[2]
    key = cluster_key(c)
    assert dkcluster.put(n3, "nocrc", "v" * 3000, cl="all").status in (200, 201, 204)

    # As a node of an older release: every answer has its CRC (recv checks).
    old = rf.Conn(rpc_addr(n3))
    old.handshake("n1", key)
    assert old.last_flags & rf.CRC_OPTIONAL  # the node's HELLO_ACK announces it
    t, _, body = old.request(rf.GET_REPLICA, rf.lp("nocrc"))
    assert t == rf.REPLICA_VALUE and b"v" * 3000 in body
    assert not old.last_flags & rf.NO_CRC
    old.close()

    # As a node that reads them: answers without the CRC, requests too.
    new = rf.Conn(rpc_addr(n3))
    new.handshake("n1", key, flags=rf.CRC_OPTIONAL)
    t, _, body = new.request(rf.GET_REPLICA, rf.lp("nocrc"), flags=rf.NO_CRC)
    assert t == rf.REPLICA_VALUE and b"v" * 3000 in body
    assert new.last_flags & rf.NO_CRC
    # Its body CRC is the MAC's to check, not skipped: a flipped byte closes.
    data = bytearray(rf.frame(rf.GET_REPLICA, rf.lp("nocrc"), 7, rf.NO_CRC))
    tag = new.tag(bytes(data))
    data[rf.HEADER_LEN + 1] ^= 0x01
    new.send_raw(bytes(data) + tag)
    assert new.wait_closed(5.0)
    new.close()

    # Before the handshake there is no MAC: a frame without its CRC is refused.
    pre = rf.Conn(rpc_addr(n3))
    pre.send(rf.HELLO, rf.hello_body("n1"), flags=rf.NO_CRC)
    assert pre.wait_closed(5.0)
    pre.close()
    assert "frame without a CRC (DK_FRAME_NO_CRC) and without a MAC" in n3.read_log()


def test_a_rogue_node_with_another_key_gets_no_data(keyed3):
    c = keyed3
    for i in range(20):
        r = dkcluster.put(c.nodes[i % 3], "data-%d" % i, "v%d" % i, cl="all")
        assert r.status in (200, 201, 204), r
    seeds = c.nodes[0].gossip
    rogue = dkcluster.make(dkcluster.tmp_root(), 1, ROGUE_PREFIX,
                           sets=["cluster.seeds=%s" % seeds, "node.id=rogue"])
    try:
        assert open(os.path.join(rogue.root, tool.KEY_FILE)).read() != \
            open(os.path.join(c.root, tool.KEY_FILE)).read()
        rogue.start(timeout=30, wait="health")
        rn = rogue.nodes[0]
        # Give gossip and replication time to reach it if they could.
        time.sleep(4)
        for i in range(20, 30):
            dkcluster.put(c.nodes[i % 3], "data-%d" % i, "v%d" % i, cl="quorum")
        time.sleep(2)
        for i in range(30):
            k = "data-%d" % i
            assert dkcluster.local(rn, k).status == 404, "rogue holds %s" % k
            try:
                r = dkcluster.get(rn, k, timeout=5)
                assert r.status != 200 or b"v%d" % i not in r.body, "rogue read %s: %r" % (k, r)
            except OSError:
                pass
        # Writes through the rogue never reach the cluster.
        try:
            dkcluster.put(rn, "from-rogue", "evil", timeout=5)
        except OSError:
            pass
        time.sleep(1)
        assert nobody_has(c, "from-rogue")
        # Gossip keeps the rogue out of the ring (so nobody routes to it);
        # RPC refuses it on its own too: a handshake under the rogue's key
        # fails both ways.
        rogue_key = rf.rpc_key(rf.read_key_file(os.path.join(rogue.root, tool.KEY_FILE)))
        n1 = c.nodes[0]
        before = metric(n1, "rpc_auth_failures_total")
        x = rf.Conn(rpc_addr(n1))
        mine, t, body = x.hello("rogue")
        acc = rf.parse_hello(body)
        assert t == rf.HELLO_ACK and acc["mac"] != rf.proof(rogue_key, "acceptor", mine, acc)
        x.send(rf.AUTH, rf.proof(rogue_key, "initiator", mine, acc))
        t, _, body = x.recv()
        assert t == rf.ERROR and "failed to prove" in rf.parse_error(body)[1]
        assert x.wait_closed(5.0)
        x.close()
        assert wait_for(lambda: metric(n1, "rpc_auth_failures_total") == before + 1)
        assert not [m for m in dkcluster.view(n1)["members"]
                    if m["id"] == "rogue" and tool._member_state(m) == "normal"]
    finally:
        dkcluster.cleanup(rogue)


def test_half_sent_frames_are_dropped_and_connections_capped(make_cluster):
    c = make_cluster(1, sets=["cluster.max_rpc_connections=3"])
    n1 = c.nodes[0]
    key = cluster_key(c)
    # After the handshake: half a frame is dropped after request_timeout (1 s).
    h = rf.Conn(rpc_addr(n1))
    h.handshake("n2", key)
    big = rf.frame(rf.GET_REPLICA, rf.lp("k" * 100), 3)
    h.send_raw(big[:rf.HEADER_LEN + 10])
    t0 = time.monotonic()
    assert h.wait_closed(6.0)
    took = time.monotonic() - t0
    assert 0.8 <= took < 5.0, took
    h.close()
    assert wait_for(lambda: metric(n1, "rpc_frame_timeouts_total") == 1)
    # Before it: a half-sent HELLO is dropped by the handshake deadline (2 s).
    p = rf.Conn(rpc_addr(n1))
    p.send_raw(rf.frame(rf.HELLO, rf.hello_body("n2"))[:30])
    t0 = time.monotonic()
    assert p.wait_closed(6.0)
    assert 1.5 <= time.monotonic() - t0 < 5.0
    p.close()

    # The cap: three connections are served, the fourth is closed at once.
    conns = []
    for _ in range(3):
        x = rf.Conn(rpc_addr(n1))
        x.handshake("n2", key)
        conns.append(x)
    over = rf.Conn(rpc_addr(n1))
    assert over.wait_closed(1.0)
    over.close()
    assert wait_for(lambda: metric(n1, "rpc_connections_rejected_total") == 1)
    for x in conns:
        t, _, _ = x.request(rf.GET_REPLICA, rf.lp("k"))
        assert t == rf.REPLICA_VALUE
        x.close()
    # Once they are gone there is room again.
    assert wait_for(lambda: metric(n1, "rpc_connections_open") == 0, 5)
    again = rf.Conn(rpc_addr(n1))
    again.handshake("n2", key)
    assert again.request(rf.GET_REPLICA, rf.lp("k"))[0] == rf.REPLICA_VALUE
    again.close()


def _free_port():
    s = socket.socket()
    s.bind(("0.0.0.0", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_protected_mode_refuses_a_public_listener_without_a_key():
    root = dkcluster.tmp_root()
    c = dkcluster.make(root, 1, IP_PREFIX, keyed=False,
                       sets=["node.rpc_listen=0.0.0.0:%d" % _free_port()])
    try:
        n = c.nodes[0]
        assert not os.path.exists(os.path.join(c.root, tool.KEY_FILE))
        r = subprocess.run([tool.find_dynkvd(), "--config", n.ini], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=20)
        out = r.stdout.decode()
        assert r.returncode == 2, out
        assert "rpc_listen = 0.0.0.0:" in out and "not a loopback address" in out, out
        assert "cluster_key_file" in out and "keygen" in out, out
        r = subprocess.run([tool.find_dynkvd(), "--check-config", n.ini], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=20)
        assert r.returncode == 2 and "not a loopback address" in r.stdout.decode()
        # With insecure = true (and, listening on a wildcard, the address
        # to advertise) it starts, and says so.
        with open(n.ini, "a") as f:
            f.write("\n[security]\ninsecure = true\n[node]\nadvertise_address = %s\n" % n.ip)
        c.start(timeout=30, wait="health")
        assert "insecure = true and no cluster_key_file" in n.read_log()
        assert dkcluster.put(n, "k", "v").status in (200, 201, 204)
    finally:
        dkcluster.cleanup(c)
