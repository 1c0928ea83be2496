/*
 * workload.c - what dk_bench's worker threads do: keys, values, key
 * distributions and the operations of every benchmark (bench/README.md).
 *
 * Keys are key_size bytes: 16 decimal digits of the key's index, a marker
 * ('+' for keys that are written, '-' for the keys readmissing asks for,
 * which sort between existing keys so that key-range checks cannot answer
 * for the bloom filter), then letters derived from the index. Values are
 * slices of a pool that is about 50 % compressible (db_bench's default
 * compression ratio).
 *
 * Random benchmarks pick key indexes uniformly or from YCSB's scrambled
 * Zipfian distribution (theta 0.99; the rank is hashed onto the key space
 * so that hot keys are spread over every table rather than clustered).
 * mixed draws each operation: a get (read_pct %), a short scan (scan_pct
 * %, a fresh iterator each time so it sees the latest writes) or an
 * overwrite. timeseries writes keys in increasing order, each value an
 * object of the framework's encoding (node/object.h) carrying its write
 * time and an expiry --ttl-ms later, so compaction policies can see both
 * through dk_host.record_time and drop expired data; its reads
 * (read_pct %) ask for recent keys, the distance back from the newest
 * drawn from the distribution.
 *
 * With --timeline-ms, thread 0 closes an interval histogram every that
 * many milliseconds and keeps its p99 (the p99-over-time plots of
 * bench/sweep).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node/object.h"
#include "run.h"

uint64_t dk__bench_now_ns(void)
{
    return dk_mono_ns();
}

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
int dk__bench_pool_init(bench *b)
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

int dk__bench_perm_init(bench *b, uint64_t salt)
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

/* ---- distributions ------------------------------------------------------- */

void dk__bench_zipf_init(bench_zipf *z, uint64_t n, double theta)
{
    double zeta2 = 1.0 + pow(0.5, theta), zetan = 0;
    for (uint64_t i = 1; i <= n; i++)
        zetan += 1.0 / pow((double)i, theta);
    *z = (bench_zipf){.n = n,
                      .theta = theta,
                      .zetan = zetan,
                      .alpha = 1.0 / (1.0 - theta),
                      .eta = (1.0 - pow(2.0 / (double)n, 1.0 - theta)) / (1.0 - zeta2 / zetan)};
}

/* A rank in [0, n): 0 the most popular. */
static uint64_t zipf_rank(const bench_zipf *z, uint64_t *rng)
{
    double u = (double)(rng_next(rng) >> 11) / 9007199254740992.0;
    double uz = u * z->zetan;
    if (uz < 1.0 || z->n < 2)
        return 0;
    if (uz < 1.0 + pow(0.5, z->theta))
        return 1;
    uint64_t r = (uint64_t)((double)z->n * pow(z->eta * u - z->eta + 1.0, z->alpha));
    return r < z->n ? r : z->n - 1;
}

/* A key index in [0, num) from --dist. */
static uint64_t key_pick(const bench *b, uint64_t *rng)
{
    if (b->o.dist == DK_DIST_UNIFORM)
        return rng_next(rng) % b->o.num;
    uint64_t r = zipf_rank(&b->zipf, rng), h = 0xcbf29ce484222325ull;
    for (int i = 0; i < 8; i++) /* FNV-1a of the rank: scatter hot keys */
        h = (h ^ ((r >> (8 * i)) & 0xff)) * 0x100000001b3ull;
    return h % b->o.num;
}

/* A distance back from the newest key, in [0, n): timeseries reads. */
static uint64_t recent_pick(const bench *b, uint64_t n, uint64_t *rng)
{
    if (b->o.dist == DK_DIST_UNIFORM)
        return rng_next(rng) % n;
    return zipf_rank(&b->zipf, rng) % n;
}

uint64_t dk__bench_live_count(const bench *b)
{
    uint64_t n = 0;
    int64_t now = b->expiry ? dk_now_ms() : 0;
    for (uint64_t i = 0; i < b->o.num; i++) {
        if (!atomic_load_explicit(&b->live[i], memory_order_relaxed))
            continue;
        int64_t x = b->expiry ? atomic_load_explicit(&b->expiry[i], memory_order_relaxed) : 0;
        n += x == 0 || x > now;
    }
    return n;
}

/* ---- the operations ------------------------------------------------------ */

static void get_sink(void *arg, dk_slice value)
{
    *(size_t *)arg = value.len;
}

