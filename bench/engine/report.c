/*
 * report.c - dk_bench's runner and report: start a benchmark's worker
 * threads, sample the engine folder's disk usage while they run, merge
 * their histograms, and print one human line and one RESULT line per
 * benchmark (plus a TIMELINE line with --timeline-ms), then the summary.
 *
 * Read amplification and compaction work come from the engine's own
 * counters (dk_engine_ops.stats), read before and after the benchmark and
 * matched by the end of their names, so an adapter that exports a counter
 * with the same suffix is measured the same way:
 *   *_gets_total, *_get_tables_total, *_get_blocks_read_total,
 *   *_get_bytes_read_total     lookups, SSTables they consulted (bloom
 *                              checked), blocks and bytes read from files
 *   *_iter_seeks_total, *_iter_blocks_read_total
 *                              iterator seeks and the blocks they and the
 *                              nexts after them read
 *   *_compactions_total, *_write_stall_us_total
 *   *_wal_bytes_total, *_flush_bytes_total, *_compaction_write_bytes_total
 *                              what the engine says it wrote: wamp_engine,
 *                              next to wamp from /proc/self/io; and
 *                              compact_b_op, compactions' bytes per op
 * compact_cpu_us_op is the CPU of the threads named lsm-compact (the LSM
 * engine's compaction thread) per op; 0 for an engine without one.
 * A figure whose counter the engine does not export is printed "na",
 * never guessed. Disk usage is sampled every 100 ms (and at the end):
 * samp_peak is the largest du over the live bytes at the end.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "run.h"

#define SAMPLE_MS 100

/* ---- engine counters ------------------------------------------------------ */

enum {
    ST_GETS,
    ST_GET_TABLES,
    ST_GET_BLOCKS,
    ST_GET_BYTES,
    ST_SEEKS,
    ST_SEEK_BLOCKS,
    ST_COMPACTIONS,
    ST_STALL_US,
    ST_WAL_BYTES,
    ST_FLUSH_BYTES,
    ST_COMPACT_BYTES,
    ST__COUNT
};

static const char *const st_suffix[ST__COUNT] = {
    "_gets_total",       "_get_tables_total",       "_get_blocks_read_total",       "_get_bytes_read_total",
    "_iter_seeks_total", "_iter_blocks_read_total", "_compactions_total",           "_write_stall_us_total",
    "_wal_bytes_total",  "_flush_bytes_total",      "_compaction_write_bytes_total"};

typedef struct stat_snap {
    uint64_t v[ST__COUNT];
    int have[ST__COUNT];
} stat_snap;

static void stat_sink(void *arg, const char *name, uint64_t value)
{
    stat_snap *s = arg;
    size_t n = strlen(name);
    for (int i = 0; i < ST__COUNT; i++) {
        size_t m = strlen(st_suffix[i]);
        /* The suffix must start at the first '_' (the engine's prefix is
         * one word), so that e.g. lsm_l0_compactions_total could not count. */
        if (n > m && strcmp(name + n - m, st_suffix[i]) == 0 && strchr(name, '_') == name + (n - m)) {
            s->v[i] = value;
            s->have[i] = 1;
        }
    }
}

static void stat_read(bench *b, stat_snap *s)
{
    memset(s, 0, sizeof(*s));
    if (DK_HAS(b->engine_ops, stats))
        dk_engine_stats(&b->eng, stat_sink, s);
}

/* "na" unless both snapshots have the counters; den 0 gives "na" too. */
static void stat_ratio(char *buf, size_t n, const stat_snap *a, const stat_snap *z, int num, int den,
                       double scale)
{
    if (!a->have[num] || !z->have[num] || !a->have[den] || !z->have[den] || z->v[den] == a->v[den]) {
        snprintf(buf, n, "na");
        return;
    }
    snprintf(buf, n, "%.3f", (double)(z->v[num] - a->v[num]) * scale / (double)(z->v[den] - a->v[den]));
}

static void stat_delta(char *buf, size_t n, const stat_snap *a, const stat_snap *z, int i, double scale)
{
    if (!a->have[i] || !z->have[i])
        snprintf(buf, n, "na");
    else
        snprintf(buf, n, "%.0f", (double)(z->v[i] - a->v[i]) * scale);
}

/* Bytes the engine says it wrote between a and z (WAL, flushes,
 * compactions); -1 when it does not export all three counters. */
