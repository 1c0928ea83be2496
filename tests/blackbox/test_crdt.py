"""CRDT objects over HTTP (POST/GET /crdt/{key}): the exact response shapes
of every type, operations that merge by construction, and every error
(400 bad JSON / bad operation, 404, 405, 409 type mismatch and /kv on a
CRDT key, 411, 413, 415).  One node per engine for the module; every test
uses its own keys.  The same store holds plain /kv keys beside them."""

import json

import pytest

import dkbb
from dkbb import quote_key, unb64

JSON = {"Content-Type": "application/json"}


def post(node, key, op, headers=None, raw=None):
    h = dict(JSON)
    h.update(headers or {})
    body = raw if raw is not None else json.dumps(op).encode()
    return node.request("POST", "/crdt/" + quote_key(key), body=body, headers=h)


def post_ok(node, key, op, headers=None):
    r = post(node, key, op, headers)
    assert r.status == 200, "POST %r %r: %r" % (key, op, r)
    j = r.json()
    assert j["key"] == key and set(j) == {"key", "type", "value"}, j
    return j


def get(node, key):
    return node.request("GET", "/crdt/" + quote_key(key))


def value(node, key):
    r = get(node, key)
    assert r.status == 200, r
    j = r.json()
    assert j["key"] == key and set(j) == {"key", "type", "value"}, j
    return j["type"], j["value"]


def error(r, status, code=None):
    assert r.status == status, r
    j = r.json()
    assert set(j) == {"error", "message"} and isinstance(j["message"], str) and j["message"], j
    if code:
        assert j["error"] == code, j
    return j


def test_counter(node):
    assert post_ok(node, "c-1", {"type": "counter", "increment": 5}) == \
        {"key": "c-1", "type": "counter", "value": 5}
    assert post_ok(node, "c-1", {"type": "counter", "increment": -7})["value"] == -2
    assert post_ok(node, "c-1", {"type": "counter", "increment": 0})["value"] == -2
    assert value(node, "c-1") == ("counter", -2)
    big = 2 ** 63 - 1
    assert post_ok(node, "c-big", {"type": "counter", "increment": big})["value"] == big
    assert post_ok(node, "c-big", {"type": "counter", "increment": -big})["value"] == 0


def test_set(node):
    j = post_ok(node, "s-1", {"type": "set", "add": ["pear", "apple", "fig", "apple"]})
    assert j == {"key": "s-1", "type": "set", "value": ["apple", "fig", "pear"]}
    assert post_ok(node, "s-1", {"type": "set", "remove": ["fig", "never-added"]})["value"] == ["apple", "pear"]
    assert post_ok(node, "s-1", {"type": "set", "add": ["\u00e9t\u00e9", "", "Zebra"]})["value"] == \
        ["", "Zebra", "apple", "pear", "\u00e9t\u00e9"]
    assert post_ok(node, "s-1", {"type": "set", "remove": ["", "Zebra", "apple", "pear", "\u00e9t\u00e9"]})[
        "value"] == []
    # an emptied set still exists (a CRDT is never deleted)
    assert value(node, "s-1") == ("set", [])
    assert post_ok(node, "s-1", {"type": "set", "add": []})["value"] == []


def test_register(node):
    assert post_ok(node, "r-1", {"type": "register", "assign": "first"}) == \
        {"key": "r-1", "type": "register", "value": "first"}
    assert post_ok(node, "r-1", {"type": "register", "assign": "second"})["value"] == "second"
    assert post_ok(node, "r-1", {"type": "register", "assign": ""})["value"] == ""
    assert value(node, "r-1") == ("register", "")


def test_map(node):
    op = {"type": "map", "update": {
        "visits": {"type": "counter", "increment": 3},
        "tags": {"type": "set", "add": ["b", "a"]},
        "name": {"type": "register", "assign": "ann"}}}
    assert post_ok(node, "m-1", op) == {"key": "m-1", "type": "map", "value": {
        "visits": 3, "tags": ["a", "b"], "name": "ann"}}
    j = post_ok(node, "m-1", {"type": "map", "update": {"visits": {"type": "counter", "increment": 1}},
                              "remove": ["name"]})
    assert j["value"] == {"visits": 4, "tags": ["a", "b"]}
    # a removed field starts again from nothing
    assert post_ok(node, "m-1", {"type": "map", "remove": ["visits"]})["value"] == {"tags": ["a", "b"]}
    assert post_ok(node, "m-1", {"type": "map", "update": {"visits": {"type": "counter", "increment": 1}}})[
        "value"] == {"visits": 1, "tags": ["a", "b"]}
    # a field operation of another type than the field's: 409, nothing changes
    r = post(node, "m-1", {"type": "map", "update": {"visits": {"type": "register", "assign": "x"}}})
    error(r, 409, "type_mismatch")
    assert value(node, "m-1") == ("map", {"visits": 1, "tags": ["a", "b"]})
    assert post_ok(node, "m-empty", {"type": "map", "update": {}})["value"] == {}


