"""The end of a chaos round: wait for the replicas to converge, then check
every key written against what the clients were told.

Settle: poll each key's local copies on its N=3 replicas (GET
/admin/local/KEY on each node GET /cluster/endpoints/KEY names) until all
three agree (and, for a distinct key, hold what it must); after a third of
--settle seconds, POST /admin/repair on every node once (the report says
so: needed_repair), and give up at --settle.

Check (violations, each a dict with a "kind"):
  not_converged             the three local copies differ after settling
  get_all_failed            GET R=all did not answer 200 or 404
  LOST_or_wrong_distinct    an acknowledged distinct key does not read back
                            with exactly its value
  wrong_unacked_distinct    an unacknowledged one reads back with another value
  RESURRECTED_after_acked_delete, wrong_value_deleted_key,
  LOST_put_never_deleted    the delete thread's keys
  hot                       a hot key's final value set breaks the resolver's
                            promise (hot_problems); the key's write history
                            is written to hot_KEY.json beside the report;
                            "expected": true marks lww's by-design outcome
                            under clock skew
"""

import concurrent.futures
import http.client
import json
import os
import random
import time

import dkcluster as dk
from state import log, ts

NET_ERRORS = (OSError, http.client.HTTPException)
LWW_SKEW_PROBLEM = "lww: final value"


def summarize(v):
    """A short printable form of a value list (or None, or an error text)."""
    if v is None or isinstance(v, str):
        return v
    return [x[:48].decode(errors="replace") + ("...(%d B)" % len(x) if len(x) > 48 else "") for x in v]


class Checker:
    """Reads a key's replicas and quorum state; one instance per round."""

    def __init__(self, c):
        self.c = c
        self.ep = {}
        self.pool = concurrent.futures.ThreadPoolExecutor(8)

    def endpoints(self, key):
        """Ids of the key's replicas (asked of the first node that answers)."""
        if key not in self.ep:
            for n in self.c.nodes:
                try:
                    r = dk.request(n, "GET", "/cluster/endpoints/" + dk.quote_key(key), timeout=5)
                except NET_ERRORS:
                    continue
                if r.status == 200:
                    self.ep[key] = [x["id"] for x in r.json()["replicas"]]
                    break
        return self.ep.get(key)

    def local_copies(self, key):
        """{replica id: sorted values, None (not found) or an error text}."""
        out = {}
        for nid in self.endpoints(key) or []:
            try:
                r = dk.local(self.c.node(nid), key, timeout=10)
            except NET_ERRORS as e:
                out[nid] = "exc %s" % e
                continue
            out[nid] = dk.values(r) if r.status == 200 else None if r.status == 404 else "status %d" % r.status
        return out

    def get_all(self, key):
        """(node asked, values at R=all or None, or an error text)."""
        n = random.choice(self.c.nodes)
        try:
            r = dk.get(n, key, cl="all", timeout=15)
        except NET_ERRORS as e:
            return n.id, "exc %s" % e
        if r.status in (200, 404):
            return n.id, dk.values(r) if r.status == 200 else None
        return n.id, "status %d %s" % (r.status, r.body[:200])

    def pmap(self, fn, items):
        return list(self.pool.map(fn, items))


