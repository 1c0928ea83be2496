"""Gossip is authenticated and fresh (issue 10): forged, replayed and stale
datagrams from a small script, and a rogue dynkvd holding another key,
against a real keyed 3-node cluster.

The script speaks the wire format of framework/gossip/gossip_msg.h
(version 2: header with the sender's clock and message counter, updates,
HMAC-SHA256 under the gossip key = HMAC-SHA256(cluster key,
"dynkv/gossip")).  A forged message uses a key of its own; a "legitimate"
one is sealed with the cluster's key, as a member would, to show that the
freshness rules (replay, clock window) hold even for messages whose MAC is
good, and that a member's bug (an absurd incarnation, a removal of a live
node) cannot take a node out either.
"""

import hashlib
import hmac
import os
import re
import socket
import struct
import subprocess
import time

import dkcluster
from dkcluster import view, wait_until

IP_PREFIX = "127.0.21"
SCRIPT_IP = IP_PREFIX + ".50"   # the forger's own address, looked for in the logs

MAGIC = 0x31474B44
VERSION = 2
PING, ACK = 1, 2
ST_NORMAL, ST_DOWN, ST_REMOVED = 1, 4, 5
STATUS_NORMAL, STATUS_REMOVED = 1, 4


def _str(s):
    b = s.encode()
    assert len(b) < 256
    return bytes([len(b)]) + b


def _varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def update(mid, state, inc, gossip, status=STATUS_NORMAL, rpc="", http="", weight=1):
    return (bytes([state]) + _varint(inc) + _varint(weight) + _str(mid) + _str(gossip) + _str(rpc)
            + _str(http) + _str("") + _str("") + bytes([status]) + _varint(0) + _varint(0))


def message(key, typ, cluster, frm, updates=(), target="", seq=1, sent_ms=None, msg_seq=None):
    sent_ms = int(time.time() * 1000) if sent_ms is None else sent_ms
    msg_seq = time.time_ns() // 1000 if msg_seq is None else msg_seq
    body = struct.pack("<IBBBBIQQ", MAGIC, VERSION, typ, 0, 0, seq, sent_ms, msg_seq)
    body += _str(cluster) + _str(frm) + _str(target) + _str("")
    body += struct.pack("<H", len(updates)) + b"".join(updates)
    return body + hmac.new(key, body, hashlib.sha256).digest()


def gossip_key(cluster_key_hex):
    return hmac.new(bytes.fromhex(cluster_key_hex.strip()), b"dynkv/gossip", hashlib.sha256).digest()


def keygen(path):
    subprocess.run([dkcluster.DYNKVD, "keygen", path], check=True, capture_output=True)
    with open(path) as f:
        return f.read().strip()


def rejected(node):
    """{reason: count} of dynkv_gossip_rejected_total on node."""
    r = dkcluster.request(node, "GET", "/metrics")
    assert r.status == 200, r
    return {m.group(1): int(float(m.group(2))) for m in
            re.finditer(r'^dynkv_gossip_rejected_total\{reason="(\w+)"\} (\S+)$', r.body.decode(), re.M)}


def check_promtool(node):
    """The labelled family stays lint-clean (skipped without promtool)."""
    script = os.path.join(dkcluster.SRCDIR, "scripts", "get-promtool.sh")
    p = subprocess.run(["sh", script], capture_output=True, timeout=120)
    path = p.stdout.decode().strip()
    if p.returncode != 0 or not path:
        return
    body = dkcluster.request(node, "GET", "/metrics").body
    assert b"dynkv_gossip_rejected_total{reason=" in body
    r = subprocess.run([path, "check", "metrics"], input=body, capture_output=True)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()


def member(node, mid):
    for m in view(node)["members"]:
        if m["id"] == mid:
            return m
    return None


def n2_fine(c):
    for n in c.nodes:
        m = member(n, "n2")
        assert m is not None and m["state"] == "normal" and m["status"] == "normal", (n.id, m)