def test_operation_of_another_type_409(node):
    post_ok(node, "t-1", {"type": "counter", "increment": 1})
    for op in ({"type": "set", "add": ["x"]}, {"type": "register", "assign": "x"},
               {"type": "map", "remove": ["f"]}):
        j = error(post(node, "t-1", op), 409, "type_mismatch")
        assert op["type"] in j["message"], j
    assert value(node, "t-1") == ("counter", 1)


def test_missing_key_404(node):
    error(get(node, "never-written"), 404, "not_found")


def test_bad_json_400(node):
    for raw in (b"", b"{", b"not json", b'{"type":"counter","increment":1} trailing',
                b'{"type":"counter","type":"set"}'):
        error(post(node, "bad-json", None, raw=raw), 400, "bad_json")
    error(get(node, "bad-json"), 404)


@pytest.mark.parametrize("op, words", [
    ([], "one JSON object"),
    ({"increment": 1}, '"type" is missing'),
    ({"type": "counters", "increment": 1}, 'unknown type "counters"'),
    ({"type": 3}, '"type" must be a string'),
    ({"type": "counter"}, '"increment" must be a whole number'),
    ({"type": "counter", "increment": 1.5}, '"increment" must be a whole number'),
    ({"type": "counter", "increment": "1"}, '"increment" must be a whole number'),
    ({"type": "counter", "increment": 1, "by": 2}, 'unknown field "by" in a counter operation'),
    ({"type": "set"}, 'either "add" or "remove"'),
    ({"type": "set", "add": ["a"], "remove": ["b"]}, 'either "add" or "remove"'),
    ({"type": "set", "add": "a"}, '"add" must be an array of strings'),
    ({"type": "set", "add": [1]}, '"add" must be an array of strings'),
    ({"type": "register", "assign": 5}, '"assign" must be a string'),
    ({"type": "register", "value": "x"}, 'unknown field "value"'),
    ({"type": "map"}, '"update"'),
    ({"type": "map", "update": []}, '"update" must be an object'),
    ({"type": "map", "update": {"f": {"type": "map", "update": {}}}}, "nested maps"),
    ({"type": "map", "update": {"f": {"type": "gauge"}}}, 'unknown type "gauge"'),
    ({"type": "map", "update": {"f": 1}}, "must be a JSON object"),
    ({"type": "map", "update": {"": {"type": "counter", "increment": 1}}}, "1 to 256 bytes"),
    ({"type": "map", "update": {"f" * 257: {"type": "counter", "increment": 1}}}, "1 to 256 bytes"),
    ({"type": "map", "remove": ["f", 2]}, '"remove" must be an array of strings'),
    ({"type": "map", "update": {"f": {"type": "counter", "increment": 1}}, "remove": ["f"]},
     "both updated and removed"),
])
def test_bad_operation_400(node, op, words):
    j = error(post(node, "bad-op", op), 400, "bad_operation")
    assert words in j["message"], j
    error(get(node, "bad-op"), 404)


def test_kv_on_crdt_key_409(node):
    post_ok(node, "kvc-1", {"type": "set", "add": ["a"]})
    for r in (node.get("kvc-1"), node.get("kvc-1", {"Accept": "application/octet-stream"}),
              node.put("kvc-1", b"plain"), node.delete("kvc-1")):
        j = error(r, 409, "crdt_key")
        assert "/crdt/" in j["message"], j
    assert value(node, "kvc-1") == ("set", ["a"])


def test_crdt_on_kv_key_409(node):
    node.put_ok("kvp-1", b"plain value")
    j = error(get(node, "kvp-1"), 409, "type_mismatch")
    assert "/kv/" in j["message"], j
    error(post(node, "kvp-1", {"type": "counter", "increment": 1}), 409, "type_mismatch")
    assert node.get_value("kvp-1") == b"plain value"
    # once deleted, the key may become a CRDT
    assert node.delete("kvp-1").status == 200
    error(get(node, "kvp-1"), 404)
    assert post_ok(node, "kvp-1", {"type": "counter", "increment": 2})["value"] == 2
    assert node.get("kvp-1").status == 409


