/*
 * load_report.c - what dk_load measured: the latency histograms, the
 * counters of outcomes, the per-second INTERVAL lines and the final
 * summary with its `RESULT key=value ...` line for scripts (see
 * bench/load/README.md).
 *
 * Latencies go into a log-linear histogram: 64 sub-buckets per power of
 * two of nanoseconds (within 1.6 %), a fixed array with no allocation on
 * the request path; a quantile reports its bucket's upper bound, capped
 * at the largest value seen. Keeping every sample and sorting at the end
 * would be exact but grows with the run (an open loop at 100k/s for ten
 * minutes is 60M samples).
 */
#include <stdio.h>
#include <string.h>

#include "load.h"

uint64_t ld_errors;

/* ld_total: latency from the intended send time; ld_late and ld_svc
 * split it (after warm-up): how late dk_load wrote the request (every
 * connection busy, or the generator itself descheduled) and the service
 * time from that write to the whole response read. */
static ld_hist ld_total, ld_ivl, ld_late, ld_svc;
static uint64_t ld_last_done;
static uint64_t ld_ok, ld_notfound, ld_badlen, ld_ivl_ok, ld_ivl_err;
static uint64_t ld_status[600];

static int ld_bucket(uint64_t v)
{
    if (v < 2 * LD_SUB)
        return (int)v;
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - LD_SUB_BITS;
    return (shift + 1) * LD_SUB + (int)((v >> shift) - LD_SUB);
}

static uint64_t ld_bucket_top(int i)
{
    if (i < 2 * LD_SUB)
        return (uint64_t)i;
    int shift = i / LD_SUB - 1;
    uint64_t sub = (uint64_t)(i % LD_SUB) + LD_SUB;
    return ((sub + 1) << shift) - 1;
}

static void ld_hist_add(ld_hist *h, uint64_t v)
{
    h->b[ld_bucket(v)]++;
    h->n++;
    if (v > h->max)
        h->max = v;
}

/* The q-quantile in milliseconds (upper bound of its bucket, capped at max). */
static double ld_hist_q(const ld_hist *h, double q)
{
    if (h->n == 0)
        return 0;
    uint64_t want = (uint64_t)(q * (double)h->n);
    if (want >= h->n)
        want = h->n - 1;
    uint64_t seen = 0;
    for (int i = 0; i < LD_NBUCKETS; i++) {
        seen += h->b[i];
        if (seen > want) {
            uint64_t top = ld_bucket_top(i);
            return (double)(top < h->max ? top : h->max) / 1e6;
        }
    }
    return (double)h->max / 1e6;
}

/* The outcome of a request due at intended, sent at sent, that completed
 * at now with HTTP status (RESP mapped to one) and a body of body_len
 * bytes. With --slow, a request slower than that is printed with its
 * CLOCK_MONOTONIC times, to be laid on one time axis with a trace of the
 * server (perf record -k mono): late_ms is how late dk_load itself sent
 * it (the load generator descheduled or behind), lat_ms the latency from
 * the intended send time. */
void ld_record(uint64_t intended, uint64_t sent, int status, size_t body_len, uint64_t now)
{
    int st = status;
    if (st >= 0 && st < 600)
        ld_status[st]++;
    int good = st >= 200 && st < 300;
    int badlen = good && !ld_opt.put && st == 200 && body_len != ld_opt.vsize;
    uint64_t lat = now - intended;
    if (ld_opt.slow_ms > 0 && (double)lat >= ld_opt.slow_ms * 1e6)
        printf("SLOW mono_s=%.6f lat_ms=%.3f late_ms=%.3f status=%d\n", (double)intended / 1e9,
               (double)lat / 1e6, (double)(sent > intended ? sent - intended : 0) / 1e6, st);
    /* INTERVAL lines cover the warm-up too; the totals do not. */
    ld_hist_add(&ld_ivl, lat);
    if ((good && !badlen) || st == 404)
        ld_ivl_ok++;
    else
        ld_ivl_err++;
    if (intended >= ld_warm_end) {
        if (badlen)
            ld_badlen++;
        if (good && !badlen)
            ld_ok++;
        else if (st == 404)
            ld_notfound++;
        else
            ld_errors++;
        ld_hist_add(&ld_total, lat);
        ld_hist_add(&ld_late, sent > intended ? sent - intended : 0);
        ld_hist_add(&ld_svc, now > sent ? now - sent : 0);
        ld_last_done = now;
    }
}

/* A request due at intended failed with its connection. */
void ld_record_fail(uint64_t intended)
{
    ld_ivl_err++;
    if (intended >= ld_warm_end)
        ld_errors++;
}

