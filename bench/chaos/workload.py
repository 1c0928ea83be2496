"""The load of a chaos round: three kinds of client thread, each keeping
the record the final check needs.

- DistinctWriter: a fresh key per PUT (W=quorum), 70 % small values
  (8-200 B), 30 % 10-64 KiB; the value is a function of the key, so the
  check knows what each key must hold.  Acknowledged keys must read back
  with their value; unacknowledged ones with it or not at all.
- DeleteWriter: PUT a fresh key, GET it (R=quorum), DELETE it with the
  GET's X-Context (W=quorum).  An acknowledged delete must stay deleted.
- HotWriter: read-modify-write on a few hot keys: GET (R=quorum), then PUT
  with that X-Context (10 % blind, without one: a sibling under vclock).
  Each write remembers the values it had read, which is what the vclock
  and lww checks (check.py) reason about.

Every request that fails is recorded with State.failure().  A thread that
raises keeps the traceback in .error (reported as a harness error).
"""

import hashlib
import http.client
import time
import threading
import traceback

import dkcluster as dk

NET_ERRORS = (OSError, http.client.HTTPException)


def distinct_value(key, size):
    """The value of a distinct key: "v|KEY|" then pseudo-random bytes."""
    head = ("v|%s|" % key).encode()
    out = bytearray(head)
    seed = hashlib.sha256(head).digest()
    while len(out) < size:
        seed = hashlib.sha256(seed).digest()
        out += seed
    return bytes(out[:max(size, len(head))])


class _Load(threading.Thread):
    def __init__(self, st, idx, rng):
        super().__init__(daemon=True)
        self.st, self.idx, self.rng = st, idx, rng
        self.errors = []
        self.error = None

    def run(self):
        try:
            while not self.st.stop.is_set():
                self.step()
                self.st.pause()
        except BaseException:
            self.error = traceback.format_exc()

    def fail(self, op, key, coord, status, t0, resp=None):
        self.errors.append(self.st.failure(op, key, coord.id, status, t0, resp))
        time.sleep(0.05)


class DistinctWriter(_Load):
    def __init__(self, st, idx, rng):
        super().__init__(st, idx, rng)
        self.acked = {}      # key -> (value, coordinator id, t0, t1)
        self.unacked = {}    # key -> value
        self.i = 0

    def step(self):
        k = "d%d-%06d" % (self.idx, self.i)
        self.i += 1
        big = self.rng.random() < 0.3
        v = distinct_value(k, self.rng.randint(10 * 1024, 64 * 1024) if big else self.rng.randint(8, 200))
        coord = self.rng.choice(self.st.c.nodes)
        t0 = time.time()
        try:
            resp = dk.put(coord, k, v, cl="quorum", timeout=10)
            status = resp.status
        except NET_ERRORS as e:
            resp, status = None, "exc:%s" % type(e).__name__
        if status == 200:
            self.acked[k] = (v, coord.id, t0, time.time())
        else:
            self.unacked[k] = v
            self.fail("put", k, coord, status, t0, resp)


class DeleteWriter(_Load):
    def __init__(self, st, idx, rng):
        super().__init__(st, idx, rng)
        self.recs = {}   # key -> dict(value, put, get, delete status, t_del, exc)
        self.missed = []  # quorum GETs that did not see the acknowledged quorum PUT before them
        self.i = 0

    def step(self):
        nodes = self.st.c.nodes
        k = "x%d-%06d" % (self.idx, self.i)
        self.i += 1
        v = distinct_value(k, self.rng.choice([20, 100, 12 * 1024]))
        rec = dict(value=v, put=None, get=None, delete=None)
        self.recs[k] = rec
        try:
            pc, t0 = self.rng.choice(nodes), time.time()
            r = dk.put(pc, k, v, cl="quorum", timeout=10)
            rec["put"] = r.status
            if r.status != 200:
                time.sleep(0.05)
                return
            gc, t1 = self.rng.choice(nodes), time.time()
            g = dk.get(gc, k, cl="quorum", timeout=10)
            rec["get"] = g.status
            if g.status == 404 or (g.status == 200 and v not in dk.values(g)):
                rec["get"] = g.status if g.status == 404 else "stale"
                # Which nodes were faulted from the PUT's start to the
                # GET's end, and who coordinated each.
                self.missed.append(dict(self.st.failure("get", k, gc.id, rec["get"], t0, g),
                                        put_coord=pc.id, get_t0=t1))
                return
            if g.status != 200:
                time.sleep(0.05)
                return
            n = self.rng.choice(nodes)
            t0 = time.time()
            d = dk.request(n, "DELETE", "/kv/" + dk.quote_key(k), None,
                           {"X-Consistency": "quorum", "X-Context": g.json()["context"]}, 10)
            rec["delete"] = d.status
            rec["t_del"] = time.time()
            if d.status != 200:
                self.fail("delete", k, n, d.status, t0, d)
        except NET_ERRORS as e:
            rec["exc"] = type(e).__name__


class HotWriter(_Load):
    def __init__(self, st, idx, rng, hot_keys):
        super().__init__(st, idx, rng)
        self.hot = hot_keys
        self.writes = []     # one dict per attempted PUT
        self.seq = 0

    def step(self):
        nodes = self.st.c.nodes
        k = self.rng.choice(self.hot)
        coord = self.rng.choice(nodes)
        t_get = time.time()
        try:
            g = dk.get(coord, k, cl="quorum", timeout=10)
        except NET_ERRORS as e:
            return self.fail("get", k, coord, "exc:%s" % type(e).__name__, t_get)
        if g.status == 200:
            ctx, seen = g.json()["context"], dk.values(g)
        elif g.status == 404:
            ctx, seen = None, []
        else:
            return self.fail("get", k, coord, g.status, t_get, g)
        self.seq += 1
        v = ("h|%s|t%d|%05d|" % (k, self.idx, self.seq)).encode()
        if self.rng.random() < 0.2:
            v += b"x" * self.rng.randint(10 * 1024, 20 * 1024)
        coord2 = coord if self.rng.random() < 0.5 else self.rng.choice(nodes)
        if ctx and self.rng.random() < 0.1:
            ctx, seen = None, []
        t0 = time.time()
        try:
            p = dk.put(coord2, k, v, cl="quorum", headers={"X-Context": ctx} if ctx else {}, timeout=10)
            status = p.status
        except NET_ERRORS as e:
            p, status = None, "exc:%s" % type(e).__name__
        rec = dict(key=k, value=v, seen=seen, ctx=bool(ctx), status=status, coord=coord2.id,
                   t_get=t_get, t0=t0, t1=time.time(), thread=self.idx, seq=self.seq)
        self.writes.append(rec)
        if status == 200:
            pj = p.json()
            rec["ts"] = pj.get("timestamp")
            rec["version"] = pj.get("version")
        else:
            self.fail("put", k, coord2, status, t0, p)
