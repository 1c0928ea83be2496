"""Contexts and inputs that cannot be turned into weapons (issue 10).

A context token carries a MAC under the cluster's key: a forged or edited
token, or one of an older release, is a 400 and the key stays writable.
In protected mode (no key file) the key is derived from the cluster name,
so anyone can MAC a token; the counter cap still refuses the "brick"
context (counter 2^64-2) and every later write works.  A JSON version map
is checked against the stored object.  Numeric parameters accept plain
decimal digits only; a scan prefix over 256 bytes is 400 however long.
max_object_size refuses a write that would grow the object past it (413,
"resolve the siblings") and a write with the read's context goes through.
"""

import base64
import hashlib
import hmac
import json
import os
import subprocess

import pytest

import dkbb
from dkbb import Node, unb64

BRICK = 2 ** 64 - 2
CAP = 2 ** 53 - 1


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def vv_bytes(entries):
    """dk_vv_encode: count, then (node, incarnation, counter, time_ms)."""
    out = varint(len(entries))
    for node, inc, counter, t in sorted(entries):
        out += bytes([len(node)]) + node.encode() + varint(inc) + varint(counter) + varint(t)
    return out


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unkeyed_context_key(cluster="dynkv"):
    base = hashlib.sha256(b"dynkv unkeyed cluster:" + cluster.encode()).digest()
    return hmac.new(base, b"dynkv/context", hashlib.sha256).digest()


