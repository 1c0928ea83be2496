/*
 * dk_bench.c - a db_bench-style benchmark of any engine plugin.
 *
 * The tool loads an engine plugin by name through the framework's plugin
 * host (the same dlopen path as dynkvd), hands it the compaction policy
 * plugin ("leveled" by default) the way framework/node/node.c does, and runs the
 * listed benchmarks one after the other on one database with identical
 * settings whatever the engine. Each worker thread times every operation
 * into its own log-linear histogram (hist.h); the main thread merges them
 * and prints one human line and one machine-readable RESULT line per
 * benchmark (bench/README.md explains every field).
 *
 * Keys are key_size bytes: 16 decimal digits of the key's index, a marker
 * ('+' for keys that are written, '-' for the keys readmissing asks for,
 * which sort between existing keys so that key-range checks cannot answer
 * for the bloom filter), then letters derived from the index. Values are
 * slices of a pool that is about 50 % compressible (db_bench's default
 * compression ratio). fillseq and fillrandom start from an empty database;
 * the other benchmarks use what earlier ones left. After each writing
 * benchmark the tool calls the engine's flush (not timed), so the reads
 * that follow hit tables and the block cache rather than a memtable, and
 * the write amplification includes the flush.
 *
 * Codecs: --codec takes a comma-separated list (--codec none,zstd,lz4).
 * Each codec first gets a direct measurement through dk_host.codec_open
 * (the value pool cut into 4 KiB blocks, the engines' block size:
 * compressed size, compress and decompress MB/s on one thread), then the
 * whole benchmark list runs on a fresh database with the engine option
 * codec set to it; at the end one table compares the bytes in tables
 * (the engine's *_table_bytes gauge), du and ops/s per codec (RESULT
 * lines with bench=codec).
 *
 * Alternative not taken: db_bench itself (rocksdb-tools) drives only
 * RocksDB, so it cannot hold the settings identical across engines.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dynkv/compaction.h"
#include "dynkv/engine.h"
#include "node/host.h"
#include "base/log.h"
#include "dynkv/codec.h"
#include "plugin/plugin_call.h"
#include "plugin/plugin_host.h"

#include "bench.h"
#include "hist.h"
#include "sysstat.h"

#define BENCH_POOL_SIZE (4u << 20)

/* Everything the benchmarks share; written by the main thread only while
 * no worker runs, except the atomics. */
typedef struct bench {
    dk_bench_opts o;
    char db_dir[1024], engine_dir[1100];
    int db_is_temp;
    dk_plugin_host *plugins;
    dk_config cfg;                 /* plugin options (--codec, --bloom-bits, --set) */
    const dk_engine_ops *engine_ops;
    const dk_compaction_ops *policy_ops;  /* NULL: --compaction none */
    dk_host engine_host, policy_host;
    dk_host_ctx engine_ctx, policy_ctx;
    dk_policy_ref pol;
    dk_engine_ref eng;
    uint8_t *pool;                 /* value source, BENCH_POOL_SIZE + value_size */
    _Atomic uint8_t *live;         /* per key index: 1 while the key exists */
    uint32_t *perm;                /* a random permutation of [0, num) */
    atomic_int stop;               /* readwhilewriting: readers are done */
    dk_io_counters io_fresh;       /* at the last fresh open */
    uint64_t user_bytes_fresh;     /* user bytes written since then */
    const char *codec;             /* the codec of this round (--codec list) */
    double ops_s[DK_BK__COUNT];    /* this round's results, for the codec table */
    double du_mb, live_mb;         /* at this round's summary */
    double table_mb;               /* the engine's "*_table_bytes" gauge there; -1: none */
} bench;

#define BENCH_MAX_CODECS 8

/* One row of the codec comparison. */
typedef struct codec_row {
    const char *name;
    double ratio, c_mb_s, d_mb_s;  /* direct: stored/original, MB/s */
    double ops_s[DK_BK__COUNT], du_mb, live_mb, table_mb;
    int ok;
} codec_row;

typedef struct worker {
    bench *b;
    enum dk_bench_kind kind;
    uint64_t first, count;         /* slice of the work for slice-based kinds */
    uint64_t rng;
    int writer;                    /* readwhilewriting's writer thread */
    pthread_barrier_t *barrier;
    pthread_t thread;
    dk_hist hist;
    uint64_t ops, bytes, found, user_bytes;
    uint64_t t_start, t_end;       /* monotonic ns around this thread's work */
    int err;
} worker;

/* ---- keys, values, randomness ------------------------------------------ */

