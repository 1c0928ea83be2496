"""Causality and conditional writes, scripted step by step: who writes what,
with which context, and what each read must return.

Default resolver (vclock): blind writes to one key become siblings that a
write carrying the read's context resolves.  lww keeps the last blind write.
If-Match / If-None-Match are compare-and-set.  cluster.max_siblings bounds
the sibling set."""

import json

from dkbb import unb64, wait_until


def sibling_values(j):
    assert j.get("conflict") is True, "expected siblings: %r" % (j,)
    assert isinstance(j.get("values"), list), j
    assert isinstance(j.get("context"), str) and j["context"], j
    for s in j["values"]:
        assert isinstance(s["version"], dict) and s["version"], s
        assert isinstance(s["timestamp"], int), s
    return sorted(unb64(s["value"]) for s in j["values"])


def test_blind_writes_make_siblings(node):
    # client A and client B both write "k" without a context
    node.put_ok("cf-sib", b"from-a")
    node.put_ok("cf-sib", b"from-b")
    # a reader sees both
    r = node.get("cf-sib")
    assert r.status == 200, r
    j = r.json()
    assert j["key"] == "cf-sib"
    assert sibling_values(j) == [b"from-a", b"from-b"]
    assert "value" not in j, "a conflicting GET has values, not value: %r" % j
    # the same through Accept: application/octet-stream: 300 with the JSON
    r = node.get("cf-sib", {"Accept": "application/octet-stream"})
    assert r.status == 300, r
    assert sibling_values(r.json()) == [b"from-a", b"from-b"]
    # a writer that read both resolves them
    node.put_ok("cf-sib", b"merged", {"X-Context": j["context"]})
    r = node.get("cf-sib")
    j2 = r.json()
    assert not j2.get("conflict"), j2
    assert unb64(j2["value"]) == b"merged"


def test_write_with_stale_context_adds_sibling(node):
    # A reads v1; B overwrites with v1's context; A writes with the stale
    # context: A's write is concurrent with B's and both must survive.
    node.put_ok("cf-stale", b"v1")
    ctx1 = node.get("cf-stale").json()["context"]
    node.put_ok("cf-stale", b"from-b", {"X-Context": ctx1})
    node.put_ok("cf-stale", b"from-a", {"X-Context": ctx1})
    j = node.get("cf-stale").json()
    assert sibling_values(j) == [b"from-a", b"from-b"]


def test_partial_context_keeps_unseen_sibling(node):
    # A writes x (ctx_x), B blindly writes y; A overwrites with ctx_x only:
    # y was never seen by A, so it stays as a sibling of A's new value.
    px = node.put_ok("cf-partial", b"x")
    node.put_ok("cf-partial", b"y")
    node.put_ok("cf-partial", b"x2", {"X-Context": px["context"]})
    j = node.get("cf-partial").json()
    assert sibling_values(j) == [b"x2", b"y"]


def test_lww_keeps_last_blind_write(make_node, engine):
    n = make_node(engine, ["conflict.resolver=lww"])
    n.put_ok("cf-lww", b"first")
    n.put_ok("cf-lww", b"second")
    assert n.get_value("cf-lww") == b"second"
    n.put_ok("cf-lww", b"third")
    r = n.get("cf-lww", {"Accept": "application/octet-stream"})
    assert r.status == 200 and r.body == b"third", r


def test_too_many_siblings(make_node, engine):
    n = make_node(engine, ["cluster.max_siblings=3"])
    for v in (b"s1", b"s2", b"s3"):
        n.put_ok("cf-max", v)
    r = n.put("cf-max", b"s4")
    assert r.status == 409, r
    assert r.json()["error"] == "too_many_siblings"
    j = n.get("cf-max").json()
    assert sibling_values(j) == [b"s1", b"s2", b"s3"], "a rejected write must not be stored"
    # resolving with the read's context is still possible
    n.put_ok("cf-max", b"one", {"X-Context": j["context"]})
    assert n.get_value("cf-max") == b"one"


def test_if_match_current_token(node):
    p = node.put_ok("cf-im", b"v1")
    node.put_ok("cf-im", b"v2", {"If-Match": p["context"]})
    assert node.get_value("cf-im") == b"v2"
    # token from a GET works too
    ctx = node.get("cf-im").json()["context"]
    node.put_ok("cf-im", b"v3", {"If-Match": ctx})
    assert node.get_value("cf-im") == b"v3"


def test_if_match_stale_token(node):
    p1 = node.put_ok("cf-im-stale", b"v1")
    node.put_ok("cf-im-stale", b"v2", {"X-Context": p1["context"]})
    r = node.put("cf-im-stale", b"v3", {"If-Match": p1["context"]})
    assert r.status == 412, r
    assert r.json()["error"] == "precondition_failed"
    assert node.get_value("cf-im-stale") == b"v2"


def test_if_match_version_map(node):
    p1 = node.put_ok("cf-im-map", b"v1")
    node.put_ok("cf-im-map", b"v2", {"If-Match": json.dumps(p1["version"])})
    assert node.get_value("cf-im-map") == b"v2"
    r = node.put("cf-im-map", b"v3", {"If-Match": json.dumps(p1["version"])})
    assert r.status == 412 and r.json()["error"] == "precondition_failed", r


def test_if_match_absent_key(node):
    p = node.put_ok("cf-im-other", b"v")
    r = node.put("cf-im-absent", b"x", {"If-Match": p["context"]})
    assert r.status == 412, r
    assert r.json()["error"] == "precondition_failed"
    assert node.get("cf-im-absent").status == 404


def test_if_match_deleted_key(node):
    p = node.put_ok("cf-im-del", b"v")
    assert node.delete("cf-im-del").status == 200
    r = node.put("cf-im-del", b"x", {"If-Match": p["context"]})
    assert r.status == 412 and r.json()["error"] == "precondition_failed", r
    assert node.get("cf-im-del").status == 404


def test_if_none_match(node):
    node.put_ok("cf-inm", b"created", {"If-None-Match": "*"})
    assert node.get_value("cf-inm") == b"created"
    r = node.put("cf-inm", b"again", {"If-None-Match": "*"})
    assert r.status == 412, r
    assert r.json()["error"] == "precondition_failed"
    assert node.get_value("cf-inm") == b"created"
    assert node.delete("cf-inm").status == 200
    node.put_ok("cf-inm", b"recreated", {"If-None-Match": "*"})
    assert node.get_value("cf-inm") == b"recreated"


def test_if_none_match_expired(node):
    node.put_ok("cf-inm-ttl", b"short", {"X-TTL": "1"})
    assert wait_until(lambda: node.get("cf-inm-ttl").status == 404, 3.0)
    node.put_ok("cf-inm-ttl", b"fresh", {"If-None-Match": "*"})
    assert node.get_value("cf-inm-ttl") == b"fresh"
