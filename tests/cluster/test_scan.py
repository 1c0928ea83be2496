"""Prefix scans see the whole cluster: GET /kv?prefix=P&limit=N&cursor=C
through any node returns every live key of the prefix on any node, in key
order, each once, and a page that could not read some token range says so.

Script A (5 nodes, n_replicas = 2, memory engine):
  1. Writes with X-Consistency: all (both replicas hold every write):
     55-70 keys under each of "sa/", "sb/", "sc/" (about 200), keys just
     outside them ("s", "sa", "sa0", "sb", "sd/x", "sa\\x7f"), keys that are
     then deleted (with their context), one of them written again, keys
     written once with X-TTL: 1 that expire, and "sa/sib" written blind
     through n1 and n2 so it holds two siblings.
  2. Once the TTL keys read 404, every node pages through every prefix
     with limit 7: exactly the live keys, in byte order, once each, the
     right values, "sa/sib" once with "conflict": true and both values;
     pages of at most 7 pairs, every page 200, the last cursor null.
  3. The same through n4 with X-Consistency: all (two readers per range,
     answers reconciled).
  4. n3 gets SIGKILL.  At once (the others still think it is up: its RPCs
     fail and its ranges go to the other replica) and again once gossip
     marks it down, every live node's pages are still exact and 200.
  5. With n3 down, X-Consistency: all cannot read n3's ranges at two
     replicas: 206, "incomplete": true, "unavailable_ranges" naming n3.

Script B (3 nodes, n_replicas = 1): 60 keys, then n3 gets SIGKILL.  Each
page through n1 and n2 answers 206 with "incomplete": true and the token
ranges n3 owns ({"start","end","replicas":["n3"]}); following the cursors
yields exactly the keys n1 and n2 hold (seen through GET /admin/local
before the kill), in order, once; the cursor is null only at the end.  The
CLI's scan prints those keys and exits 6 with "incomplete" on stderr."""

import json
import os
import subprocess

import dkcluster
from dkcluster import delete, get, local, put, quote_key, request, states, unb64, wait_until

IP_PREFIX = "127.0.7"

PREFIXES = {"sa/": 70, "sb/": 55, "sc/": 64}
OUTSIDE = ["s", "sa", "sa0", "sb", "sd/x", "sa\x7f", "r/sa/1"]


def bkey(k):
    return k.encode()


def scan_page(node, prefix, limit, cursor=None, cl=None):
    q = "/kv?prefix=%s&limit=%d" % (quote_key(prefix), limit)
    if cursor is not None:
        q += "&cursor=" + cursor
    return request(node, "GET", q, headers={"X-Consistency": cl} if cl else None)


def scan_pages(node, prefix, limit, cl=None, max_pages=1000):
    """Follow the cursors to the end.  Returns (pairs, [(status, json)...])."""
    pairs, pages, cursor = [], [], None
    while True:
        r = scan_page(node, prefix, limit, cursor, cl)
        assert r.status in (200, 206), "scan %r via %s: %r" % (prefix, node.id, r)
        j = r.json()
        assert isinstance(j.get("pairs"), list), j
        assert len(j["pairs"]) <= limit, "page of %d > limit %d" % (len(j["pairs"]), limit)
        pages.append((r.status, j))
        pairs += j["pairs"]
        cursor = j.get("cursor", "missing")
        assert cursor is None or (isinstance(cursor, str) and cursor), cursor
        if cursor is None:
            return pairs, pages
        assert len(pages) < max_pages, "scan %r via %s does not end" % (prefix, node.id)


def check_exact(node, prefix, expect, limit=7, cl=None, want_status=200):
    """expect: {key: [values]} of the live keys under prefix."""
    pairs, pages = scan_pages(node, prefix, limit, cl)
    keys = [p["key"] for p in pairs]
    assert keys == sorted(expect, key=bkey), \
        "scan %r via %s (cl=%s): got %d keys, want %d; missing %r, extra %r, order/dups %r" % (
            prefix, node.id, cl, len(keys), len(expect), sorted(set(expect) - set(keys))[:5],
            sorted(set(keys) - set(expect))[:5], keys[:20])
    for p in pairs:
        if p.get("conflict"):
            got = sorted(unb64(v["value"]) for v in p["values"])
        else:
            assert isinstance(p.get("version"), dict) and p["version"], p
            got = [unb64(p["value"])]
        assert got == sorted(expect[p["key"]]), "value of %r via %s: %r" % (p["key"], node.id, p)
    bad = [(s, j.get("unavailable_ranges", [])[:2]) for s, j in pages if s != want_status]
    assert not bad, "scan %r via %s: pages not %d: %r" % (prefix, node.id, want_status, bad[:3])
    return pages


def put_ok(node, key, value, headers=None):
    """PUT with W=all; returns the new context."""
    r = put(node, key, value, cl="all", headers=headers)
    assert r.status == 200, "PUT %r via %s: %r" % (key, node.id, r)
    return r.json()["context"]