static uint64_t rng_next(uint64_t *s)
{
    /* splitmix64: a full-period generator with good low bits. */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void key_make(const bench *b, uint64_t idx, int missing, uint8_t *out)
{
    char digits[24];
    snprintf(digits, sizeof(digits), "%016" PRIu64, idx);
    memcpy(out, digits, 16);
    out[16] = missing ? '-' : '+';
    uint64_t s = idx ^ 0x5bd1e995u;
    uint64_t r = 0;
    for (uint32_t i = 17; i < b->o.key_size; i++) {
        if ((i - 17) % 12 == 0)
            r = rng_next(&s);
        out[i] = (uint8_t)('a' + r % 26);
        r /= 26;
    }
}

static dk_slice value_pick(const bench *b, uint64_t *rng)
{
    uint64_t off = rng_next(rng) % BENCH_POOL_SIZE;
    return (dk_slice){b->pool + off, b->o.value_size};
}

/* The pool repeats each 32 random bytes once, so LZ-style codecs halve it. */
static int pool_init(bench *b)
{
    size_t n = BENCH_POOL_SIZE + b->o.value_size + 64;
    if (!(b->pool = malloc(n)))
        return -ENOMEM;
    uint64_t s = b->o.seed * 7919u + 1;
    for (size_t i = 0; i + 64 <= n; i += 64) {
        for (size_t j = 0; j < 32; j += 8) {
            uint64_t r = rng_next(&s);
            memcpy(b->pool + i + j, &r, 8);
        }
        memcpy(b->pool + i + 32, b->pool + i, 32);
    }
    return 0;
}

static int perm_init(bench *b, uint64_t salt)
{
    if (!b->perm && !(b->perm = malloc(b->o.num * sizeof(uint32_t))))
        return -ENOMEM;
    for (uint64_t i = 0; i < b->o.num; i++)
        b->perm[i] = (uint32_t)i;
    uint64_t s = b->o.seed ^ (salt * 0x2545f4914f6cdd1dull);
    for (uint64_t i = b->o.num - 1; i > 0; i--) {
        uint64_t j = rng_next(&s) % (i + 1);
        uint32_t t = b->perm[i];
        b->perm[i] = b->perm[j];
        b->perm[j] = t;
    }
    return 0;
}

static uint64_t live_count(const bench *b)
{
    uint64_t n = 0;
    for (uint64_t i = 0; i < b->o.num; i++)
        n += atomic_load_explicit(&b->live[i], memory_order_relaxed);
    return n;
}

static uint64_t now_ns(void)
{
    return dk_mono_ns();
}

/* ---- engine lifetime ----------------------------------------------------- */

static int bench_open(bench *b)
{
    dk_compaction_conf pc = {.struct_size = sizeof(pc)};
    int rc;
    if (b->policy_ops && (rc = dk_policy_open(b->policy_ops, &b->policy_host, &pc, &b->pol))) {
        fprintf(stderr, "dk_bench: compaction policy '%s' failed to open: %s\n",
                b->o.compaction, b->policy_ctx.err[0] ? b->policy_ctx.err : dk_strerror(rc));
        return rc;
    }
    if (mkdir(b->engine_dir, 0755) != 0 && errno != EEXIST) {
        rc = -errno;
        fprintf(stderr, "dk_bench: %s: %s\n", b->engine_dir, strerror(errno));
        return rc;
    }
    dk_engine_conf ec = {
        .struct_size = sizeof(ec),
        .path = b->engine_dir,
        .sync = b->o.sync,
        .memtable_size = b->o.memtable_size,
        .block_cache_size = b->o.cache_size,
        .compaction = b->policy_ops,
        .compaction_policy = b->pol.obj,
    };
    rc = dk_engine_open(b->engine_ops, &b->engine_host, &ec, &b->eng);
    if (rc)
        fprintf(stderr, "dk_bench: engine '%s' failed to open %s: %s\n", b->o.engine,
                b->engine_dir, b->engine_ctx.err[0] ? b->engine_ctx.err : dk_strerror(rc));
    return rc;
}

static int bench_close(bench *b)
{
    int rc = dk_engine_close(&b->eng);
    if (rc)
        fprintf(stderr, "dk_bench: engine close: %s\n", dk_strerror(rc));
    dk_policy_close(&b->pol);
    return rc;
}

/* Close, wipe the engine directory, reopen empty. */
static int bench_fresh(bench *b)
{
    int rc = bench_close(b);
    if (rc)
        return rc;
    struct stat st;
    if (stat(b->engine_dir, &st) == 0 && (rc = dk__rm_tree_contents(b->engine_dir))) {
        fprintf(stderr, "dk_bench: cannot empty %s: %s\n", b->engine_dir, dk_strerror(rc));
        return rc;
    }
    for (uint64_t i = 0; i < b->o.num; i++)
        atomic_store_explicit(&b->live[i], 0, memory_order_relaxed);
    if ((rc = bench_open(b)))
        return rc;
    dk__io_read(&b->io_fresh);
    b->user_bytes_fresh = 0;
    return 0;
}

static int bench_flush(bench *b)
{
    if (!DK_HAS(b->engine_ops, flush))
        return 0;
    int rc = dk_engine_flush(&b->eng);
    if (rc)
        fprintf(stderr, "dk_bench: flush: %s\n", dk_strerror(rc));
    return rc;
}

/* ---- the operations ------------------------------------------------------ */

static void get_sink(void *arg, dk_slice value)
{
    *(size_t *)arg = value.len;
}

static int op_put(worker *w, uint64_t idx, int sync)
{
    bench *b = w->b;
    uint8_t key[DK_KEY_MAX];
    key_make(b, idx, 0, key);
    dk_batch_op op = {.type = DK_BATCH_PUT, .key = {key, b->o.key_size},
                      .value = value_pick(b, &w->rng)};
    dk_batch batch = {&op, 1};
    int rc = dk_engine_write(&b->eng, &batch, sync);
    if (rc == 0) {
        atomic_store_explicit(&b->live[idx], 1, memory_order_relaxed);
        w->bytes += b->o.key_size + b->o.value_size;
        w->user_bytes += b->o.key_size + b->o.value_size;
    }
    return rc;
}

static int op_delete(worker *w, uint64_t idx)
{
    bench *b = w->b;
    uint8_t key[DK_KEY_MAX];
    key_make(b, idx, 0, key);
    dk_batch_op op = {.type = DK_BATCH_DELETE, .key = {key, b->o.key_size}};
    dk_batch batch = {&op, 1};
    int rc = dk_engine_write(&b->eng, &batch, b->o.sync);
    if (rc == 0) {
        atomic_store_explicit(&b->live[idx], 0, memory_order_relaxed);
        w->bytes += b->o.key_size;
        w->user_bytes += b->o.key_size;
    }
    return rc;
}

static int op_get(worker *w, uint64_t idx, int missing)
{
    bench *b = w->b;
    uint8_t key[DK_KEY_MAX];
    key_make(b, idx, missing, key);
    size_t len = 0;
    int rc = dk_engine_get(&b->eng, (dk_slice){key, b->o.key_size}, get_sink, &len);
    if (rc == 0) {
        w->found++;
        w->bytes += b->o.key_size + len;
    }
    return rc == DK_ENOTFOUND ? 0 : rc;
}

static int op_seek(worker *w, dk_engine_iter *it, uint64_t idx)
{
    bench *b = w->b;
    uint8_t key[DK_KEY_MAX];
    key_make(b, idx, 0, key);
    int rc = dk_engine_iter_seek(&b->eng, it, (dk_slice){key, b->o.key_size});
    if (rc)
        return rc == DK_EOF ? 0 : rc;
    for (uint32_t i = 0; i < b->o.seek_nexts; i++) {
        dk_slice k, v;
        rc = dk_engine_iter_next(&b->eng, it, &k, &v);
        if (rc == DK_EOF)
            break;
        if (rc)
            return rc;
        if (i == 0 && k.len == b->o.key_size && memcmp(k.ptr, key, k.len) == 0)
            w->found++;
        w->bytes += k.len + v.len;
    }
    return 0;
}

/* The writer of readwhilewriting: overwrites random keys until the readers
 * are done, paced to o.write_rate ops/s when that is set. */
static int writer_loop(worker *w)
{
    bench *b = w->b;
    uint64_t start = now_ns();
    while (!atomic_load(&b->stop)) {
        if (b->o.write_rate) {
            uint64_t due = start + w->ops * 1000000000ull / b->o.write_rate;
            uint64_t t = now_ns();
            if (t < due) {
                struct timespec ts = {.tv_sec = (time_t)((due - t) / 1000000000ull),
                                      .tv_nsec = (long)((due - t) % 1000000000ull)};
                nanosleep(&ts, NULL);
                continue;
            }
        }
        uint64_t t0 = now_ns();
        int rc = op_put(w, rng_next(&w->rng) % b->o.num, b->o.sync);
        if (rc)
            return rc;
        dk__hist_add(&w->hist, now_ns() - t0);
        w->ops++;
    }
    return 0;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    bench *b = w->b;
    dk_engine_iter *it = NULL;
    int rc = 0;
    if (w->kind == DK_BK_SEEKRANDOM) {
        dk_iter_opts io = {{NULL, 0}, {NULL, 0}};
        rc = dk_engine_iter_open(&b->eng, &io, &it);
    }
    pthread_barrier_wait(w->barrier);
    w->t_start = now_ns();
    if (rc)
        goto out;
    if (w->writer) {
        rc = writer_loop(w);
        goto out;
    }
    for (uint64_t i = 0; i < w->count; i++) {
        uint64_t t0 = now_ns();
        switch (w->kind) {
        case DK_BK_FILLSEQ: rc = op_put(w, w->first + i, b->o.sync); break;
        case DK_BK_FILLRANDOM: rc = op_put(w, b->perm[w->first + i], b->o.sync); break;
        case DK_BK_OVERWRITE: rc = op_put(w, rng_next(&w->rng) % b->o.num, b->o.sync); break;
        case DK_BK_DELETERANDOM: rc = op_delete(w, b->perm[w->first + i]); break;
        case DK_BK_READRANDOM:
        case DK_BK_READWHILEWRITING: rc = op_get(w, rng_next(&w->rng) % b->o.num, 0); break;
        case DK_BK_READMISSING: rc = op_get(w, rng_next(&w->rng) % b->o.num, 1); break;
        case DK_BK_SEEKRANDOM: rc = op_seek(w, it, rng_next(&w->rng) % b->o.num); break;
        case DK_BK__COUNT: rc = -EINVAL; break;
        }
        if (rc)
            break;
        dk__hist_add(&w->hist, now_ns() - t0);
        w->ops++;
    }
out:
    w->t_end = now_ns();
    if (it)
        dk_engine_iter_close(&b->eng, it);
    w->err = rc;
    return NULL;
}

/* ---- running and reporting ----------------------------------------------- */

static int kind_writes(enum dk_bench_kind k)
{
    return k == DK_BK_FILLSEQ || k == DK_BK_FILLRANDOM || k == DK_BK_OVERWRITE ||
           k == DK_BK_DELETERANDOM || k == DK_BK_READWHILEWRITING;
}

static void fmt_ratio(char *buf, size_t n, double num, double den)
{
    if (den > 0)
        snprintf(buf, n, "%.3f", num / den);
    else
        snprintf(buf, n, "na");
}

static int bench_run(bench *b, enum dk_bench_kind kind)
{
    int rc;
    if ((kind == DK_BK_FILLSEQ || kind == DK_BK_FILLRANDOM) && (rc = bench_fresh(b)))
        return rc;
    if ((kind == DK_BK_FILLRANDOM || kind == DK_BK_DELETERANDOM) && (rc = perm_init(b, kind + 1)))
        return rc;
    unsigned nt = b->o.threads;
    unsigned total = nt + (kind == DK_BK_READWHILEWRITING);
    uint64_t work = (kind == DK_BK_FILLSEQ || kind == DK_BK_FILLRANDOM || kind == DK_BK_OVERWRITE ||
                     kind == DK_BK_DELETERANDOM) ? b->o.num
                  : kind == DK_BK_SEEKRANDOM ? b->o.seeks : b->o.reads;
    worker *ws = calloc(total, sizeof(*ws));
    if (!ws)
        return -ENOMEM;
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, total + 1);
    atomic_store(&b->stop, 0);
    dk_io_counters io0, io1;
    dk__io_read(&io0);
    for (unsigned i = 0; i < total; i++) {
        worker *w = &ws[i];
        *w = (worker){.b = b, .kind = kind, .barrier = &barrier,
                      .rng = b->o.seed * 1000003u + i * 7777u + (uint64_t)kind * 131u,
                      .writer = (i == nt)};
        dk__hist_init(&w->hist);
        if (!w->writer) {
            w->first = work * i / nt;
            w->count = work * (i + 1) / nt - w->first;
        }
        if ((rc = pthread_create(&w->thread, NULL, worker_main, w))) {
            fprintf(stderr, "dk_bench: pthread_create: %s\n", strerror(rc));
            exit(1); /* the barrier cannot be released without the thread */
        }
    }
    pthread_barrier_wait(&barrier);
    dk_hist h, wh;
    dk__hist_init(&h);
    dk__hist_init(&wh);
    uint64_t ops = 0, bytes = 0, found = 0, user = 0, wops = 0;
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
        }
        user += w->user_bytes;
        if (w->err && !err)
            err = w->err;
    }
    pthread_barrier_destroy(&barrier);
    free(ws);
    if (err) {
        fprintf(stderr, "dk_bench: %s failed: %s\n", dk__bench_names[kind], dk_strerror(err));
        return err;
    }
    if (kind_writes(kind) && (rc = bench_flush(b)))
        return rc;
    dk__io_read(&io1);
    b->user_bytes_fresh += user;

    double secs = (double)(t1 - t0) / 1e9;
    double ops_s = secs > 0 ? (double)ops / secs : 0;
    double mb_s = secs > 0 ? (double)bytes / secs / 1048576.0 : 0;
    double wbytes = (double)(io1.write_bytes - io0.write_bytes);
    uint64_t used = 0, apparent = 0;
    dk__du(b->engine_dir, &used, &apparent);
    uint64_t live = live_count(b) * (b->o.key_size + b->o.value_size);
    char wamp[32], samp[32];
    fmt_ratio(wamp, sizeof(wamp), wbytes, (double)user);
    fmt_ratio(samp, sizeof(samp), (double)used, (double)live);
    double rss_mb = (double)dk__peak_rss() / 1048576.0;
    double p50 = dk__hist_quantile(&h, 0.50) / 1e3, p99 = dk__hist_quantile(&h, 0.99) / 1e3,
           p999 = dk__hist_quantile(&h, 0.999) / 1e3;

    printf("%-16s : %10.3f us/op %10.0f ops/s %8.1f MB/s  p50 %.1f  p99 %.1f  p99.9 %.1f us"
           "  (%" PRIu64 " ops in %.2f s, %" PRIu64 " found)\n",
           dk__bench_names[kind], ops ? h.sum_ns / (double)ops / 1e3 : 0, ops_s, mb_s, p50, p99,
           p999, ops, secs, found);
    if (kind == DK_BK_READWHILEWRITING)
        printf("%-16s   writer: %.0f ops/s  p99 %.1f us\n", "", wops / secs,
               dk__hist_quantile(&wh, 0.99) / 1e3);
    printf("%-16s   wamp %s (disk write_bytes %.1f MB / user %.1f MB)  samp %s (du %.1f MB /"
           " live %.1f MB)  peak rss %.1f MB\n",
           "", wamp, wbytes / 1048576.0, (double)user / 1048576.0, samp, (double)used / 1048576.0,
           (double)live / 1048576.0, rss_mb);
    b->ops_s[kind] = ops_s;
    printf("RESULT engine=%s bench=%s value=%u key=%u sync=%d threads=%u ops=%" PRIu64
           " secs=%.3f ops_s=%.0f mb_s=%.2f p50_us=%.2f p99_us=%.2f p999_us=%.2f"
           " found=%" PRIu64 " wamp=%s samp=%s rss_mb=%.1f codec=%s",
           b->o.engine, dk__bench_names[kind], b->o.value_size, b->o.key_size, b->o.sync,
           b->o.threads, ops, secs, ops_s, mb_s, p50, p99, p999, found, wamp, samp, rss_mb, b->codec);
    if (kind == DK_BK_READWHILEWRITING)
        printf(" writes_s=%.0f write_p99_us=%.2f", wops / secs, dk__hist_quantile(&wh, 0.99) / 1e3);
    printf("\n");
    fflush(stdout);
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

