"""Partition scenario, run by test_partition.py inside private namespaces:

    unshare [-r] -n -p -f --kill-child --mount-proc python3 partition_driver.py WORKDIR

The network namespace has its own loopback (brought up here) and its own
firewall, so DROP rules between 127.0.0.3 and 127.0.0.1/.2 touch nothing
outside.  The PID namespace makes this script its init: when it exits, the
kernel kills every node it started, whatever happened.  The client side of
the test binds 127.0.0.100, an address no rule mentions (the kernel would
otherwise pick 127.0.0.1 as the source of a connection to 127.0.0.3).

Script:
  1. 3 nodes (N=3, memory engine), formed.
  2. Cut n3 off: iptables DROP for every packet between 127.0.0.3 and
     127.0.0.1/127.0.0.2, both directions.
  3. For 3 s (at most 40 rounds): quorum writes "maj-*" through n1/n2, and writes with
     X-Consistency: one "lone-*" through n3; one key "both" written on each
     side (blind, so it must end as two siblings).
  4. Heal: delete the rules.
  5. For 2 s after: quorum writes "heal-*" through n1/n2, every one
     acknowledged (n3 comes back with "down" verdicts on n1 and n2, which
     must not make them take each other for down: gossip's stale verdicts).
  6. Within 30 s every acknowledged write from either side is in the local
     replica of all three nodes (GET /admin/local), "both" with both values.
Exit 0 pass, 1 fail (reason on stdout), 77 skip (firewall unusable here).
The cluster folder stays in WORKDIR/c for the caller to read the logs.
"""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dkcluster  # noqa: E402
from dkcluster import holders, put, states  # noqa: E402

A = ["127.0.0.1", "127.0.0.2"]
LONE = "127.0.0.3"
RULES = [(src, dst) for a in A for (src, dst) in ((a, LONE), (LONE, a))]


def sh(argv):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)


def iptables(op):
    for src, dst in RULES:
        p = sh(["iptables", "-w", op, "INPUT", "-s", src, "-d", dst, "-j", "DROP"])
        if p.returncode != 0:
            return "iptables %s %s->%s: %s" % (op, src, dst, p.stdout.strip())
    return None


def finish(code, msg, **extra):
    print(json.dumps(dict(result=code, message=msg, **extra)))
    sys.stdout.flush()
    return code


def main(work):
    p = sh(["ip", "link", "set", "lo", "up"])
    if p.returncode != 0:
        return finish(77, "cannot bring lo up in the namespace: " + p.stdout.strip())
    err = iptables("-A")
    if err:
        return finish(77, "firewall unusable in the namespace: " + err)
    iptables("-D")
    dkcluster.SOURCE_ADDRESS = "127.0.0.100"
    c = dkcluster.make(work, 3, "127.0.0", "memory")
    n1, n2, n3 = c.nodes
    try:
        c.start(timeout=30)
        err = iptables("-A")
        if err:
            return finish(1, err)
        acked, failed = {}, []
        both = []
        deadline = time.monotonic() + 3.0
        i = 0
        while time.monotonic() < deadline and i < 40:
            for node, key, cl in (((n1, n2)[i % 2], "maj-%03d" % i, "quorum"),
                                  (n3, "lone-%03d" % i, "one")):
                val = "v-" + key
                try:
                    r = put(node, key, val, cl=cl, timeout=10)
                    (acked.__setitem__(key, val) if r.status == 200
                     else failed.append((key, r.status)))
                except OSError as e:
                    failed.append((key, str(e)))
            if i == 1:
                for node, val in ((n1, "both-maj"), (n3, "both-lone")):
                    r = put(node, "both", val, cl="quorum" if node is n1 else "one", timeout=10)
                    if r.status == 200:
                        both.append(val)
            i += 1
            time.sleep(0.05)
        views = {n.id: states(n) for n in c.nodes}
        err = iptables("-D")
        if err:
            return finish(1, err)
        healing = []
        deadline = time.monotonic() + 2.0
        i = 0
        while time.monotonic() < deadline:
            key = "heal-%03d" % i
            try:
                r = put((n1, n2)[i % 2], key, "v-" + key, cl="quorum", timeout=10)
                if r.status == 200:
                    acked[key] = "v-" + key
                else:
                    healing.append((key, r.status, r.body[:120].decode(errors="replace")))
            except OSError as e:
                healing.append((key, str(e)))
            i += 1
            time.sleep(0.02)
        if healing:
            return finish(1, "%d of %d quorum writes through the majority failed in the 2 s after "
                             "the partition healed" % (len(healing), i), failed=healing[:10],
                          views_during=views, views_after={n.id: states(n) for n in c.nodes})
        maj = [k for k in acked if k.startswith("maj-")]
        lone = [k for k in acked if k.startswith("lone-")]
        if len(maj) < 3 or len(lone) < 3:
            return finish(1, "too few writes acknowledged during the partition: %d quorum "
                             "on the majority, %d one on the lone node" % (len(maj), len(lone)),
                          failed=failed[:20], views=views)

        def missing():
            out = {k: holders(c, k, v.encode()) for k, v in acked.items()}
            out.update({"both=" + v: holders(c, "both", v.encode()) for v in both})
            return {k: h for k, h in out.items() if len(h) != 3}

        t0 = time.monotonic()
        left = missing()
        while left and time.monotonic() - t0 < 30.0:
            time.sleep(0.5)
            left = missing()
        if left:
            return finish(1, "30 s after healing %d of %d acknowledged writes are not on all "
                             "three replicas" % (len(left), len(acked) + len(both)),
                          missing=dict(sorted(left.items())[:10]), views_during=views,
                          failed=failed[:20])
        return finish(0, "ok", acked=len(acked), both=both, healed_after=time.monotonic() - t0,
                      failed=len(failed), views_during=views)
    finally:
        c.stop()


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1]))
    except Exception as e:  # the test prints this with the logs
        import traceback
        traceback.print_exc(file=sys.stdout)
        sys.exit(finish(1, "driver crashed: %r" % e))