static int op_write(worker *w, uint64_t idx, dk_slice value, int sync)
{
    bench *b = w->b;
    uint8_t key[DK_KEY_MAX];
    key_make(b, idx, 0, key);
    dk_batch_op op = {.type = DK_BATCH_PUT, .key = {key, b->o.key_size}, .value = value};
    dk_batch batch = {&op, 1};
    int rc = dk_engine_write(&b->eng, &batch, sync);
    if (rc == 0) {
        atomic_store_explicit(&b->live[idx], 1, memory_order_relaxed);
        w->bytes += b->o.key_size + b->o.value_size;
        w->user_bytes += b->o.key_size + b->o.value_size;
    }
    return rc;
}

static int op_put(worker *w, uint64_t idx, int sync)
{
    if (w->b->expiry) /* a plain value never expires */
        atomic_store_explicit(&w->b->expiry[idx], 0, memory_order_relaxed);
    return op_write(w, idx, value_pick(w->b, &w->rng), sync);
}

/* A timeseries put: the value wrapped in an object with one sibling that
 * expires ttl_ms after its write; user bytes count the value only, as a
 * client's PUT would. */
static int op_put_ttl(worker *w, uint64_t idx)
{
    bench *b = w->b;
    int64_t now = dk_now_ms(), exp = now + (int64_t)b->o.ttl_ms;
    dk_vv_entry ve = {.actor = {.node = "dk_bench", .incarnation = 1}, .counter = idx + 1, .time_ms = now};
    dk_sibling sib = {.actor = ve.actor,
                      .counter = idx + 1,
                      .write_time_ms = now,
                      .expiry_ms = exp,
                      .value = value_pick(b, &w->rng)};
    dk_object o = {.vv = {&ve, 1, 1}, .sib = &sib, .n_sib = 1, .cap_sib = 1};
    dk_buf_reset(&w->obj);
    int rc = dk_object_encode(&o, &w->obj);
    if (rc)
        return rc;
    atomic_store_explicit(&b->expiry[idx], exp, memory_order_relaxed);
    return op_write(w, idx, dk_buf_slice(&w->obj), b->o.sync);
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

/* A read of the value's first bytes only (get_lent with DK_GET_HEAD, ABI
 * 1.5), as a replica's write reads the stored version header; an engine
 * that cannot lend is read through get. */
static int op_get_head(worker *w, uint64_t idx)
{
    bench *b = w->b;
    if (!dk_engine_can_lend(&b->eng))
        return op_get(w, idx, 0);
    uint8_t key[DK_KEY_MAX];
    key_make(b, idx, 0, key);
    dk_slice v;
    void *pin;
    int rc = dk_engine_get_lent(&b->eng, (dk_slice){key, b->o.key_size}, DK_GET_HEAD, &v, &pin);
    if (rc == 0) {
        w->found++;
        w->bytes += b->o.key_size + v.len;
        dk_engine_release(&b->eng, pin);
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

/* A scan of mixed: its own iterator, so it sees every write before it. */
static int op_scan(worker *w, uint64_t idx)
{
    dk_engine_iter *it = NULL;
    dk_iter_opts io = {{NULL, 0}, {NULL, 0}};
    int rc = dk_engine_iter_open(&w->b->eng, &io, &it);
    if (rc)
        return rc;
    rc = op_seek(w, it, idx);
    dk_engine_iter_close(&w->b->eng, it);
    return rc;
}

static int op_mixed(worker *w)
{
    bench *b = w->b;
    uint64_t r = rng_next(&w->rng) % 100, idx = key_pick(b, &w->rng);
    if (r < b->o.read_pct)
        return op_get(w, idx, 0);
    if (r < b->o.read_pct + b->o.scan_pct)
        return op_scan(w, idx);
    return op_put(w, idx, b->o.sync);
}

/* One timeseries operation: the next key in order, or a read of a recent
 * one (also once every key is written). */
static int op_timeseries(worker *w)
{
    bench *b = w->b;
    uint64_t next = atomic_load(&b->ts_next);
    if (next == 0 || rng_next(&w->rng) % 100 >= b->o.read_pct) {
        uint64_t idx = atomic_fetch_add(&b->ts_next, 1);
        if (idx < b->o.num)
            return op_put_ttl(w, idx);
        atomic_store(&b->ts_next, b->o.num);
        next = b->o.num;
    }
    return op_get(w, next - 1 - recent_pick(b, next, &w->rng), 0);
}

/* ---- the threads --------------------------------------------------------- */

/* Close the timeline interval(s) that ended before now. */
static void timeline_tick(worker *w, uint64_t now)
{
    uint64_t step = w->b->o.timeline_ms * 1000000ull;
    while (now >= w->tl_end) {
        if (w->tl_n == w->tl_cap) {
            size_t cap = w->tl_cap ? 2 * w->tl_cap : 64;
            double *p = realloc(w->tl_p99, cap * sizeof(*p));
            if (p)
                w->tl_p99 = p;
            uint64_t *o = p ? realloc(w->tl_ops, cap * sizeof(*o)) : NULL;
            if (!o)
                return; /* out of memory: the timeline stops here */
            w->tl_ops = o;
            w->tl_cap = cap;
        }
        w->tl_p99[w->tl_n] = dk__hist_quantile(w->tl_hist, 0.99) / 1e3;
        w->tl_ops[w->tl_n++] = w->tl_hist->count;
        dk__hist_init(w->tl_hist);
        w->tl_end += step;
    }
}

static void record(worker *w, uint64_t t0, uint64_t t1)
{
    dk__hist_add(&w->hist, t1 - t0);
    w->ops++;
    if (w->tl_hist) {
        if (t1 >= w->tl_end)
            timeline_tick(w, t1);
        dk__hist_add(w->tl_hist, t1 - t0);
    }
}

/* The writer of readwhilewriting: overwrites random keys until the readers
 * are done, paced to o.write_rate ops/s when that is set. */
static int writer_loop(worker *w)
{
    bench *b = w->b;
    uint64_t start = dk__bench_now_ns();
    while (!atomic_load(&b->stop)) {
        if (b->o.write_rate) {
            uint64_t due = start + w->ops * 1000000000ull / b->o.write_rate;
            uint64_t t = dk__bench_now_ns();
            if (t < due) {
                struct timespec ts = {.tv_sec = (time_t)((due - t) / 1000000000ull),
                                      .tv_nsec = (long)((due - t) % 1000000000ull)};
                nanosleep(&ts, NULL);
                continue;
            }
        }
        uint64_t t0 = dk__bench_now_ns();
        int rc = op_put(w, rng_next(&w->rng) % b->o.num, b->o.sync);
        if (rc)
            return rc;
        dk__hist_add(&w->hist, dk__bench_now_ns() - t0);
        w->ops++;
    }
    return 0;
}

void *dk__bench_worker_main(void *arg)
{
    worker *w = arg;
    bench *b = w->b;
    dk_engine_iter *it = NULL;
    int rc = 0;
    if (w->kind == DK_BK_SEEKRANDOM) {
        dk_iter_opts io = {{NULL, 0}, {NULL, 0}};
        rc = dk_engine_iter_open(&b->eng, &io, &it);
    }
    if (w->timeline && !(w->tl_hist = malloc(sizeof(*w->tl_hist))))
        rc = -ENOMEM;
    pthread_barrier_wait(w->barrier);
    w->t_start = dk__bench_now_ns();
    uint64_t cpu0 = dk__thread_cpu_ns();
    if (w->tl_hist) {
        dk__hist_init(w->tl_hist);
        w->tl_end = w->t_start + b->o.timeline_ms * 1000000ull;
    }
    if (rc)
        goto out;
    if (w->writer) {
        rc = writer_loop(w);
        goto out;
    }
    for (uint64_t i = 0; i < w->count; i++) {
        uint64_t t0 = dk__bench_now_ns();
        switch (w->kind) {
        case DK_BK_FILLSEQ: rc = op_put(w, w->first + i, b->o.sync); break;
        case DK_BK_FILLRANDOM: rc = op_put(w, b->perm[w->first + i], b->o.sync); break;
        case DK_BK_OVERWRITE: rc = op_put(w, key_pick(b, &w->rng), b->o.sync); break;
        case DK_BK_DELETERANDOM: rc = op_delete(w, b->perm[w->first + i]); break;
        case DK_BK_READRANDOM:
        case DK_BK_READWHILEWRITING: rc = op_get(w, key_pick(b, &w->rng), 0); break;
        case DK_BK_READHEAD: rc = op_get_head(w, key_pick(b, &w->rng)); break;
        case DK_BK_READMISSING: rc = op_get(w, rng_next(&w->rng) % b->o.num, 1); break;
        case DK_BK_SEEKRANDOM: rc = op_seek(w, it, key_pick(b, &w->rng)); break;
        case DK_BK_MIXED: rc = op_mixed(w); break;
        case DK_BK_TIMESERIES: rc = op_timeseries(w); break;
        case DK_BK__COUNT: rc = -EINVAL; break;
        }
        if (rc)
            break;
        record(w, t0, dk__bench_now_ns());
    }
out:
    w->t_end = dk__bench_now_ns();
    w->cpu_ns = dk__thread_cpu_ns() - cpu0;
    if (w->tl_hist && w->tl_hist->count)
        timeline_tick(w, w->tl_end); /* the last, partial interval */
    free(w->tl_hist);
    w->tl_hist = NULL;
    if (it)
        dk_engine_iter_close(&b->eng, it);
    dk_buf_free(&w->obj);
    w->err = rc;
    return NULL;
}