/* After the last benchmark: flush and compact everything, then report the
 * amplification over the database's life since its last fresh start. */
static int bench_summary(bench *b)
{
    int rc = bench_flush(b);
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
    uint64_t live = live_count(b) * (b->o.key_size + b->o.value_size);
    double wbytes = (double)(io.write_bytes - b->io_fresh.write_bytes);
    char wamp[32], samp[32];
    fmt_ratio(wamp, sizeof(wamp), wbytes, (double)b->user_bytes_fresh);
    fmt_ratio(samp, sizeof(samp), (double)used, (double)live);
    double rss_mb = (double)dk__peak_rss() / 1048576.0;
    printf("%-16s : wamp %s (disk write_bytes %.1f MB / user %.1f MB, since the last fresh"
           " fill, including the final flush%s)  samp %s (du %.1f MB / live %.1f MB)"
           "  peak rss %.1f MB\n",
           "summary", wamp, wbytes / 1048576.0, (double)b->user_bytes_fresh / 1048576.0,
           compacted ? " and full compaction" : "", samp, (double)used / 1048576.0,
           (double)live / 1048576.0, rss_mb);
    printf("RESULT engine=%s bench=summary value=%u key=%u sync=%d threads=%u compacted=%d"
           " wamp=%s samp=%s du_mb=%.1f live_mb=%.1f rss_mb=%.1f codec=%s\n",
           b->o.engine, b->o.value_size, b->o.key_size, b->o.sync, b->o.threads, compacted,
           wamp, samp, (double)used / 1048576.0, (double)live / 1048576.0, rss_mb, b->codec);
    b->du_mb = (double)used / 1048576.0;
    b->live_mb = (double)live / 1048576.0;
    b->table_mb = -1;
    dk_engine_stats(&b->eng, table_bytes_sink, &b->table_mb);
    return 0;
}

