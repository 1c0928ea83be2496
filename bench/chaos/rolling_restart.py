#!/usr/bin/env python3
"""Writes through every node while each node in turn stops gracefully and
starts again: what a rolling restart costs the clients.

    bench/chaos/rolling_restart.py -B BUILDDIR [--rounds 2] [--writers 8]

A 4-node cluster (tools/dynkv-cluster, lsm, n_replicas 3) on 127.0.0.1-4;
WRITERS threads PUT new 200-byte keys at X-Consistency: quorum, each
through one node (keep-alive, reconnecting when its node is down), while
every node in turn gets SIGTERM (`dynkv-cluster stop`), is down 0.5 s and
is started again (1.5 s before the next). Prints the answers by status,
the most common 5xx bodies, and a timeline of the stops and of every 5xx.
Connection errors to the node being restarted are expected (a load
balancer would take it out); a 5xx from a running node is the finding.
The cluster and its folder are removed at the end.
"""
import argparse
import collections
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CTL = os.path.join(TOP, "tools", "dynkv-cluster")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-B", dest="build", default=os.environ.get("DYNKV_BUILDDIR"), help="a configured build tree")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--base-port", type=int, default=37000)
    a = ap.parse_args()
    if not a.build or not os.path.exists(os.path.join(a.build, "server", "dynkvd")):
        sys.exit("rolling_restart: -B BUILDDIR (with server/dynkvd) is required")
    env = dict(os.environ, DYNKVD=os.path.join(a.build, "server", "dynkvd"),
               DYNKV_PLUGIN_PATH=os.path.join(a.build, ".libs"))
    cl = os.path.join(tempfile.mkdtemp(prefix="dk-roll-"), "cl")

    def ctl(*args, check=False):
        return subprocess.run(["python3", CTL, *args], env=env, capture_output=True, text=True, check=check)

    ctl("create", cl, "--nodes", "4", "--engine", "lsm", "--set", "cluster.n_replicas=3",
        "--base-port", str(a.base_port), check=True)
    try:
        ctl("start", cl, "--timeout", "60", check=True)
        nodes = json.load(open(os.path.join(cl, "cluster.json")))["nodes"]
        stop = threading.Event()
        lock = threading.Lock()
        counts, bodies, events = collections.Counter(), collections.Counter(), []
        t0 = time.time()

        def note(what):
            with lock:
                events.append((time.time() - t0, what))

        def writer(i):
            n, k, conn = nodes[i % len(nodes)], 0, None
            while not stop.is_set():
                k += 1
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection(n["ip"], n["http"], timeout=10)
                    conn.request("PUT", "/kv/roll%d-%d" % (i, k), body=b"x" * 200,
                                 headers={"X-Consistency": "quorum"})
                    r = conn.getresponse()
                    body = r.read()
                    with lock:
                        counts[r.status] += 1
                        if r.status >= 500:
                            bodies[body[:100]] += 1
                    if r.status >= 500:
                        note("%d through n%d" % (r.status, i % len(nodes) + 1))
                    if (r.getheader("Connection") or "").lower() == "close":
                        conn.close()
                        conn = None
                except (OSError, http.client.HTTPException) as e:
                    with lock:
                        counts["connection: " + type(e).__name__] += 1
                    conn = None
                    time.sleep(0.05)

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(a.writers)]
        for t in threads:
            t.start()
        time.sleep(2)
        for _ in range(a.rounds):
            for n in nodes:
                note("stop " + n["id"])
                ctl("stop", cl, n["id"])
                time.sleep(0.5)
                note("start " + n["id"])
                ctl("start", cl, n["id"], "--timeout", "60")
                time.sleep(1.5)
        stop.set()
        for t in threads:
            t.join()
    finally:
        ctl("destroy", cl)
    print("answers:", dict(counts))
    for body, n in bodies.most_common(5):
        print("  %5d  %s" % (n, body.decode(errors="replace")))
    for t, what in events:
        print("  %8.3f s  %s" % (t, what))
    return 1 if any(isinstance(s, int) and s >= 500 for s in counts) else 0


if __name__ == "__main__":
    sys.exit(main())