def hot_problems(writes, final_vals, resolver):
    """Problems with one hot key, given every PUT attempted on it and its
    final value set (list of bytes, or None).

    vclock: every acknowledged value must be in the final set or
    "accounted for": read by a write whose value is (transitively) in the
    final set; and no final value may be one that an accounted-for write
    had read (a superseded value come back as a sibling).
    lww: one final value; a read-modify-write must get a timestamp above
    the one it read; no acknowledged write may carry a newer timestamp
    than the final value's; and a final value from an unacknowledged write
    is flagged when an acknowledged write ended before it began.  With
    clock skew the last two can happen by design (README.md)."""
    probs = []
    final = set(final_vals or [])
    by_val = {w["value"]: w for w in writes}
    for v in final:
        if v not in by_val:
            probs.append("phantom value %r in final state" % v[:60])
    succ = {}
    for w in writes:
        for s in w["seen"]:
            succ.setdefault(s, []).append(w["value"])
    acc = set(final)
    stack = list(acc)
    while stack:
        w = by_val.get(stack.pop())
        for s in (w["seen"] if w else []):
            if s not in acc:
                acc.add(s)
                stack.append(s)
    acked = [w for w in writes if w["status"] == 200]
    if resolver == "vclock":
        for w in acked:
            if w["value"] not in acc:
                probs.append("LOST acked write %r (t=%s coord=%s seen=%d) not in final state nor "
                             "superseded by any applied write"
                             % (w["value"][:40], ts(w["t1"]), w["coord"], len(w["seen"])))
        for v in final:
            for u in succ.get(v, []):
                if u in acc and u in by_val:
                    probs.append("STALE sibling %r in final state although %r (applied) superseded it"
                                 % (v[:40], u[:40]))
                    break
        return probs
    for w in acked:
        for sv in w["seen"]:
            pw = by_val.get(sv)
            if pw and pw.get("ts") is not None and w.get("ts") is not None and w["ts"] <= pw["ts"]:
                probs.append("lww: RMW %r ts=%s not above the value it read %r ts=%s"
                             % (w["value"][:40], w["ts"], sv[:40], pw["ts"]))
    if len(final) > 1:
        probs.append("lww key has %d siblings" % len(final))
    if not final:
        if acked:
            probs.append("LOST: hot key missing entirely, %d acked writes" % len(acked))
        return probs
    f = next(iter(final))
    fw = by_val.get(f)
    fts = fw.get("ts") if fw else None
    for w in acked:
        if w["value"] == f or w.get("ts") is None:
            continue
        if fts is None:
            if fw is not None and w["t1"] < fw["t0"]:
                continue
            probs.append("lww: final value %r is from an unacked write; acked %r ts=%s "
                         "(acked at %s) not winning" % (f[:40], w["value"][:40], w["ts"], ts(w["t1"])))
        elif w["ts"] > fts:
            probs.append("LOST (lww) acked %r ts=%s > final %r ts=%s" % (w["value"][:40], w["ts"], f[:40], fts))
        elif w["ts"] == fts:
            probs.append("TIE (lww) acked %r ts=%s == final ts" % (w["value"][:40], w["ts"]))
    return probs


def settle(c, chk, keys, acked, unacked, settle_s, report):
    """Poll until every key's three copies agree (see the module comment)."""
    def key_ok(k):
        vals = list(chk.local_copies(k).values())
        if len(vals) < 3 or any(x != vals[0] for x in vals) or isinstance(vals[0], str):
            return False
        if k in acked:
            return vals[0] == [acked[k][0]]
        if k in unacked:
            return vals[0] in (None, [unacked[k]])
        return True

    t_start = time.time()
    pending = keys
    repaired = False
    while True:
        pending = [k for k, ok in zip(pending, chk.pmap(key_ok, pending)) if not ok]
        el = time.time() - t_start
        log("settle: %d keys not yet converged after %.1f s" % (len(pending), el))
        if not pending or el > settle_s:
            break
        if not repaired and el > settle_s / 3:
            for n in c.nodes:
                try:
                    log("POST /admin/repair on %s: %d" % (n.id, dk.post(n, "/admin/repair").status))
                except NET_ERRORS as e:
                    log("POST /admin/repair on %s: %s" % (n.id, e))
            repaired = True
            report["needed_repair"] = True
            report["unconverged_before_repair"] = len(pending)
            report["unconverged_before_repair_sample"] = pending[:10]
        time.sleep(2.0)
    report["settle_seconds"] = round(time.time() - t_start, 1)