/* The codec on its own, as an engine uses it: the value pool in 4 KiB
 * blocks through dk_host.codec_open, at least 64 MiB each way on one
 * thread. Fills r's direct columns; 0 or the codec's error. */
static int codec_direct(bench *b, codec_row *r)
{
    dk_codec_ref c;
    int rc = b->engine_host.codec_open(&b->engine_host, r->name, 0, &c);
    if (rc) {
        fprintf(stderr, "dk_bench: codec '%s': %s\n", r->name, dk_strerror(rc));
        return rc;
    }
    const size_t blk = 4096, nblk = BENCH_POOL_SIZE / blk;
    size_t cap = dk_codec_bound(&c, blk);
    uint8_t *out = malloc(nblk * (cap + 8)), *back = malloc(blk);
    size_t *len = malloc(nblk * sizeof(*len));
    if (!out || !back || !len) {
        rc = -ENOMEM;
        goto done;
    }
    uint64_t stored = 0, done_c = 0, done_d = 0, t0 = now_ns();
    for (int round = 0; done_c < (64u << 20) || round == 0; round++)
        for (size_t i = 0; i < nblk && !rc; i++) {
            rc = dk_codec_compress(&c, b->pool + i * blk, blk, out + i * (cap + 8), cap, &len[i]);
            done_c += blk;
        }
    uint64_t t1 = now_ns();
    for (size_t i = 0; i < nblk; i++)
        stored += len[i];
    for (int round = 0; !rc && (done_d < (64u << 20) || round == 0); round++)
        for (size_t i = 0; i < nblk && !rc; i++) {
            size_t n = 0;
            rc = dk_codec_decompress(&c, out + i * (cap + 8), len[i], back, blk, &n);
            if (!rc && (n != blk || memcmp(back, b->pool + i * blk, blk) != 0))
                rc = DK_ECORRUPT;
            done_d += blk;
        }
    uint64_t t2 = now_ns();
    if (!rc) {
        r->ratio = (double)stored / (double)(nblk * blk);
        r->c_mb_s = (double)done_c / 1048576.0 / ((double)(t1 - t0) / 1e9);
        r->d_mb_s = (double)done_d / 1048576.0 / ((double)(t2 - t1) / 1e9);
        printf("codec %-8s: 4 KiB blocks of the value pool: stored %.3f of the bytes, compress %.0f MB/s,"
               " decompress %.0f MB/s (one thread)\n", r->name, r->ratio, r->c_mb_s, r->d_mb_s);
        printf("RESULT engine=%s bench=codec_direct codec=%s block=4096 ratio=%.4f compress_mb_s=%.0f"
               " decompress_mb_s=%.0f\n", b->o.engine, r->name, r->ratio, r->c_mb_s, r->d_mb_s);
    } else {
        fprintf(stderr, "dk_bench: codec '%s' failed: %s\n", r->name, dk_strerror(rc));
    }
done:
    free(out);
    free(back);
    free(len);
    b->engine_host.codec_close(&b->engine_host, &c);
    return rc;
}

