# bench/engine/results-table.awk - turn dk_bench RESULT lines (prefixed
# with label=<run>) and run-engines.sh's FAILED lines into the Markdown
# tables of bench/results/engines-*.md. Variables: present, missing (the
# engines run and the engines not built, space-separated).
function field(name,    i, kv) {
    for (i = 2; i <= NF; i++)
        if (index($i, name "=") == 1)
            return substr($i, length(name) + 2)
    return ""
}
function ratio(a, b) {
    if (a == "" || b == "" || a == "na" || b == "na" || b + 0 == 0)
        return "-"
    return sprintf("%.2f", a / b)
}
function num(x) { return (x == "" ? "-" : x) }
/^RESULT / {
    label = field("label"); e = field("engine"); b = field("bench"); v = field("value")
    if (b == "summary" && label ~ /^sync-/)
        next
    if (b == "summary")
        w = "end of run, " v " B"
    else if (field("sync") == 1)
        w = b " " v " B, sync, " field("threads") " thr"
    else
        w = b " " v " B"
    if (!(w in wl)) { order[++nw] = w; wl[w] = label }
    k = e SUBSEP w
    have[k] = 1
    ops[k] = field("ops_s"); mbs[k] = field("mb_s"); p50[k] = field("p50_us")
    p99[k] = field("p99_us"); p999[k] = field("p999_us"); wamp[k] = field("wamp")
    samp[k] = field("samp"); rss[k] = field("rss_mb")
    if (b == "summary") { ops[k] = ""; mbs[k] = ""; p50[k] = ""; p99[k] = ""; p999[k] = "" }
    next
}
/^FAILED / { failed[field("engine") SUBSEP field("label")] = "failed (exit " field("rc") ")"; next }
END {
    ne = split(present, eng, " ")
    print "## All engines"
    print ""
    print "ops/s and MB/s over the timed operations; latencies per operation; wamp = disk"
    print "write_bytes / user bytes of that benchmark (incl. its flush), samp = du / live user"
    print "bytes after it; RSS = peak of the process so far. Last column: ops/s / RocksDB's."
    print "\"end of run\": after a final flush and a full compact_range (LMDB has none), wamp"
    print "over everything the process wrote since its fill, samp after that compaction."
    print ""
    print "| workload | engine | ops/s | MB/s | p50 us | p99 us | p99.9 us | wamp | samp | RSS MB | ops/s / RocksDB |"
    print "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
    for (i = 1; i <= nw; i++) {
        w = order[i]
        for (j = 1; j <= ne; j++) {
            e = eng[j]; k = e SUBSEP w; r = "rocksdb" SUBSEP w
            if (!(k in have)) {
                f = failed[e SUBSEP wl[w]]
                printf "| %s | %s | %s | | | | | | | | |\n", w, e, (f != "" ? f : "no result")
                continue
            }
            printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", w, e, num(ops[k]),
                num(mbs[k]), num(p50[k]), num(p99[k]), num(p999[k]), num(wamp[k]), num(samp[k]),
                num(rss[k]), (ops[k] == "" ? "-" : ratio(ops[k], ops[r]))
        }
    }
    print ""
    print "## Ours (lsm) / RocksDB"
    print ""
    if (index(" " present " ", " lsm ") == 0) {
        print "lsm: not built" (index(" " missing " ", " lsm ") ? " (no engine-lsm.so in the plugin folder)" : " (not in ENGINES)")
        exit
    }
    if (index(" " present " ", " rocksdb ") == 0) {
        print "rocksdb: not built; no ratios."
        exit
    }
    print "ops/s ratio > 1 and p99, wamp, samp, RSS ratios < 1 favour lsm."
    print ""
    print "| workload | lsm ops/s | RocksDB ops/s | ops/s ratio | lsm p99 us | RocksDB p99 us | p99 ratio | wamp ratio | samp ratio | RSS ratio |"
    print "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
    for (i = 1; i <= nw; i++) {
        w = order[i]; k = "lsm" SUBSEP w; r = "rocksdb" SUBSEP w
        if (!(k in have)) {
            f = failed["lsm" SUBSEP wl[w]]
            printf "| %s | %s | %s | | | | | | | |\n", w, (f != "" ? f : "no result"), num(ops[r])
            continue
        }
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", w, num(ops[k]), num(ops[r]),
            ratio(ops[k], ops[r]), num(p99[k]), num(p99[r]), ratio(p99[k], p99[r]),
            ratio(wamp[k], wamp[r]), ratio(samp[k], samp[r]), ratio(rss[k], rss[r])
    }
}