def test_methods_media_and_sizes(node):
    r = node.request("DELETE", "/crdt/mh-1")
    error(r, 405, "method_not_allowed")
    assert r.header("Allow") == "GET, POST", r
    error(node.request("PUT", "/crdt/mh-1", body=b"{}", headers=JSON), 405)
    error(node.request("POST", "/crdt/mh-1", body=b'{"type":"counter","increment":1}'), 415)
    error(post(node, "mh-1", None, headers={"Content-Type": "text/plain"},
               raw=b'{"type":"counter","increment":1}'), 415)
    # parameters after the media type are fine
    j = post_ok(node, "mh-1", {"type": "counter", "increment": 1},
                {"Content-Type": "application/json; charset=utf-8"})
    assert j["value"] == 1
    # a body over 256 KiB is refused before it is parsed
    big = {"type": "set", "add": ["x" * 1000] * 300}
    error(post(node, "mh-big", big), 413, "operation_too_large")
    # an operation that would push the state past 512 KiB: 413, state unchanged
    chunk = ["%06d" % i + "y" * 994 for i in range(200)]
    for k in range(2):
        post_ok(node, "mh-full", {"type": "set", "add": chunk[k * 100:(k + 1) * 100]})
    for k in range(2, 6):
        elems = ["%d-%06d" % (k, i) + "z" * 990 for i in range(100)]
        r = post(node, "mh-full", {"type": "set", "add": elems})
        if r.status == 413:
            error(r, 413, "crdt_too_large")
            break
        assert r.status == 200, r
    else:
        pytest.fail("the state never reached its limit")
    t, v = value(node, "mh-full")
    assert t == "set" and len(v) == k * 100
    # headers that do not apply to a CRDT
    for h in ({"X-TTL": "10"}, {"X-Context": "abc"}, {"If-Match": "*"}, {"If-None-Match": "*"}):
        error(post(node, "mh-2", {"type": "counter", "increment": 1}, h), 400, "bad_header")
    error(post(node, "mh-2", {"type": "counter", "increment": 1}, {"X-Consistency": "most"}), 400)
    assert post_ok(node, "mh-2", {"type": "counter", "increment": 1}, {"X-Consistency": "all"})["value"] == 1


def test_keys(node):
    for key in ("with space", "sl/ash", "\u00fcnicode", "k" * 256):
        assert post_ok(node, key, {"type": "register", "assign": key})["value"] == key
        assert value(node, key) == ("register", key)
    error(node.request("POST", "/crdt/", body=b"{}", headers=JSON), 400, "bad_key")
    error(post(node, "k" * 257, {"type": "counter", "increment": 1}), 400, "key_too_long")


def test_scan_lists_crdt_values(node):
    post_ok(node, "scan-crdt/a", {"type": "counter", "increment": 4})
    post_ok(node, "scan-crdt/b", {"type": "set", "add": ["x"]})
    node.put_ok("scan-crdt/c", b"plain")
    pairs, _ = node.scan_all("scan-crdt/")
    assert pairs[0] == {"key": "scan-crdt/a", "type": "counter", "value": 4}, pairs
    assert pairs[1] == {"key": "scan-crdt/b", "type": "set", "value": ["x"]}, pairs
    assert pairs[2]["key"] == "scan-crdt/c" and unb64(pairs[2]["value"]) == b"plain", pairs
    # the node's own copy shows the CRDT value too
    r = node.request("GET", "/admin/local/" + quote_key("scan-crdt/b"))
    assert r.status == 200 and r.json() == {"key": "scan-crdt/b", "type": "set", "value": ["x"]}, r


def test_restart_keeps_crdts(make_node, engine):
    if engine == "lsm" and not dkbb.have_engine("lsm"):
        pytest.skip("engine-lsm.so not built")
    n = make_node(engine)
    post_ok(n, "rs-c", {"type": "counter", "increment": 3})
    post_ok(n, "rs-m", {"type": "map", "update": {"s": {"type": "set", "add": ["a"]}}})
    n.restart()
    if engine == "memory":
        error(get(n, "rs-c"), 404)
        return
    assert value(n, "rs-c") == ("counter", 3)
    assert post_ok(n, "rs-c", {"type": "counter", "increment": 1})["value"] == 4
    assert value(n, "rs-m") == ("map", {"s": ["a"]})


def test_default_resolver_crdt_refused(make_node):
    n = make_node(sets=["conflict.resolver=crdt"], start=False)
    n.spawn(dkbb.free_port())
    rc = n.proc.wait(10)
    n.proc = None
    assert rc == 2, n.read_log()
    assert "[conflict] resolver = crdt" in n.read_log() and "vclock or lww" in n.read_log()


def test_lww_node_serves_crdts(make_node):
    n = make_node(sets=["conflict.resolver=lww"])
    assert post_ok(n, "lww-c", {"type": "counter", "increment": 2})["value"] == 2
    assert post_ok(n, "lww-c", {"type": "counter", "increment": 2})["value"] == 4
    n.put_ok("lww-p", b"a")
    n.put_ok("lww-p", b"b")
    assert n.get_value("lww-p") == b"b"