/* The comparison table after every codec ran. */
static void codec_table(const bench *b, const codec_row *rows, int n)
{
    printf("\ncodecs compared (engine %s, %" PRIu64 " keys of %u B, values %u B ~50%% compressible):\n",
           b->o.engine, b->o.num, b->o.key_size, b->o.value_size);
    printf("%-8s %8s %10s %10s %9s %9s %9s", "codec", "ratio", "comp MB/s", "dec MB/s", "table MB", "du MB",
           "live MB");
    for (int k = 0; k < b->o.n_list; k++)
        printf(" %14s", dk__bench_names[b->o.list[k]]);
    printf("\n");
    for (int i = 0; i < n; i++) {
        const codec_row *r = &rows[i];
        if (!r->ok) {
            printf("%-8s failed\n", r->name);
            continue;
        }
        printf("%-8s %8.3f %10.0f %10.0f %9.1f %9.1f %9.1f", r->name, r->ratio, r->c_mb_s, r->d_mb_s,
               r->table_mb, r->du_mb, r->live_mb);
        for (int k = 0; k < b->o.n_list; k++)
            printf(" %14.0f", r->ops_s[b->o.list[k]]);
        printf("\n");
    }
    for (int i = 0; i < n; i++) {
        const codec_row *r = &rows[i];
        if (!r->ok)
            continue;
        printf("RESULT engine=%s bench=codec codec=%s ratio=%.4f compress_mb_s=%.0f decompress_mb_s=%.0f"
               " table_mb=%.1f du_mb=%.1f live_mb=%.1f", b->o.engine, r->name, r->ratio, r->c_mb_s,
               r->d_mb_s, r->table_mb, r->du_mb, r->live_mb);
        for (int k = 0; k < b->o.n_list; k++)
            printf(" %s_ops_s=%.0f", dk__bench_names[b->o.list[k]], r->ops_s[b->o.list[k]]);
        printf("\n");
    }
}

