"""Range scans: GET /kv?prefix=P&limit=N&cursor=C.

Pages come in key order; following cursors until null yields every live key
with the prefix exactly once; deleted and expired keys never appear; keys
with siblings appear with "values" and "conflict": true.  Each test uses its
own prefix on the module's node."""

import math

import pytest

from dkbb import unb64, wait_until


def fill(node, prefix, n, neighbours=True):
    """Store prefix+NNN -> b"val-NNN" for NNN in 0..n-1 (written in a shuffled
    order) plus keys just outside the prefix on both sides."""
    keys = ["%s%03d" % (prefix, i) for i in range(n)]
    for i in range(n):
        k = keys[(i * 7) % n] if math.gcd(7, n) == 1 else keys[i]
        node.put_ok(k, ("val-" + k[len(prefix):]).encode())
    if neighbours:
        # bytes just before and after the prefix range
        node.put_ok(prefix[:-1] + chr(ord(prefix[-1]) - 1) + "zz", b"below")
        node.put_ok(prefix[:-1] + chr(ord(prefix[-1]) + 1), b"above")
        node.put_ok(prefix[:-1], b"shorter")
    return keys


def check_pairs(pairs, prefix):
    keys = [p["key"] for p in pairs]
    assert keys == sorted(keys, key=lambda k: k.encode()), "scan not in key order: %r" % keys
    assert len(keys) == len(set(keys)), "scan repeats keys: %r" % keys
    for p in pairs:
        assert p["key"].startswith(prefix), "key %r outside prefix %r" % (p["key"], prefix)
        if p.get("conflict"):
            assert isinstance(p.get("values"), list), p
        else:
            assert isinstance(p["version"], dict) and p["version"], p
            unb64(p["value"])
    return keys


@pytest.mark.parametrize("limit", [1, 7, 25, 1000])
def test_scan_pages_cover_prefix_once(node, limit):
    prefix = "sc%d/" % limit
    keys = fill(node, prefix, 25)
    pairs, pages = node.scan_all(prefix, limit)
    got = check_pairs(pairs, prefix)
    assert got == keys
    for p in pairs:
        assert unb64(p["value"]) == ("val-" + p["key"][len(prefix):]).encode()
    assert pages >= -(-25 // limit), "limit %d gave only %d pages" % (limit, pages)


def test_scan_default_limit_is_100(node):
    prefix = "scbig/"
    keys = fill(node, prefix, 150, neighbours=False)
    r = node.scan(prefix)
    assert r.status == 200, r
    j = r.json()
    assert len(j["pairs"]) == 100, "default page size must be 100, got %d" % len(j["pairs"])
    assert isinstance(j["cursor"], str) and j["cursor"]
    pairs, _ = node.scan_all(prefix)
    assert check_pairs(pairs, prefix) == keys


def test_scan_no_match(node):
    r = node.scan("sc-nothing-here/")
    assert r.status == 200, r
    j = r.json()
    assert j["pairs"] == [] and j["cursor"] is None, j


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "abc", ""])
def test_scan_bad_limit(node, limit):
    r = node.request("GET", "/kv?prefix=x&limit=" + limit)
    assert r.status == 400, r
    assert r.json()["error"], r


@pytest.mark.parametrize("cursor", ["%21%21", "YQ%3D%3D", "Y", "YR", "a%2Bb"])
def test_scan_bad_cursor(node, cursor):
    """A cursor that no scan returned (not canonical unpadded base64url, or
    empty after decoding) is refused, not taken as a start key."""
    r = node.request("GET", "/kv?prefix=x&cursor=" + cursor)
    assert r.status == 400, r
    assert r.json()["error"] == "bad_cursor", r


def test_scan_skips_deleted(node):
    prefix = "scdel/"
    keys = fill(node, prefix, 12)
    deleted = keys[0], keys[5], keys[11]
    for k in deleted:
        assert node.delete(k).status == 200
    pairs, _ = node.scan_all(prefix, 4)
    assert check_pairs(pairs, prefix) == [k for k in keys if k not in deleted]
    # a deleted then rewritten key is back
    node.put_ok(keys[5], b"again")
    pairs, _ = node.scan_all(prefix, 4)
    got = check_pairs(pairs, prefix)
    assert keys[5] in got and keys[0] not in got


def test_scan_skips_expired(node):
    prefix = "scttl/"
    node.put_ok(prefix + "a", b"stays")
    node.put_ok(prefix + "b", b"goes", {"X-TTL": "1"})
    node.put_ok(prefix + "c", b"stays")

    def expired():
        pairs, _ = node.scan_all(prefix, 2)
        return [p["key"] for p in pairs] == [prefix + "a", prefix + "c"]
    assert wait_until(expired, 3.0), "expired key still in scan after 3 s"
    assert node.get(prefix + "b").status == 404


def test_scan_shows_siblings(node):
    prefix = "scsib/"
    node.put_ok(prefix + "a", b"plain")
    node.put_ok(prefix + "b", b"one")
    node.put_ok(prefix + "b", b"two")
    node.put_ok(prefix + "c", b"plain")
    pairs, _ = node.scan_all(prefix, 1000)
    assert [p["key"] for p in pairs] == [prefix + "a", prefix + "b", prefix + "c"]
    b = pairs[1]
    assert b.get("conflict") is True, b
    assert sorted(unb64(v["value"]) for v in b["values"]) == [b"one", b"two"]
    assert not pairs[0].get("conflict") and unb64(pairs[0]["value"]) == b"plain"


def test_scan_encoded_prefix(node):
    prefix = "sc enc/\u00e9/"
    node.put_ok(prefix + "1", b"x")
    node.put_ok("sc enc/e/1", b"other")
    pairs, _ = node.scan_all(prefix, 10)
    assert [p["key"] for p in pairs] == [prefix + "1"]


def test_scan_sees_writes_between_pages(node):
    # a key written behind the cursor is not required, one ahead must appear
    prefix = "scmove/"
    for k in ("b", "d"):
        node.put_ok(prefix + k, b"v")
    r = node.scan(prefix, 1)
    j = r.json()
    assert [p["key"] for p in j["pairs"]] == [prefix + "b"] and j["cursor"], j
    node.put_ok(prefix + "c", b"v")
    rest, cursor = [], j["cursor"]
    while cursor is not None:
        j = node.scan(prefix, 1, cursor).json()
        rest += [p["key"] for p in j["pairs"]]
        cursor = j["cursor"]
    assert rest == [prefix + "c", prefix + "d"]