def test_scan_exact_across_nodes_and_after_a_crash(make_cluster):
    c = make_cluster(5, sets=["cluster.n_replicas=2"])
    nodes = c.nodes
    live = {p: {} for p in PREFIXES}
    dead, ttl = {}, []
    i = 0
    for prefix, count in PREFIXES.items():
        for k in range(count):
            key = "%s%03d" % (prefix, (k * 37) % count)      # written out of order
            val = "v-%s-%d" % (key, k)
            if k % 11 == 6:
                put_ok(nodes[i % 5], key, "short", headers={"X-TTL": "1"})
                ttl.append(key)
            else:
                ctx = put_ok(nodes[i % 5], key, val)
                if k % 9 == 4:
                    dead[key] = ctx
                else:
                    live[prefix][key] = [val.encode()]
            i += 1
    for k, (key, ctx) in enumerate(sorted(dead.items())):
        r = delete(nodes[k % 5], key, cl="all", headers={"X-Context": ctx})
        assert r.status == 200, r
    for k, key in enumerate(OUTSIDE):
        put_ok(nodes[k % 5], key, "outside")
    # Two siblings: blind writes through two coordinators.
    put_ok(nodes[0], "sa/sib", "one")
    put_ok(nodes[1], "sa/sib", "two")
    live["sa/"]["sa/sib"] = [b"one", b"two"]
    # A deleted key written again (with the delete's context) is live.
    again = sorted(dead)[0]
    ctx = get(nodes[2], again).header("X-Context")
    put_ok(nodes[2], again, "again", headers={"X-Context": ctx} if ctx else None)
    live[again[:3]][again] = [b"again"]
    assert sum(len(v) for v in live.values()) + len(dead) + len(ttl) > 190

    assert wait_until(lambda: all(get(nodes[0], k).status == 404 for k in ttl), 5.0, 0.2), \
        "TTL keys still readable after 5 s"

    for node in nodes:
        for prefix in PREFIXES:
            check_exact(node, prefix, live[prefix])
    for prefix in PREFIXES:
        check_exact(nodes[3], prefix, live[prefix], cl="all", limit=11)
    # one page of everything under "s" (outside keys included) through n5
    everything = dict(kv for p in live.values() for kv in p.items())
    everything.update({k: [b"outside"] for k in OUTSIDE if k.startswith("s")})
    check_exact(nodes[4], "s", everything, limit=1000)

    c.kill("n3")
    up = [n for n in nodes if n.id != "n3"]
    for node in up:                 # n3 still looks alive to them
        for prefix in PREFIXES:
            check_exact(node, prefix, live[prefix])
    assert wait_until(lambda: all(states(n).get("n3") not in (None, "normal") for n in up), 30.0, 0.2), \
        "gossip did not mark n3 down: %r" % {n.id: states(n).get("n3") for n in up}
    for node in up:
        for prefix in PREFIXES:
            check_exact(node, prefix, live[prefix])

    # Two readers per range cannot be had where n3 was one of the two.
    pages = check_exact(up[0], "sb/", live["sb/"], cl="all", limit=20, want_status=206)
    for _, j in pages:
        assert j.get("incomplete") is True, j
        gaps = j["unavailable_ranges"]
        assert gaps and all("n3" in g["replicas"] and len(g["replicas"]) == 2 for g in gaps), gaps[:3]

    m = request(up[0], "GET", "/metrics").body.decode()
    for name in ("dynkv_scans_total", "dynkv_scan_rpcs_total", "dynkv_scan_parts_served_total",
                 "dynkv_scan_failovers_total", "dynkv_scan_incomplete_total"):
        assert name + " " in m, "metric %s missing" % name


def test_scan_reports_unreadable_ranges(make_cluster):
    c = make_cluster(3, sets=["cluster.n_replicas=1"])
    n1, n2, n3 = c.nodes
    keys = ["nr/%02d" % k for k in range(60)]
    for k, key in enumerate(keys):
        r = put(c.nodes[k % 3], key, "v" + key)
        assert r.status == 200, r
    survivors = sorted((k for k in keys if local(n1, k).status == 200 or local(n2, k).status == 200), key=bkey)
    assert 0 < len(survivors) < len(keys), "n3 holds none or all of 60 keys: %d" % len(survivors)

    pairs, pages = scan_pages(n2, "nr/", 7)
    assert [p["key"] for p in pairs] == keys and all(s == 200 for s, _ in pages)

    c.kill("n3")
    for node in (n1, n2):
        pairs, pages = scan_pages(node, "nr/", 7)
        assert [p["key"] for p in pairs] == survivors, \
            "via %s: %r" % (node.id, [p["key"] for p in pairs])
        for p in pairs:
            assert unb64(p["value"]) == ("v" + p["key"]).encode(), p
        for status, j in pages:
            assert status == 206, (status, j)
            assert j.get("incomplete") is True, j
            gaps = j["unavailable_ranges"]
            assert gaps and all(g["replicas"] == ["n3"] for g in gaps), gaps[:3]
            for g in gaps:
                assert len(g["start"]) == 32 and len(g["end"]) == 32, g
                int(g["start"], 16), int(g["end"], 16)
        assert pages[-1][1]["cursor"] is None
        assert len(pages) >= len(survivors) // 7, "pages %d for %d keys" % (len(pages), len(survivors))
    # The gaps are n3's share of the ring: about a third of 3 x 256 ranges.
    gaps = pages[0][1]["unavailable_ranges"]
    assert 20 <= len(gaps) <= 256, len(gaps)
    json.dumps(gaps)

    # The CLI prints what it could read and exits 6, saying so.
    cli = os.path.join(dkcluster.BUILDDIR, "client", "dynkv")
    p = subprocess.run([cli, "-n", n1.http, "scan", "--limit", "1000", "nr/"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    lines = p.stdout.decode().splitlines()
    assert p.returncode == 6, (p.returncode, p.stderr)
    assert lines == ["%s\tv%s" % (k, k) for k in survivors], lines[:5]
    assert "incomplete" in p.stderr.decode(), p.stderr