class Forger:
    def __init__(self, port=0):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind((SCRIPT_IP, port))
        self.addr = "%s:%d" % self.s.getsockname()

    def send(self, node, data):
        self.s.sendto(data, (node.ip, node.gossip_port))

    def recv(self, timeout):
        self.s.settimeout(timeout)
        try:
            return self.s.recv(65536)
        except socket.timeout:
            return None

    def drain(self):
        while self.recv(0.05) is not None:
            pass

    def close(self):
        self.s.close()


def _cluster(make_cluster, tmp, nodes=3, node_sets=None):
    key_path = os.path.join(tmp, "cluster.key")
    key_hex = keygen(key_path)
    c = make_cluster(nodes, sets=["security.cluster_key_file=" + key_path], node_sets=node_sets,
                     start=False)
    return c, gossip_key(key_hex)


def test_forged_replayed_and_stale_gossip_is_refused(make_cluster, tmp_path):
    c, key = _cluster(make_cluster, str(tmp_path))
    c.start(timeout=30)
    n1, n2, n3 = c.nodes
    f = Forger()
    bad_key = os.urandom(32)
    try:
        inc2 = member(n1, "n2")["incarnation"]
        # (a) one forged datagram "n2 removed, incarnation 2^64-1", to every node
        forged = message(bad_key, PING, "dynkv", "n1",
                         [update("n2", ST_REMOVED, 2**64 - 1, n2.gossip, STATUS_REMOVED)])
        for n in c.nodes:
            f.send(n, forged)
        # ... and the same sealed with the cluster key (a member's bug): the
        # incarnation is past the maximum, so the whole message is refused
        for n in c.nodes:
            f.send(n, message(key, PING, "dynkv", "probe",
                              [update("n2", ST_REMOVED, 2**64 - 1, n2.gossip, STATUS_REMOVED)]))
        # (b) "n2 down" once a second for 5 s, and (c) a rogue normal member
        rogue = update("rogue", ST_NORMAL, 7, SCRIPT_IP + ":7946", rpc=SCRIPT_IP + ":7947",
                       http=SCRIPT_IP + ":7948")
        for i in range(5):
            for n in (n1, n3):
                f.send(n, message(bad_key, PING, "dynkv", "n3" if n is n1 else "n1",
                                  [update("n2", ST_DOWN, inc2 + i, n2.gossip), rogue]))
            time.sleep(1.0)
            n2_fine(c)
        for n in c.nodes:
            ids = [m["id"] for m in view(n)["members"]]
            assert "rogue" not in ids, (n.id, ids)
            assert member(n, "n2")["incarnation"] < 2**53, member(n, "n2")
        for n in c.nodes:
            rj = rejected(n)
            assert rj.get("mac", 0) >= 1, (n.id, rj)
            assert rj.get("malformed", 0) >= 1, (n.id, rj)
            log = n.read_log()
            assert re.search(r"rejected gossip from %s \(mac\)" % re.escape(f.addr), log), \
                "%s's log does not name the forger %s:\n%s" % (n.id, f.addr, log[-3000:])
        assert rejected(n1)["mac"] >= 6 and rejected(n3)["mac"] >= 6
        check_promtool(n1)

        # (d) a message with a good MAC is taken once: the PING is answered
        # with an authentic ACK; the same bytes again are a replay, and a
        # new one stamped 10 minutes ago is stale: neither is answered
        f.drain()
        ping = message(key, PING, "dynkv", "probe", target="n1", seq=4242)
        before = rejected(n1)
        f.send(n1, ping)
        ack = f.recv(10.0)
        assert ack is not None, "n1 did not answer an authentic PING"
        assert ack[-32:] == hmac.new(key, ack[:-32], hashlib.sha256).digest(), "the ACK's MAC"
        magic, version, typ, _, _, seq = struct.unpack_from("<IBBBBI", ack)
        assert (magic, version, typ, seq) == (MAGIC, VERSION, ACK, 4242)
        f.drain()
        f.send(n1, ping)
        assert f.recv(1.5) is None, "a replayed PING was answered"
        old = message(key, PING, "dynkv", "probe", target="n1", sent_ms=int(time.time() * 1000) - 600000)
        f.send(n1, old)
        assert f.recv(1.5) is None, "a PING stamped 10 minutes ago was answered"
        # counted when n1 handles each datagram: wait for both (not
        # answering them says nothing about when that happened)
        wait_until(lambda: rejected(n1).get("replay", 0) > before.get("replay", 0) and
                   rejected(n1).get("stale", 0) > before.get("stale", 0), 10.0, 0.1)
        after = rejected(n1)
        assert after.get("replay", 0) == before.get("replay", 0) + 1, (before, after)
        assert after.get("stale", 0) == before.get("stale", 0) + 1, (before, after)
        log = n1.read_log()
        assert re.search(r"rejected gossip from %s \(replay\)" % re.escape(f.addr), log), log[-3000:]
        assert re.search(r"rejected gossip from %s \(stale\)" % re.escape(f.addr), log), log[-3000:]

        # a member's bug: an authentic record removing n2 at its own
        # incarnation while everybody sees it up is dropped (and n2, told
        # about itself, refuses and refutes)
        inc2 = member(n1, "n2")["incarnation"]
        for n in c.nodes:
            f.send(n, message(key, PING, "dynkv", "probe",
                              [update("n2", ST_NORMAL, inc2, n2.gossip, STATUS_REMOVED)]))
        # handled (counted, logged) by every node, not merely sent
        assert wait_until(lambda: all(rejected(n).get("removal", 0) >= 1 for n in (n1, n3)), 10.0, 0.1), \
            {n.id: rejected(n) for n in (n1, n3)}
        assert wait_until(lambda: re.search(r"n2 rejected gossip from .*\(removal\): a record saying that n2 "
                                            r"itself is removed", n2.read_log()), 10.0, 0.1), n2.read_log()[-3000:]
        time.sleep(1.0)
        n2_fine(c)
    finally:
        f.close()

    # a full restart: nothing forged was saved in any catalog
    c.stop()
    c.start(timeout=30)
    for n in c.nodes:
        ids = sorted(m["id"] for m in view(n)["members"])
        assert ids == ["n1", "n2", "n3"], (n.id, ids)
    n2_fine(c)


