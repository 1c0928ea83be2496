"""Single-key operations: PUT, GET (JSON and raw), DELETE, keys, TTL,
consistency levels and causal overwrites.  One node per engine for the
module; every test uses its own keys."""

import json
import time

import pytest

from dkbb import MIB, unb64, wait_until


def check_version(v):
    assert isinstance(v, dict) and v, "version must be a non-empty map: %r" % (v,)
    for actor, counter in v.items():
        assert isinstance(actor, str) and actor
        assert isinstance(counter, int) and not isinstance(counter, bool) and counter >= 1, v


def check_put_body(r, key):
    assert r.status == 200, r
    j = r.json()
    assert j["key"] == key
    check_version(j["version"])
    ts = j["timestamp"]
    assert isinstance(ts, int) and not isinstance(ts, bool)
    assert abs(ts - time.time() * 1000) < 60000, "timestamp %r is not now in ms" % ts
    assert isinstance(j["context"], str) and j["context"]
    assert r.header("X-Context") == j["context"], "X-Context header must equal context"
    return j


def test_put_response(node):
    r = node.put("kv-put-1", b"hello")
    check_put_body(r, "kv-put-1")


def test_get_json_roundtrip(node):
    p = check_put_body(node.put("kv-get-1", b"world"), "kv-get-1")
    r = node.get("kv-get-1")
    assert r.status == 200, r
    j = r.json()
    assert j["key"] == "kv-get-1"
    assert unb64(j["value"]) == b"world"
    assert j["version"] == p["version"]
    assert j["timestamp"] == p["timestamp"]
    assert isinstance(j["context"], str) and j["context"]
    assert not j.get("conflict", False)


def test_binary_value_roundtrip(node):
    value = bytes(range(256)) * 8 + b"\x00\r\n\r\n"
    node.put_ok("kv-bin", value)
    assert node.get_value("kv-bin") == value


def test_empty_value(node):
    node.put_ok("kv-empty", b"")
    assert node.get_value("kv-empty") == b""


def test_overwrite_with_get_context(node):
    node.put_ok("kv-ow", b"v1")
    ctx = node.get("kv-ow").json()["context"]
    p = node.put_ok("kv-ow", b"v2", {"X-Context": ctx})
    j = node.get("kv-ow").json()
    assert "conflict" not in j or j["conflict"] is False, j
    assert unb64(j["value"]) == b"v2"
    assert j["version"] == p["version"]


def test_overwrite_with_put_context(node):
    p1 = node.put_ok("kv-ow2", b"a")
    node.put_ok("kv-ow2", b"b", {"X-Context": p1["context"]})
    p3 = node.put_ok("kv-ow2", b"c", {"X-Context": node.get("kv-ow2").header("X-Context")})
    j = node.get("kv-ow2").json()
    assert unb64(j["value"]) == b"c", j
    assert j["version"] == p3["version"]


def test_get_octet_stream(node):
    value = b"\x00\x01raw\xff"
    node.put_ok("kv-raw", value)
    r = node.get("kv-raw", {"Accept": "application/octet-stream"})
    assert r.status == 200, r
    assert r.body == value
    assert (r.header("Content-Type") or "").split(";")[0].strip() == "application/octet-stream"
    assert r.header("X-Context"), "raw GET must carry X-Context"
    # the raw token is a usable causal context
    node.put_ok("kv-raw", b"next", {"X-Context": r.header("X-Context")})
    assert node.get_value("kv-raw") == b"next"


def test_get_missing(node):
    for accept in (None, "application/octet-stream"):
        r = node.get("kv-never-written", {"Accept": accept} if accept else None)
        assert r.status == 404, r
        j = r.json()
        assert j["error"] == "not_found"
        assert isinstance(j["message"], str) and j["message"]


def test_delete(node):
    node.put_ok("kv-del", b"x")
    r = node.delete("kv-del")
    assert r.status == 200, r
    assert r.json()["deleted"] is True, r
    r = node.get("kv-del")
    assert r.status == 404 and r.json()["error"] == "not_found", r
    r = node.get("kv-del", {"Accept": "application/octet-stream"})
    assert r.status == 404, r


def test_delete_is_idempotent(node):
    for _ in range(2):
        r = node.delete("kv-del-missing")
        assert r.status == 200, r
        assert r.json()["deleted"] is True, r
    assert node.get("kv-del-missing").status == 404