/* Make the benchmark folder: a temp dir, or --db, which must be empty or
 * carry the marker file of an earlier dk_bench run (so a typo in --db never
 * wipes someone's data). */
static int db_prepare(bench *b)
{
    char marker[1200];
    if (!b->o.db) {
        snprintf(b->db_dir, sizeof(b->db_dir), "%s/dk_bench.XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(b->db_dir)) {
            fprintf(stderr, "dk_bench: mkdtemp %s: %s\n", b->db_dir, strerror(errno));
            return -errno;
        }
        b->db_is_temp = 1;
    } else {
        snprintf(b->db_dir, sizeof(b->db_dir), "%s", b->o.db);
        if (mkdir(b->db_dir, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "dk_bench: %s: %s\n", b->db_dir, strerror(errno));
            return -errno;
        }
    }
    snprintf(b->engine_dir, sizeof(b->engine_dir), "%s/engine", b->db_dir);
    snprintf(marker, sizeof(marker), "%s/.dk_bench", b->db_dir);
    struct stat st;
    if (stat(b->engine_dir, &st) == 0 && stat(marker, &st) != 0) {
        fprintf(stderr, "dk_bench: %s exists but was not made by dk_bench; refusing to use it\n",
                b->engine_dir);
        return -EEXIST;
    }
    FILE *f = fopen(marker, "w");
    if (!f) {
        fprintf(stderr, "dk_bench: %s: %s\n", marker, strerror(errno));
        return -errno;
    }
    fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    static bench b;
    char err[1024], dir[1024];
    int rc;
    if (dk__bench_parse_opts(argc, argv, &b.o))
        return 2;
    dk_log_set_level(b.o.verbose ? DK_LOG_INFO : DK_LOG_WARN);
    if (b.o.plugin_dir)
        snprintf(dir, sizeof(dir), "%s", b.o.plugin_dir);
    else if (dk_plugin_default_dir(dir, sizeof(dir)) != 0) {
        fprintf(stderr, "dk_bench: cannot work out the plugin folder; use --plugin-dir\n");
        return 2;
    }
    const dk_loaded_plugin *ep = NULL, *cp = NULL;
    if ((rc = dk_plugin_host_new(dir, &b.plugins, err, sizeof(err))) ||
        (rc = dk_plugin_load(b.plugins, DK_PLUGIN_ENGINE, b.o.engine, &ep, err, sizeof(err))) ||
        (strcmp(b.o.compaction, "none") &&
         (rc = dk_plugin_load(b.plugins, DK_PLUGIN_COMPACTION, b.o.compaction, &cp, err, sizeof(err))))) {
        fprintf(stderr, "dk_bench: %s\n", err);
        dk_plugin_host_free(b.plugins);
        return 2;
    }
    b.engine_ops = ep->ops;
    b.policy_ops = cp ? cp->ops : NULL;
    /* Options as dynkvd would read them from [engine.<name>] and
     * [compaction.<name>]; keys an engine does not read are ignored here
     * (--codec and --bloom-bits are passed to every engine), so unlike
     * dynkvd the bench does not check for unread keys. */
    dk_config_defaults(&b.cfg);
    char sec[DK_CONFIG_SECTION_MAX + 1], num[32], codecs[256];
    snprintf(sec, sizeof sec, "engine.%s", b.o.engine);
    snprintf(num, sizeof num, "%u", b.o.bloom_bits);
    if (dk_config_set(&b.cfg, sec, "bloom_bits_per_key", num, err, sizeof err)) {
        fprintf(stderr, "dk_bench: %s\n", err);
        return 2;
    }
    codec_row rows[BENCH_MAX_CODECS];
    int n_codecs = 0;
    snprintf(codecs, sizeof codecs, "%s", b.o.codec);
    for (char *save = NULL, *c = strtok_r(codecs, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
        if (n_codecs == BENCH_MAX_CODECS) {
            fprintf(stderr, "dk_bench: --codec: at most %d codecs\n", BENCH_MAX_CODECS);
            return 2;
        }
        rows[n_codecs++] = (codec_row){.name = c};
    }
    if (n_codecs == 0) {
        fprintf(stderr, "dk_bench: --codec: expected one or more codec names\n");
        return 2;
    }
    for (int i = 0; i < b.o.n_sets; i++) {
        char set[512], *eq, *dot = NULL;
        snprintf(set, sizeof set, "%s", b.o.sets[i]);
        if ((eq = strchr(set, '=')))
            for (char *p = set; p < eq; p++)
                if (*p == '.')
                    dot = p;
        if (!eq || !dot) {
            fprintf(stderr, "dk_bench: --set %s: expected section.key=value\n", b.o.sets[i]);
            return 2;
        }
        *dot = *eq = '\0';
        if (dk_config_set(&b.cfg, set, dot + 1, eq + 1, err, sizeof err)) {
            fprintf(stderr, "dk_bench: --set %s: %s\n", b.o.sets[i], err);
            return 2;
        }
    }
    b.engine_ctx = (dk_host_ctx){.gc_grace_ms = INT64_MAX / 2, .log_prefix = "engine"};
    b.policy_ctx = (dk_host_ctx){.gc_grace_ms = INT64_MAX / 2, .log_prefix = "compaction"};
    dk_host_ctx_set(&b.engine_ctx, &b.cfg, "engine", b.o.engine, b.plugins);
    dk_host_ctx_set(&b.policy_ctx, &b.cfg, "compaction", b.o.compaction, b.plugins);
    dk_host_init(&b.engine_host, &b.engine_ctx);
    dk_host_init(&b.policy_host, &b.policy_ctx);
    if (!(b.live = calloc(b.o.num, 1)) || pool_init(&b)) {
        fprintf(stderr, "dk_bench: out of memory\n");
        return 2;
    }
    if ((rc = db_prepare(&b)))
        return 2;
    printf("dk_bench: engine %s %s (%s, sha256 %.16s), compaction %s, db %s\n", ep->name,
           ep->version, ep->path, ep->sha256, cp ? cp->name : "none", b.engine_dir);
    printf("dk_bench: keys %u B, values %u B (~50%% compressible), num %" PRIu64 ", reads %" PRIu64
           ", seeks %" PRIu64 " x %u nexts, threads %u, sync %d, cache %" PRIu64 " B, memtable %" PRIu64 " B (0 = engine default),"
           " bloom %u bits/key, codec %s, seed %" PRIu64 "; rss before open %.1f MB\n",
           b.o.key_size, b.o.value_size, b.o.num, b.o.reads, b.o.seeks, b.o.seek_nexts, b.o.threads, b.o.sync, b.o.cache_size,
           b.o.memtable_size, b.o.bloom_bits, b.o.codec, b.o.seed, dk__peak_rss() / 1048576.0);
    if (b.o.use_existing && n_codecs > 1) {
        fprintf(stderr, "dk_bench: --use-existing takes one codec\n");
        return 2;
    }
    int crc = 0;
    rc = 0;
    for (int ci = 0; ci < n_codecs && rc == 0 && crc == 0; ci++) {
        b.codec = rows[ci].name;
        memset(b.ops_s, 0, sizeof b.ops_s);
        if ((rc = dk_config_set(&b.cfg, sec, "codec", b.codec, err, sizeof err))) {
            fprintf(stderr, "dk_bench: %s\n", err);
            break;
        }
        if (n_codecs > 1 && codec_direct(&b, &rows[ci]) != 0)
            continue;   /* a codec that fails on its own is not run in the engine */
        if (n_codecs > 1)
            printf("== codec %s\n", b.codec);
        if (b.o.use_existing) {
            rc = bench_open(&b);
            for (uint64_t i = 0; i < b.o.num; i++)
                atomic_store_explicit(&b.live[i], 1, memory_order_relaxed);
            dk__io_read(&b.io_fresh);
        } else {
            rc = bench_fresh(&b);
        }
        for (int i = 0; rc == 0 && i < b.o.n_list; i++)
            rc = bench_run(&b, b.o.list[i]);
        if (rc == 0)
            rc = bench_summary(&b);
        crc = bench_close(&b);
        if (rc == 0 && crc == 0) {
            memcpy(rows[ci].ops_s, b.ops_s, sizeof b.ops_s);
            rows[ci].du_mb = b.du_mb;
            rows[ci].live_mb = b.live_mb;
            rows[ci].table_mb = b.table_mb;
            rows[ci].ok = 1;
        }
    }
    if (n_codecs > 1)
        codec_table(&b, rows, n_codecs);
    if (b.db_is_temp) {
        dk__rm_tree_contents(b.db_dir);
        rmdir(b.db_dir);
    }
    dk_plugin_host_free(b.plugins);
    dk_config_free(&b.cfg);
    free(b.perm);
    free(b.pool);
    free((void *)b.live);
    return (rc || crc) ? 1 : 0;
}