static double stat_written(const stat_snap *a, const stat_snap *z)
{
    double sum = 0;
    for (int i = ST_WAL_BYTES; i <= ST_COMPACT_BYTES; i++) {
        if (!a->have[i] || !z->have[i])
            return -1;
        sum += (double)(z->v[i] - a->v[i]);
    }
    return sum;
}

static void fmt_ratio(char *buf, size_t n, double num, double den)
{
    if (den > 0)
        snprintf(buf, n, "%.3f", num / den);
    else
        snprintf(buf, n, "na");
}

/* ---- disk usage sampler ---------------------------------------------------- */

typedef struct sampler {
    bench *b;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    double peak; /* bytes */
} sampler;

static void *sampler_main(void *arg)
{
    sampler *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        pthread_mutex_unlock(&s->mu);
        uint64_t used = 0, apparent = 0;
        if (dk__du(s->b->engine_dir, &used, &apparent) == 0 && (double)used > s->peak)
            s->peak = (double)used;
        pthread_mutex_lock(&s->mu);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += SAMPLE_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (!s->stop)
            pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void sampler_stop(sampler *s)
{
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
}

/* ---- one benchmark --------------------------------------------------------- */

static int kind_writes(enum dk_bench_kind k)
{
    return k == DK_BK_FILLSEQ || k == DK_BK_FILLRANDOM || k == DK_BK_OVERWRITE || k == DK_BK_DELETERANDOM ||
           k == DK_BK_READWHILEWRITING || k == DK_BK_MIXED || k == DK_BK_TIMESERIES;
}

static void print_timeline(const bench *b, enum dk_bench_kind kind, const worker *w)
{
    if (!w->tl_n)
        return;
    printf("TIMELINE engine=%s compaction=%s bench=%s interval_ms=%" PRIu64 " p99_us=", b->o.engine,
           b->policy_ops ? b->o.compaction : "none", dk__bench_names[kind], b->o.timeline_ms);
    for (size_t i = 0; i < w->tl_n; i++)
        printf("%s%.1f", i ? "," : "", w->tl_p99[i]);
    printf(" ops=");
    for (size_t i = 0; i < w->tl_n; i++)
        printf("%s%" PRIu64, i ? "," : "", w->tl_ops[i]);
    printf("\n");
}

/* Contract in run.h. */
int dk__bench_run(bench *b, enum dk_bench_kind kind)
{
    int rc;
    if ((kind == DK_BK_FILLSEQ || kind == DK_BK_FILLRANDOM || kind == DK_BK_TIMESERIES) &&
        (rc = dk__bench_fresh(b)))
        return rc;
    if ((kind == DK_BK_FILLRANDOM || kind == DK_BK_DELETERANDOM) && (rc = dk__bench_perm_init(b, kind + 1)))
        return rc;
    if (kind == DK_BK_TIMESERIES && !b->expiry && !(b->expiry = calloc(b->o.num, sizeof(*b->expiry))))
        return -ENOMEM;
    atomic_store(&b->ts_next, 0);
    unsigned nt = b->o.threads;
    unsigned total = nt + (kind == DK_BK_READWHILEWRITING);
    uint64_t work = (kind == DK_BK_FILLSEQ || kind == DK_BK_FILLRANDOM || kind == DK_BK_OVERWRITE ||
                     kind == DK_BK_DELETERANDOM || kind == DK_BK_TIMESERIES)
                        ? b->o.num
                    : kind == DK_BK_SEEKRANDOM ? b->o.seeks
                                               : b->o.reads;
    worker *ws = calloc(total, sizeof(*ws));
    if (!ws)
        return -ENOMEM;
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, total + 1);
    atomic_store(&b->stop, 0);
    dk_io_counters io0, io1;
    stat_snap s0, s1;
    stat_read(b, &s0);
    dk__io_read(&io0);
    uint64_t pcpu0 = dk__proc_cpu_ns(), ccpu0 = dk__threads_cpu_ns("lsm-compact");
    sampler smp = {.b = b};
    pthread_mutex_init(&smp.mu, NULL);
    pthread_cond_init(&smp.cv, NULL);
    if ((rc = pthread_create(&smp.thread, NULL, sampler_main, &smp))) {
        fprintf(stderr, "dk_bench: pthread_create: %s\n", strerror(rc));
        exit(1);
    }
    for (unsigned i = 0; i < total; i++) {
        worker *w = &ws[i];
        *w = (worker){.b = b,
                      .kind = kind,
                      .barrier = &barrier,
                      .rng = b->o.seed * 1000003u + i * 7777u + (uint64_t)kind * 131u,
                      .writer = (i == nt),
                      .timeline = i == 0 && b->o.timeline_ms > 0};
        dk__hist_init(&w->hist);
        if (!w->writer) {
            w->first = work * i / nt;
            w->count = work * (i + 1) / nt - w->first;
        }
        if ((rc = pthread_create(&w->thread, NULL, dk__bench_worker_main, w))) {
            fprintf(stderr, "dk_bench: pthread_create: %s\n", strerror(rc));
            exit(1); /* the barrier cannot be released without the thread */
        }
    }
    pthread_barrier_wait(&barrier);
    dk_hist h, wh;
    dk__hist_init(&h);
    dk__hist_init(&wh);
    uint64_t ops = 0, bytes = 0, found = 0, user = 0, wops = 0, fg_cpu = 0;
    int err = 0;
    /* The clock runs from the first reader or writer starting to the last
     * finishing, as the threads saw it: the main thread may be descheduled
     * at the barrier on a busy machine. */
    uint64_t t0 = UINT64_MAX, t1 = 0;
    for (unsigned i = 0; i < nt; i++) {
        pthread_join(ws[i].thread, NULL);
        if (ws[i].t_start < t0)
            t0 = ws[i].t_start;
        if (ws[i].t_end > t1)
            t1 = ws[i].t_end;
    }
    atomic_store(&b->stop, 1);
    if (total > nt)
        pthread_join(ws[nt].thread, NULL);
    for (unsigned i = 0; i < total; i++) {
        worker *w = &ws[i];
        if (w->writer) {
            dk__hist_merge(&wh, &w->hist);
            wops += w->ops;
        } else {
            dk__hist_merge(&h, &w->hist);
            ops += w->ops;
            bytes += w->bytes;
            found += w->found;
            fg_cpu += w->cpu_ns;
        }
        user += w->user_bytes;
        if (w->err && !err)
            err = w->err;
    }
    pthread_barrier_destroy(&barrier);
    if (!err && kind_writes(kind))
        err = dk__bench_flush(b);
    sampler_stop(&smp);
    if (err) {
        fprintf(stderr, "dk_bench: %s failed: %s\n", dk__bench_names[kind], dk_strerror(err));
        for (unsigned i = 0; i < total; i++) {
            free(ws[i].tl_p99);
            free(ws[i].tl_ops);
        }
        free(ws);
        return err;
    }
    dk__io_read(&io1);
    uint64_t pcpu = dk__proc_cpu_ns() - pcpu0, ccpu = dk__threads_cpu_ns("lsm-compact") - ccpu0;
    stat_read(b, &s1);
    b->user_bytes_fresh += user;

    double secs = (double)(t1 - t0) / 1e9;
    double ops_s = secs > 0 ? (double)ops / secs : 0;
    double mb_s = secs > 0 ? (double)bytes / secs / 1048576.0 : 0;
    double wbytes = (double)(io1.write_bytes - io0.write_bytes);
    uint64_t used = 0, apparent = 0;
    dk__du(b->engine_dir, &used, &apparent);
    double peak = smp.peak > (double)used ? smp.peak : (double)used;
    if (peak > b->du_peak_fresh)
        b->du_peak_fresh = peak;
    uint64_t live = dk__bench_live_count(b) * (b->o.key_size + b->o.value_size);
    char wamp[32], samp[32], speak[32], gtab[32], gblk[32], gbyt[32], sblk[32], comp[32], stall[32];
    fmt_ratio(wamp, sizeof(wamp), wbytes, (double)user);
    fmt_ratio(samp, sizeof(samp), (double)used, (double)live);
    fmt_ratio(speak, sizeof(speak), peak, (double)live);
    stat_ratio(gtab, sizeof gtab, &s0, &s1, ST_GET_TABLES, ST_GETS, 1);
    stat_ratio(gblk, sizeof gblk, &s0, &s1, ST_GET_BLOCKS, ST_GETS, 1);
    stat_ratio(gbyt, sizeof gbyt, &s0, &s1, ST_GET_BYTES, ST_GETS, 1);
    stat_ratio(sblk, sizeof sblk, &s0, &s1, ST_SEEK_BLOCKS, ST_SEEKS, 1);
    stat_delta(comp, sizeof comp, &s0, &s1, ST_COMPACTIONS, 1);
    stat_delta(stall, sizeof stall, &s0, &s1, ST_STALL_US, 1e-3);
    char cbop[32];
    stat_delta(cbop, sizeof cbop, &s0, &s1, ST_COMPACT_BYTES, ops ? 1.0 / (double)ops : 0);
    double ewritten = stat_written(&s0, &s1);
    char wamp_e[32];
    if (ewritten < 0)
        snprintf(wamp_e, sizeof wamp_e, "na");
    else
        fmt_ratio(wamp_e, sizeof wamp_e, ewritten, (double)user);
    if (ewritten < 0 || b->engine_written_fresh < 0)
        b->engine_written_fresh = -1;
    else
        b->engine_written_fresh += ewritten;
    double io_rd = ops ? (double)(io1.read_bytes - io0.read_bytes) / (double)ops : 0;
    double rss_mb = (double)dk__peak_rss() / 1048576.0;
    /* CPU per operation: of the whole process (background work and the
     * flush after a write benchmark included) and of the threads that ran
     * the operations; both move far less than ops/s on a shared machine. */
    double cpu_op = ops ? (double)pcpu / (double)ops / 1e3 : 0;
    double fg_cpu_op = ops ? (double)fg_cpu / (double)ops / 1e3 : 0;
    double compact_cpu_op = ops ? (double)ccpu / (double)ops / 1e3 : 0; /* engines/lsm's thread */
    double p50 = dk__hist_quantile(&h, 0.50) / 1e3, p99 = dk__hist_quantile(&h, 0.99) / 1e3,
           p999 = dk__hist_quantile(&h, 0.999) / 1e3;

    printf("%-16s : %10.3f us/op %10.0f ops/s %8.1f MB/s  p50 %.1f  p99 %.1f  p99.9 %.1f us"
           "  (%" PRIu64 " ops in %.2f s, %" PRIu64 " found)\n",
           dk__bench_names[kind], ops ? h.sum_ns / (double)ops / 1e3 : 0, ops_s, mb_s, p50, p99, p999, ops,
           secs, found);
    if (kind == DK_BK_READWHILEWRITING)
        printf("%-16s   writer: %.0f ops/s  p99 %.1f us\n", "", wops / secs,
               dk__hist_quantile(&wh, 0.99) / 1e3);
    printf("%-16s   wamp %s (disk write_bytes %.1f MB / user %.1f MB)  samp %s (du %.1f MB /"
           " live %.1f MB, peak %s)  peak rss %.1f MB\n",
           "", wamp, wbytes / 1048576.0, (double)user / 1048576.0, samp, (double)used / 1048576.0,
           (double)live / 1048576.0, speak, rss_mb);
    printf("%-16s   per get: %s tables, %s blocks, %s bytes read; per seek %s blocks;"
           " compactions %s, write stalls %s ms; wamp by the engine's counters %s\n",
           "", gtab, gblk, gbyt, sblk, comp, stall, wamp_e);
    printf("%-16s   CPU per op: %.2f us (process), %.2f us (the benchmark's threads)\n", "", cpu_op,
           fg_cpu_op);
    b->ops_s[kind] = ops_s;
    printf("RESULT engine=%s bench=%s value=%u key=%u sync=%d threads=%u ops=%" PRIu64
           " secs=%.3f ops_s=%.0f mb_s=%.2f p50_us=%.2f p99_us=%.2f p999_us=%.2f"
           " found=%" PRIu64 " wamp=%s samp=%s rss_mb=%.1f codec=%s",
           b->o.engine, dk__bench_names[kind], b->o.value_size, b->o.key_size, b->o.sync, b->o.threads, ops,
           secs, ops_s, mb_s, p50, p99, p999, found, wamp, samp, rss_mb, b->codec);
    if (kind == DK_BK_READWHILEWRITING)
        printf(" writes_s=%.0f write_p99_us=%.2f", wops / secs, dk__hist_quantile(&wh, 0.99) / 1e3);
    printf(" compaction=%s dist=%s samp_peak=%s du_peak_mb=%.2f get_tables=%s get_blocks=%s"
           " get_bytes=%s seek_blocks=%s io_read_b_op=%.1f compactions=%s stall_ms=%s wamp_engine=%s"
           " cpu_us_op=%.2f fg_cpu_us_op=%.2f compact_cpu_us_op=%.2f compact_b_op=%s\n",
           b->policy_ops ? b->o.compaction : "none", dk__bench_dists[b->o.dist], speak, peak / 1048576.0,
           gtab, gblk, gbyt, sblk, io_rd, comp, stall, wamp_e, cpu_op, fg_cpu_op, compact_cpu_op, cbop);
    print_timeline(b, kind, &ws[0]);
    fflush(stdout);
    for (unsigned i = 0; i < total; i++) {
        free(ws[i].tl_p99);
        free(ws[i].tl_ops);
    }
    free(ws);
    return 0;
}