def test_rogue_node_with_another_key_never_joins(make_cluster, tmp_path):
    other = os.path.join(str(tmp_path), "other.key")
    keygen(other)
    c, _ = _cluster(make_cluster, str(tmp_path), nodes=4,
                    node_sets={4: ["security.cluster_key_file=" + other]})
    c.start(["n1", "n2", "n3"], timeout=30, expect=["n1", "n2", "n3"])
    c.start("n4", timeout=30, wait="health")
    rogue = c.node("n4")

    # the seeds count and log it with n4's address; waited for first, so
    # that "never admitted" below follows the rogue's contact (a loaded
    # machine may take seconds for its first gossip round)
    def seeds():
        return [n for n in c.nodes[:3] if rejected(n).get("mac", 0) > 0]

    def logged():
        return any(re.search(r"rejected gossip from %s:\d+ \(mac\)" % re.escape(rogue.ip), n.read_log())
                   for n in seeds())

    assert wait_until(seeds, 30.0, 0.2), [rejected(n) for n in c.nodes[:3]]
    assert wait_until(logged, 10.0, 0.2), c.node("n1").read_log()[-3000:]

    def admitted():
        return [n.id for n in c.nodes[:3] if "n4" in dkcluster.states(n)]

    assert not wait_until(admitted, 4.0, 0.2), "n4 (another cluster key) was admitted"
    for n in c.nodes[:3]:
        members = {m["id"]: m["state"] for m in view(n)["members"]}
        assert sorted(members) == ["n1", "n2", "n3"], members
        assert set(members.values()) == {"normal"}, members
    r = dkcluster.put(c.node("n1"), "rogue-ok", "x", cl="all")
    assert r.status == 200, r