def test_put_after_delete(node):
    node.put_ok("kv-resurrect", b"old")
    assert node.delete("kv-resurrect").status == 200
    node.put_ok("kv-resurrect", b"new")
    assert node.get_value("kv-resurrect") == b"new"


def test_put_after_delete_with_context(node):
    node.put_ok("kv-resurrect2", b"old")
    assert node.delete("kv-resurrect2").status == 200
    node.put_ok("kv-resurrect2", b"new")
    ctx = node.get("kv-resurrect2").json()["context"]
    node.put_ok("kv-resurrect2", b"newer", {"X-Context": ctx})
    assert node.get_value("kv-resurrect2") == b"newer"


@pytest.mark.parametrize("key", ["a b", "a/b", "caf\u00e9", "x?y#z&w", "%", "+plus"])
def test_percent_decoded_keys(node, key):
    r = node.put("kvk-" + key, b"v:" + key.encode())
    assert r.status == 200, r
    assert r.json()["key"] == "kvk-" + key
    assert node.get_value("kvk-" + key) == b"v:" + key.encode()


def test_percent_encoded_and_literal_spellings_are_one_key(node):
    node.put_ok("kv-abc", b"1")
    r = node.request("GET", "/kv/kv-%61%62%63")
    assert r.status == 200, r
    assert unb64(r.json()["value"]) == b"1"


def test_key_length_limit_is_after_decoding(node):
    k256 = "K" * 256
    node.put_ok(k256, b"max")
    assert node.get_value(k256) == b"max"
    # 256 bytes spelled as 768 characters of %4B is still a 256-byte key
    r = node.request("GET", "/kv/" + "%4B" * 256)
    assert r.status == 200 and unb64(r.json()["value"]) == b"max", r
    # 86 three-byte characters: 258 bytes after decoding
    r = node.put("\u20ac" * 86, b"x")
    assert r.status == 400 and r.json()["error"] == "key_too_long", r
    r = node.put("K" * 257, b"x")
    assert r.status == 400 and r.json()["error"] == "key_too_long", r
    r = node.get("K" * 257)
    assert r.status == 400 and r.json()["error"] == "key_too_long", r
    node.assert_still_serving(k256, b"max")


def test_ttl_expires(node):
    t0 = time.monotonic()
    node.put_ok("kv-ttl", b"short", {"X-TTL": "1"})
    if time.monotonic() - t0 < 0.5:
        assert node.get_value("kv-ttl") == b"short"
    gone = wait_until(lambda: node.get("kv-ttl").status == 404, 3.0)
    assert gone, "key with X-TTL: 1 still readable after 3 s"
    r = node.get("kv-ttl")
    assert r.status == 404 and r.json()["error"] == "not_found", r
    r = node.get("kv-ttl", {"Accept": "application/octet-stream"})
    assert r.status == 404, r


def test_ttl_long_is_readable(node):
    node.put_ok("kv-ttl-long", b"stays", {"X-TTL": "3600"})
    assert node.get_value("kv-ttl-long") == b"stays"


def test_put_after_expiry(node):
    node.put_ok("kv-ttl-again", b"a", {"X-TTL": "1"})
    assert wait_until(lambda: node.get("kv-ttl-again").status == 404, 3.0)
    node.put_ok("kv-ttl-again", b"b")
    assert node.get_value("kv-ttl-again") == b"b"


@pytest.mark.parametrize("ttl", ["0", "-1", "abc", "1.5", "10s", ""])
def test_bad_ttl(node, ttl):
    key = "kv-badttl-%s" % ttl
    r = node.put(key, b"x", {"X-TTL": ttl})
    assert r.status == 400, r
    assert r.json()["error"] == "bad_ttl"
    assert node.get(key).status == 404, "a rejected PUT must not write"
    node.assert_still_serving()


@pytest.mark.parametrize("level", ["one", "quorum", "all"])
def test_consistency_levels(node, level):
    key = "kv-cons-" + level
    node.put_ok(key, level.encode(), {"X-Consistency": level})
    r = node.get(key, {"X-Consistency": level})
    assert r.status == 200, r
    assert unb64(r.json()["value"]) == level.encode()
    r = node.delete(key, {"X-Consistency": level})
    assert r.status == 200, r