def _check_deleted(k, dr, allv, nid, copies):
    if dr["delete"] == 200 and allv is not None:
        return dict(kind="RESURRECTED_after_acked_delete", key=k, got=summarize(allv), via=nid,
                    deleted_at=ts(dr.get("t_del", 0)), copies={n: summarize(x) for n, x in copies.items()})
    if allv not in (None, [dr["value"]]):
        return dict(kind="wrong_value_deleted_key", key=k, got=summarize(allv))
    if dr["put"] == 200 and allv is None and dr["delete"] is None and dr.get("exc") is None:
        return dict(kind="LOST_put_never_deleted", key=k, rec=str(dr)[:200])
    return None


def _dump_hot(c, out, k, writes):
    """hot_KEY.json: the key's final state at R=all and its write history."""
    try:
        fj = dk.get(c.nodes[0], k, cl="all", timeout=15).json()
        for x in fj.get("values", []) + ([fj] if "value" in fj else []):
            x["value"] = dk.unb64(x["value"])[:30].decode(errors="replace")
    except (ValueError,) + NET_ERRORS as e:
        fj = str(e)
    hist = [dict(v=w["value"][:24].decode(errors="replace"), status=w["status"], coord=w["coord"],
                 ts=w.get("ts"), version=w.get("version"), t_get=ts(w["t_get"]), t0=ts(w["t0"]),
                 t1=ts(w["t1"]), ctx=w["ctx"], seen=[x[:24].decode(errors="replace") for x in w["seen"]])
            for w in sorted(writes, key=lambda w: w["t0"])]
    with open(os.path.join(out, "hot_%s.json" % k), "w") as f:
        json.dump(dict(final=fj, writes=hist), f, indent=0, default=str)


def settle_and_check(c, out, acked, unacked, hot_writes, deleted, resolver, skewed, settle_s, report):
    """Settle, then append a violation to report["violations"] for every
    key that breaks a promise (see the module comment).  Under lww with
    clock skew (`skewed`), a final value from an unacknowledged write that
    beat acknowledged ones is marked expected: the larger timestamp wins,
    by design (README.md)."""
    chk = Checker(c)
    keys = sorted(set(acked) | set(unacked) | set(hot_writes) | set(deleted))
    log("check: %d distinct acked, %d distinct unacked, %d hot keys, %d delete keys"
        % (len(acked), len(unacked), len(hot_writes), len(deleted)))
    chk.pmap(chk.endpoints, keys)
    noep = [k for k in keys if not chk.endpoints(k)]
    if noep:
        report["harness"].append("no endpoints for %d keys" % len(noep))
    settle(c, chk, keys, acked, unacked, settle_s, report)

    viol = report["violations"]
    for k, copies, (nid, allv) in chk.pmap(lambda k: (k, chk.local_copies(k), chk.get_all(k)), keys):
        cvals = list(copies.values())
        if not (len(cvals) == 3 and all(x == cvals[0] for x in cvals)):
            viol.append(dict(kind="not_converged", key=k, copies={n: summarize(v) for n, v in copies.items()},
                             get_all=summarize(allv)))
        if isinstance(allv, str):
            viol.append(dict(kind="get_all_failed", key=k, node=nid, result=allv))
            continue
        if k in acked:
            v, coord, _, t1 = acked[k]
            if allv != [v]:
                viol.append(dict(kind="LOST_or_wrong_distinct", key=k, acked_at=ts(t1), coord=coord,
                                 expected=summarize([v]), got=summarize(allv), via=nid,
                                 copies={n: summarize(x) for n, x in copies.items()}))
        elif k in unacked and allv not in (None, [unacked[k]]):
            viol.append(dict(kind="wrong_unacked_distinct", key=k, got=summarize(allv)))
        if k in deleted:
            v = _check_deleted(k, deleted[k], allv, nid, copies)
            if v:
                viol.append(v)
        if k in hot_writes:
            probs = hot_problems(hot_writes[k], allv, resolver)
            for p in probs:
                viol.append(dict(kind="hot", key=k, problem=p, final=summarize(allv), via=nid,
                                 expected=skewed and p.startswith(LWW_SKEW_PROBLEM)))
            if probs:
                _dump_hot(c, out, k, hot_writes[k])