void ld_print_ivl(uint64_t now)
{
    printf("INTERVAL t=%.1f ok=%llu err=%llu inflight=%llu p50_ms=%.3f p99_ms=%.3f max_ms=%.3f mono_s=%.3f\n",
           (double)(now - ld_t0) / 1e9, (unsigned long long)ld_ivl_ok, (unsigned long long)ld_ivl_err,
           (unsigned long long)ld_inflight, ld_hist_q(&ld_ivl, 0.5), ld_hist_q(&ld_ivl, 0.99),
           (double)ld_ivl.max / 1e6, (double)now / 1e9);
    fflush(stdout);
    memset(&ld_ivl, 0, sizeof ld_ivl);
    ld_ivl_ok = ld_ivl_err = 0;
}

/* Print the human summary and the RESULT line, with unfinished requests
 * (in flight or never sent) counted as given. */
void ld_report(uint64_t unfinished)
{
    uint64_t span = ld_last_done > ld_warm_end ? ld_last_done - ld_warm_end : 1;
    uint64_t rec = ld_ok + ld_notfound + ld_errors;
    double ops_s = (double)(ld_ok + ld_notfound) / ((double)span / 1e9);
    printf("%s %s, %d connections over %d target(s), %s, value %zu B\n", ld_opt.put ? "PUT" : "GET",
           ld_opt.rate > 0 ? "open loop" : "closed loop", ld_opt.conns, ld_opt.ntargets,
           ld_opt.seq == 1   ? "sequential keys"
           : ld_opt.seq == 2 ? "permuted keys"
                             : "random keys",
           ld_opt.vsize);
    if (ld_opt.rate > 0)
        printf("  target %.0f/s, achieved %.0f/s\n", ld_opt.rate, ops_s);
    else
        printf("  throughput %.0f/s\n", ops_s);
    printf("  recorded %llu: ok %llu, notfound %llu, errors %llu (badlen %llu, timeouts %llu, "
           "conn errors %llu), unfinished %llu\n",
           (unsigned long long)rec, (unsigned long long)ld_ok, (unsigned long long)ld_notfound,
           (unsigned long long)ld_errors, (unsigned long long)ld_badlen, (unsigned long long)ld_timeouts,
           (unsigned long long)ld_conn_errors, (unsigned long long)unfinished);
    printf("  latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n", ld_hist_q(&ld_total, 0.5),
           ld_hist_q(&ld_total, 0.9), ld_hist_q(&ld_total, 0.99), ld_hist_q(&ld_total, 0.999),
           (double)ld_total.max / 1e6);
    printf("  of which sent late p50 %.3f  p99 %.3f; service (sent to answered) p50 %.3f  p99 %.3f  "
           "p99.9 %.3f\n",
           ld_hist_q(&ld_late, 0.5), ld_hist_q(&ld_late, 0.99), ld_hist_q(&ld_svc, 0.5),
           ld_hist_q(&ld_svc, 0.99), ld_hist_q(&ld_svc, 0.999));
    printf("  status:");
    for (int i = 0; i < 600; i++)
        if (ld_status[i])
            printf(" %d=%llu", i, (unsigned long long)ld_status[i]);
    printf("\n");
    printf("RESULT method=%s loop=%s rate=%.0f conns=%d targets=%d vsize=%zu ops=%llu "
           "secs=%.3f ops_s=%.0f ok=%llu notfound=%llu errors=%llu unfinished=%llu "
           "p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f tls_handshakes=%llu "
           "late_p99_ms=%.3f svc_p50_ms=%.3f svc_p99_ms=%.3f svc_p999_ms=%.3f\n",
           ld_opt.put ? "put" : "get", ld_opt.rate > 0 ? "open" : "closed", ld_opt.rate, ld_opt.conns,
           ld_opt.ntargets, ld_opt.vsize, (unsigned long long)rec, (double)span / 1e9, ops_s,
           (unsigned long long)ld_ok, (unsigned long long)ld_notfound, (unsigned long long)ld_errors,
           (unsigned long long)unfinished, ld_hist_q(&ld_total, 0.5), ld_hist_q(&ld_total, 0.9),
           ld_hist_q(&ld_total, 0.99), ld_hist_q(&ld_total, 0.999), (double)ld_total.max / 1e6,
           (unsigned long long)ld_handshakes, ld_hist_q(&ld_late, 0.99), ld_hist_q(&ld_svc, 0.5),
           ld_hist_q(&ld_svc, 0.99), ld_hist_q(&ld_svc, 0.999));
}