/* Stats sink: the engine's bytes in tables (a gauge named *_table_bytes,
 * e.g. lsm_table_bytes), which unlike du leaves out logs and leftovers. */
static void table_bytes_sink(void *arg, const char *name, uint64_t value)
{
    size_t n = strlen(name);
    if (n >= 12 && strcmp(name + n - 12, "_table_bytes") == 0)
        *(double *)arg = (double)value / 1048576.0;
}

/* Contract in run.h: after the last benchmark, flush and compact
 * everything, then report the amplification over the database's life
 * since its last fresh start. */
int dk__bench_summary(bench *b)
{
    stat_snap s0, s1;
    stat_read(b, &s0);
    int rc = dk__bench_flush(b);
    if (rc)
        return rc;
    int compacted = 0;
    if (b->o.final_compact && DK_HAS(b->engine_ops, compact_range)) {
        if ((rc = dk_engine_compact_range(&b->eng, (dk_slice){NULL, 0}, (dk_slice){NULL, 0}))) {
            fprintf(stderr, "dk_bench: compact_range: %s\n", dk_strerror(rc));
            return rc;
        }
        compacted = 1;
    }
    dk_io_counters io;
    dk__io_read(&io);
    uint64_t used = 0, apparent = 0;
    dk__du(b->engine_dir, &used, &apparent);
    uint64_t live = dk__bench_live_count(b) * (b->o.key_size + b->o.value_size);
    double wbytes = (double)(io.write_bytes - b->io_fresh.write_bytes);
    stat_read(b, &s1);
    double ew = stat_written(&s0, &s1);
    char wamp_e[32];
    if (ew < 0 || b->engine_written_fresh < 0)
        snprintf(wamp_e, sizeof wamp_e, "na");
    else
        fmt_ratio(wamp_e, sizeof wamp_e, b->engine_written_fresh + ew, (double)b->user_bytes_fresh);
    double peak = b->du_peak_fresh > (double)used ? b->du_peak_fresh : (double)used;
    char wamp[32], samp[32], speak[32];
    fmt_ratio(wamp, sizeof(wamp), wbytes, (double)b->user_bytes_fresh);
    fmt_ratio(samp, sizeof(samp), (double)used, (double)live);
    fmt_ratio(speak, sizeof(speak), peak, (double)live);
    double rss_mb = (double)dk__peak_rss() / 1048576.0;
    printf("%-16s : wamp %s (disk write_bytes %.1f MB / user %.1f MB, since the last fresh"
           " fill, including the final flush%s)  samp %s (du %.1f MB / live %.1f MB, peak %s)"
           "  peak rss %.1f MB\n",
           "summary", wamp, wbytes / 1048576.0, (double)b->user_bytes_fresh / 1048576.0,
           compacted ? " and full compaction" : "", samp, (double)used / 1048576.0, (double)live / 1048576.0,
           speak, rss_mb);
    printf("RESULT engine=%s bench=summary value=%u key=%u sync=%d threads=%u compacted=%d"
           " wamp=%s samp=%s du_mb=%.1f live_mb=%.1f rss_mb=%.1f codec=%s compaction=%s"
           " samp_peak=%s du_peak_mb=%.2f wamp_engine=%s\n",
           b->o.engine, b->o.value_size, b->o.key_size, b->o.sync, b->o.threads, compacted, wamp, samp,
           (double)used / 1048576.0, (double)live / 1048576.0, rss_mb, b->codec,
           b->policy_ops ? b->o.compaction : "none", speak, peak / 1048576.0, wamp_e);
    b->du_mb = (double)used / 1048576.0;
    b->live_mb = (double)live / 1048576.0;
    b->table_mb = -1;
    dk_engine_stats(&b->eng, table_bytes_sink, &b->table_mb);
    return 0;
}
