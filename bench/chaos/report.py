#!/usr/bin/env python3
"""Read the report.json files of chaos rounds (bench/chaos/README.md).

  report.py line ROUND_DIR        one summary line for one round
  report.py tally [-v] ROUND_DIR...  totals over rounds, and the failures at
                                  a healthy coordinator ("suspicious")
                                  grouped by the fault they followed

A suspicious failure is placed in the phase of each fault whose span,
widened by 0.5 s before and 3.5 s after, holds its start: "during" the
fault or "after" its end.  -v also lists each one.
"""

import collections
import glob
import json
import os
import sys


def load(d):
    with open(os.path.join(d, "report.json")) as f:
        return json.load(f)


def secs(hms):
    h, m, s = hms.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def skewed(r):
    return any((r.get("skew") or {}).values())


def line(d):
    """round, resolver (+skew), faults, result and counts in one line."""
    r = load(d)
    c = r.get("counts") or {}
    dc = r.get("delete_counts") or {}
    flags = [x for x, on in (("repair", r.get("needed_repair")), ("ALERTS", r.get("log_alerts")),
                             ("restart-failures", r.get("restart_failures"))) if on]
    return ("%s %s%s faults=%s x%s: violations=%d expected=%d harness=%d | acked %d distinct, %d hot, "
            "%d deletes; failed requests %d (suspicious %d) %s; settled %ss %s"
            % (os.path.basename(d.rstrip("/")), r["resolver"], " skew" if skewed(r) else "", r["faults"],
               r.get("faulters", 1), r["n_violations"], r.get("n_expected", 0), len(r["harness"]),
               c.get("distinct_acked", 0), c.get("hot_acked", 0), dc.get("deletes_acked", 0), c.get("errors", 0),
               r.get("n_suspicious_errors", 0), r.get("error_statuses", {}), r.get("settle_seconds"),
               " ".join(flags))).rstrip()


def phases(r):
    """[(error, [(kind, node, "during"|"after", seconds from its start|end)])]
    for each suspicious failure of round report r."""
    hist = [(secs(a), secs(b) if b else 1e9, n, k) for a, b, n, k in r.get("fault_hist", [])]
    out = []
    for e in r.get("suspicious_errors", []):
        t0 = secs(e["t0"])
        ph = [(k, n, "during" if t0 <= b else "after", t0 - (a if t0 <= b else b))
              for a, b, n, k in hist if a - 0.5 <= t0 <= b + 3.5]
        out.append((e, ph))
    return out


def what(e):
    """The gist of a failure: status and the start of its message."""
    body = e.get("body") or ""
    if "only 0 of" in body or "only 1 of" in body:
        return "%s %s" % (e["status"], body[body.index("only"):body.index("only") + 6])
    return "%s %s" % (e["status"], body[:30])


def tally(dirs, verbose):
    rounds, faults, tot, groups = (collections.Counter() for _ in range(4))
    flagged = []
    for d in dirs:
        r = load(d)
        rounds[r["resolver"] + (" skew" if skewed(r) else "")] += 1
        for _, _, n, k in r.get("fault_hist", []):
            if n == "n1" or k not in ("split", "killall"):   # those are recorded for every node
                faults[k] += 1
        for k, v in (r.get("counts") or {}).items():
            tot[k] += v
        for k, v in (r.get("delete_counts") or {}).items():
            tot["del_" + k] += v
        tot["suspicious"] += r.get("n_suspicious_errors", 0)
        tot["expected_violations"] += r.get("n_expected", 0)
        if r["n_violations"] or r["harness"] or r.get("log_alerts"):
            flagged.append("%s: violations %d, harness %d, log alerts %s"
                           % (d, r["n_violations"], len(r["harness"]), bool(r.get("log_alerts"))))
        for e, ph in phases(r):
            k, _, when, _ = ph[0] if ph else ("none", "", "", 0)
            groups[(k, when, what(e))] += 1
            if verbose:
                print("  %s %s via %s %s: %s" % (os.path.basename(d), e["t0"], e["coord"], what(e),
                                                ["%s %s %s %+.2fs" % p for p in ph]))
    print("rounds %d %s" % (sum(rounds.values()), dict(rounds)))
    print("faults %s" % dict(faults))
    print("totals %s" % dict(tot))
    print("suspicious failures by the fault they followed (first fault; count, fault, phase, status):")
    for (k, when, w), n in sorted(groups.items(), key=lambda x: -x[1]):
        print("  %5d  %-10s %-6s %s" % (n, k, when, w))
    print("rounds with violations, harness errors or log alerts: %d" % len(flagged))
    for f in flagged:
        print("  " + f)
    return 1 if flagged else 0


def main(argv):
    if len(argv) >= 2 and argv[0] == "line":
        print(line(argv[1]))
        return 0
    if argv and argv[0] == "tally":
        verbose = "-v" in argv
        dirs = [d for a in argv[1:] if a != "-v" for d in sorted(glob.glob(a))
                if os.path.isfile(os.path.join(d, "report.json"))]
        if not dirs:
            sys.exit("report.py: no report.json under %s" % " ".join(argv[1:]))
        return tally(dirs, verbose)
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