@pytest.mark.parametrize("level", ["two", "any", "quorum1", ""])
def test_bad_consistency(node, level):
    key = "kv-badcons-%s" % level
    r = node.put(key, b"x", {"X-Consistency": level})
    assert r.status == 400 and r.json()["error"] == "bad_consistency", r
    assert node.get(key).status == 404, "a rejected PUT must not write"
    r = node.get(key, {"X-Consistency": level})
    assert r.status == 400 and r.json()["error"] == "bad_consistency", r
    r = node.delete(key, {"X-Consistency": level})
    assert r.status == 400 and r.json()["error"] == "bad_consistency", r
    node.assert_still_serving()


def test_max_value_size_accepted(node):
    value = bytes((i * 7 + 3) & 0xFF for i in range(MIB))
    node.put_ok("kv-1mib", value)
    assert node.get_value("kv-1mib") == value
    r = node.get("kv-1mib", {"Accept": "application/octet-stream"})
    assert r.status == 200 and r.body == value


def test_version_map_is_accepted_as_context(node):
    """DESIGN.md section 7: the JSON version map is accepted as a token."""
    p = node.put_ok("kv-vmap", b"one")
    node.put_ok("kv-vmap", b"two", {"X-Context": json.dumps(p["version"])})
    assert node.get_value("kv-vmap") == b"two"



@pytest.mark.parametrize("header", ["X-Context", "If-Match"])
def test_garbage_token_rejected(node, header):
    """DESIGN.md section 7: a bad header is a 400 and never a partial write."""
    r = node.put("kv-badtoken", b"x", {header: "!!not a token!!"})
    assert r.status == 400, r
    assert r.json()["error"]
    assert node.get("kv-badtoken").status == 404
    node.assert_still_serving()


def test_reused_request_state_shows_nothing_of_the_last(make_node):
    """A loop reuses a finished request's state (its session, its answer
    buffers) for the next: with one loop every request below takes the
    state of the one before, and none shows anything of it."""
    n = make_node("memory", sets=["node.loop_threads=1"])
    a = n.put("kv-pool-a", b"1")
    b = n.put("kv-pool-b", b"2")
    assert a.status == 200 and b.status == 200, (a, b)
    assert a.header("X-Siblings") == "1", a
    both = n.get("kv-pool-b", headers={"X-Session": a.header("X-Session")})
    assert both.status == 200, both                         # a session naming a and b
    assert len(both.header("X-Session")) > len(b.header("X-Session")), both
    for _ in range(3):
        r = n.get("kv-pool-b")                              # no X-Session: names b alone
        assert r.status == 200 and r.header("X-Session") == b.header("X-Session"), r
        assert r.header("X-Siblings") is None, r            # a PUT's header, not a GET's
        assert r.header("X-Context") == b.header("X-Context"), r
        r = n.get("kv-pool-a", headers={"X-Session": "not*a*token"})
        assert r.status == 400 and r.json()["error"] == "bad_session", r
    r = n.get("kv-pool-missing")
    assert r.status == 404, r
    empty = r.header("X-Session")
    assert len(empty) < len(b.header("X-Session")), r     # the empty session again


def test_every_answer_carries_a_session(node):
    # Without X-Session the node keeps no session state until an answer
    # notes a key; every answer still carries a token the node takes back.
    r = node.get("kv-sess-missing")
    assert r.status == 404, r
    empty = r.header("X-Session")
    assert empty, r
    assert node.get("kv-sess-missing-2").header("X-Session") == empty   # nothing noted: the same token
    r = node.request("POST", "/kv/kv-sess-1", body=b"x")                 # an error answer too
    assert r.status == 405 and r.header("X-Session") == empty, r
    node.put_ok("kv-sess-1", b"v1")
    r = node.get("kv-sess-1")
    assert r.status == 200, r
    noted = r.header("X-Session")
    assert noted and noted != empty, r                                   # it names the key now
    r = node.get("kv-sess-1", headers={"X-Session": noted})
    assert r.status == 200 and r.header("X-Session") == noted, r         # nothing new: sent back as is
    r = node.get("kv-sess-missing", headers={"X-Session": empty})
    assert r.status == 404 and r.header("X-Session") == empty, r
    r = node.get("kv-sess-1", headers={"X-Session": empty[:-2] + ("A" if empty[-2] != "A" else "B") + empty[-1]})
    assert r.status == 400 and r.json()["error"] == "bad_session", r