def token(entries, key):
    body = b"\x02" + vv_bytes(entries)
    return b64url(body + hmac.new(key, body, hashlib.sha256).digest()[:16])


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def v1_token(entries):
    body = b"\x01" + vv_bytes(entries)
    c = crc32c(body)
    m = (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF
    return b64url(body + m.to_bytes(4, "little"))


def assert_writable(node, key):
    """Blind PUT, PUT with the read's context, DELETE: all succeed."""
    node.put_ok(key, b"blind")
    ctx = node.get(key).json()["context"]
    node.put_ok(key, b"resolved", {"X-Context": ctx})
    j = node.get(key).json()
    assert not j.get("conflict") and unb64(j["value"]) == b"resolved", j
    r = node.delete(key, {"X-Context": j["context"]})
    assert r.status == 200, r
    node.put_ok(key, b"again")


def refused(r, status=400, code="bad_context"):
    assert r.status == status, r
    assert r.json()["error"] == code, r
    return r.json()["message"]


def test_brick_context_refused_or_harmless(node):
    """The issue's attack: a context whose counter is 2^64-2.  Forged
    without the key: the MAC fails, 400.  MACed with the public unkeyed key
    of protected mode (no key file): accepted, but the store advances a
    counter at most 65536 past the stored one per write, so the key never
    nears the maximum and stays writable."""
    node.put_ok("lim-brick", b"v1")
    n0 = node.get("lim-brick").json()["version"]["n1"]
    tok = token([("n1", 1, BRICK, 0)], os.urandom(32))
    for method in ("PUT", "DELETE"):
        r = node.request(method, "/kv/lim-brick", body=b"x" if method == "PUT" else None,
                         headers={"X-Context": tok})
        msg = refused(r)
        assert "not issued by this cluster" in msg, msg
    refused(node.put("lim-brick", b"x", {"If-Match": tok}))
    assert_writable(node, "lim-brick")
    n1 = node.get("lim-brick").json()["version"]["n1"]
    assert n1 - n0 < 10, (n0, n1)
    forged = token([("n1", 1, BRICK, 0), ("n2", 1, BRICK, 0)], unkeyed_context_key())
    for _ in range(3):
        node.put_ok("lim-brick", b"forged", {"X-Context": forged})
    j = node.get("lim-brick").json()
    assert j["version"]["n1"] <= n1 + 3 * (65536 + 1) + 10, j
    assert_writable(node, "lim-brick")
    assert node.get("lim-brick").json()["version"]["n1"] < 2 ** 20


def test_edited_and_old_tokens_refused(node):
    node.put_ok("lim-edit", b"v1")
    ctx = node.get("lim-edit").json()["context"]
    raw = base64.urlsafe_b64decode(ctx + "=" * (-len(ctx) % 4))
    assert raw[0] == 2, raw
    # every single edited byte of the token is refused
    for i in range(len(raw)):
        edited = bytearray(raw)
        edited[i] ^= 0x01
        r = node.put("lim-edit", b"x", {"X-Context": b64url(bytes(edited))})
        assert r.status == 400, (i, r)
    msg = refused(node.put("lim-edit", b"x", {"X-Context": v1_token([("n1", 1, 1, 0)])}))
    assert "older version" in msg and "read the key again" in msg, msg
    # the key's value is untouched by all of that
    assert node.get_value("lim-edit") == b"v1"
    assert_writable(node, "lim-edit")


@pytest.mark.parametrize("counter", [BRICK, 2 ** 63, CAP + 1])
def test_version_map_with_huge_counter_refused(node, counter):
    key = "lim-map-%d" % counter
    node.put_ok(key, b"v1")
    m = json.dumps({"n1": counter})
    refused(node.put(key, b"x", {"X-Context": m}))
    refused(node.put(key, b"x", {"If-Match": m}))
    refused(node.delete(key, {"X-Context": m}))
    assert_writable(node, key)


def test_version_map_is_checked_against_the_stored_object(node):
    node.put_ok("lim-map", b"v1")
    j = node.get("lim-map").json()
    n = j["version"]["n1"]
    # ahead of the stored object (under the cap): 412, nothing changes
    for m in ({"n1": n + 1}, {"n1": CAP}, {"n1": n, "zz": 1}):
        r = node.put("lim-map", b"x", {"X-Context": json.dumps(m)})
        assert r.status == 412, (m, r)
        assert "version map" in r.json()["message"], r
        r = node.put("lim-map", b"x", {"If-Match": json.dumps(m)})
        assert r.status == 412, (m, r)
    j2 = node.get("lim-map").json()
    assert j2["version"] == j["version"] and unb64(j2["value"]) == b"v1", j2
    # the stored version map itself works as a context and as If-Match
    node.put_ok("lim-map", b"v2", {"X-Context": json.dumps(j["version"])})
    j3 = node.get("lim-map").json()
    assert j3["version"]["n1"] == n + 1 and not j3.get("conflict"), j3
    node.put_ok("lim-map", b"v3", {"If-Match": json.dumps(j3["version"])})
    assert node.get_value("lim-map") == b"v3"


def test_counters_print_as_unsigned_json_integers(node):
    """Every counter in a response is a non-negative JSON integer that
    reads back as If-Match (the unsigned printing itself, for counters
    above 2^63, is in tests/unit/test-object.c: no client can make one)."""
    for i in range(3):
        node.put_ok("lim-uns", b"v%d" % i)
    j = node.get("lim-uns").json()
    for c in j["version"].values():
        assert isinstance(c, int) and c >= 1, j
    for s in j["values"]:
        for c in s["version"].values():
            assert isinstance(c, int) and c >= 1, s


@pytest.mark.parametrize("length", [257, 1024, 1025, 4000])
def test_long_scan_prefix_refused(node, length):
    r = node.request("GET", "/kv?prefix=" + "a" * length)
    assert r.status == 400, r
    assert r.json()["error"] == "bad_prefix", r
    # 256 bytes is fine
    r = node.request("GET", "/kv?prefix=" + "a" * 256)
    assert r.status == 200, r


@pytest.mark.parametrize("limit", ["%2B5", "+5", "1%00garbage", "%205", "5%20", "0x5", "", "05x", "-0",
                                   "5.0", "1e2", "99999999999999999999999"])
def test_limit_digits_only(node, limit):
    r = node.request("GET", "/kv?prefix=x&limit=" + limit)
    assert r.status == 400, (limit, r)
    assert r.json()["error"] == "bad_limit" and "limit" in r.json()["message"], r


def test_limit_plain_digits_accepted(node):
    for limit in ("5", "0005", "1000"):
        r = node.request("GET", "/kv?prefix=x&limit=" + limit)
        assert r.status == 200, (limit, r)


@pytest.mark.parametrize("ttl", ["+5", "0x5", "5s", "1e3", "-5", "5 5", "0", "", "3153600001",
                                 "99999999999999999999999"])
def test_ttl_digits_only(node, ttl):
    r = node.put("lim-ttl", b"x", {"X-TTL": ttl})
    assert r.status == 400, (ttl, r)
    assert r.json()["error"] == "bad_ttl" and "X-TTL" in r.json()["message"], r
    assert node.put("lim-ttl", b"x", {"X-TTL": "60"}).status == 200


def test_same_key_file_shares_tokens_other_key_refuses(tmp_path, make_node):
    """Any node holding the cluster's key verifies the tokens another one
    issued; a node with another key refuses them."""
    keys = []
    for name in ("a.key", "b.key"):
        p = tmp_path / name
        out = subprocess.run([dkbb.DYNKVD, "keygen", str(p)], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=10)
        assert out.returncode == 0, out
        keys.append(str(p))
    n1 = make_node(sets=["security.cluster_key_file=" + keys[0]])
    n2 = make_node(sets=["security.cluster_key_file=" + keys[0]])
    n3 = make_node(sets=["security.cluster_key_file=" + keys[1]])
    n1.put_ok("lim-key", b"v1")
    ctx = n1.get("lim-key").json()["context"]
    for n in (n2, n3):
        n.put_ok("lim-key", b"v1")
    n2.put_ok("lim-key", b"v2", {"X-Context": ctx})
    msg = refused(n3.put("lim-key", b"v2", {"X-Context": ctx}))
    assert "not issued by this cluster" in msg, msg
    # the unkeyed key of protected mode does not verify on a keyed node
    refused(n1.put("lim-key", b"x", {"X-Context": token([("n1", 1, 1, 0)], unkeyed_context_key())}))


def test_max_object_size(make_node):
    n = make_node(sets=["storage.max_object_size=64KiB"])
    v = b"x" * (30 * 1024)
    n.put_ok("lim-big", v)
    n.put_ok("lim-big", v)
    r = n.put("lim-big", v)
    assert r.status == 413, r
    j = r.json()
    assert j["error"] == "object_too_large" and "resolve the siblings" in j["message"], j
    g = n.get("lim-big").json()
    assert len(g["values"]) == 2, g
    # a value alone over the limit
    r = n.put("lim-big2", b"y" * (65 * 1024))
    assert r.status == 413 and r.json()["error"] == "object_too_large", r
    # resolving the siblings with the read's context is taken
    n.put_ok("lim-big", v, {"X-Context": g["context"]})
    n.put_ok("lim-big", v)


@pytest.mark.parametrize("size", ["9MiB", "8MiB", "1KiB"])
def test_max_object_size_must_fit_a_frame(tmp_path, size):
    d = str(tmp_path)
    ports = dkbb.free_ports(3)
    args = ["--set", "node.data_dir=" + os.path.join(d, "data"),
            "--set", "node.http_listen=127.0.0.1:%d" % ports[0],
            "--set", "node.rpc_listen=127.0.0.1:%d" % ports[1],
            "--set", "node.gossip_listen=127.0.0.1:%d" % ports[2],
            "--set", "storage.engine=memory", "--set", "storage.plugin_dir=" + dkbb.PLUGIN_PATH,
            "--set", "storage.max_object_size=" + size]
    p = subprocess.run([dkbb.DYNKVD] + args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=10)
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 2 and "max_object_size" in out, out
