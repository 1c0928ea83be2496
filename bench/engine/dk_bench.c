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
 * The parts: workload.c (keys, values, distributions, what the worker
 * threads do), report.c (running one benchmark, its RESULT line, the
 * summary), this file (the engine's lifetime, codecs, main). bench/sweep
 * runs this tool over a matrix of policies, engines and workloads.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "dynkv/codec.h"
#include "run.h"

#define BENCH_MAX_CODECS 8

/* One row of the codec comparison. */
typedef struct codec_row {
    const char *name;
    double ratio, c_mb_s, d_mb_s; /* direct: stored/original, MB/s */
    double ops_s[DK_BK__COUNT], du_mb, live_mb, table_mb;
    int ok;
} codec_row;

/* ---- engine lifetime ----------------------------------------------------- */

static int bench_open(bench *b)
{
    dk_compaction_conf pc = {.struct_size = sizeof(pc)};
    int rc;
    if (b->policy_ops && (rc = dk_policy_open(b->policy_ops, &b->policy_host, &pc, &b->pol))) {
        fprintf(stderr, "dk_bench: compaction policy '%s' failed to open: %s\n", b->o.compaction,
                b->policy_ctx.err[0] ? b->policy_ctx.err : dk_strerror(rc));
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
        fprintf(stderr, "dk_bench: engine '%s' failed to open %s: %s\n", b->o.engine, b->engine_dir,
                b->engine_ctx.err[0] ? b->engine_ctx.err : dk_strerror(rc));
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
int dk__bench_fresh(bench *b)
{
    int rc = bench_close(b);
    if (rc)
        return rc;
    struct stat st;
    if (stat(b->engine_dir, &st) == 0 && (rc = dk__rm_tree_contents(b->engine_dir))) {
        fprintf(stderr, "dk_bench: cannot empty %s: %s\n", b->engine_dir, dk_strerror(rc));
        return rc;
    }
    for (uint64_t i = 0; i < b->o.num; i++) {
        atomic_store_explicit(&b->live[i], 0, memory_order_relaxed);
        if (b->expiry)
            atomic_store_explicit(&b->expiry[i], 0, memory_order_relaxed);
    }
    if ((rc = bench_open(b)))
        return rc;
    dk__io_read(&b->io_fresh);
    b->user_bytes_fresh = 0;
    b->du_peak_fresh = 0;
    b->engine_written_fresh = 0;
    return 0;
}

int dk__bench_flush(bench *b)
{
    if (!DK_HAS(b->engine_ops, flush))
        return 0;
    int rc = dk_engine_flush(&b->eng);
    if (rc)
        fprintf(stderr, "dk_bench: flush: %s\n", dk_strerror(rc));
    return rc;
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
    uint64_t stored = 0, done_c = 0, done_d = 0, t0 = dk__bench_now_ns();
    for (int round = 0; done_c < (64u << 20) || round == 0; round++)
        for (size_t i = 0; i < nblk && !rc; i++) {
            rc = dk_codec_compress(&c, b->pool + i * blk, blk, out + i * (cap + 8), cap, &len[i]);
            done_c += blk;
        }
    uint64_t t1 = dk__bench_now_ns();
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
    uint64_t t2 = dk__bench_now_ns();
    if (!rc) {
        r->ratio = (double)stored / (double)(nblk * blk);
        r->c_mb_s = (double)done_c / 1048576.0 / ((double)(t1 - t0) / 1e9);
        r->d_mb_s = (double)done_d / 1048576.0 / ((double)(t2 - t1) / 1e9);
        printf("codec %-8s: 4 KiB blocks of the value pool: stored %.3f of the bytes, compress %.0f MB/s,"
               " decompress %.0f MB/s (one thread)\n",
               r->name, r->ratio, r->c_mb_s, r->d_mb_s);
        printf("RESULT engine=%s bench=codec_direct codec=%s block=4096 ratio=%.4f compress_mb_s=%.0f"
               " decompress_mb_s=%.0f\n",
               b->o.engine, r->name, r->ratio, r->c_mb_s, r->d_mb_s);
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
               " table_mb=%.1f du_mb=%.1f live_mb=%.1f",
               b->o.engine, r->name, r->ratio, r->c_mb_s, r->d_mb_s, r->table_mb, r->du_mb, r->live_mb);
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
    /* gc_grace 0: one node has no replica that could resurrect what
     * expired, so compaction may drop an expired object (timeseries) as
     * soon as it expires. Values of the other benchmarks are not objects
     * and are always kept. */
    b.engine_ctx = (dk_host_ctx){.gc_grace_ms = 0, .log_prefix = "engine"};
    b.policy_ctx = (dk_host_ctx){.gc_grace_ms = 0, .log_prefix = "compaction"};
    dk_host_ctx_set(&b.engine_ctx, &b.cfg, "engine", b.o.engine, b.plugins);
    dk_host_ctx_set(&b.policy_ctx, &b.cfg, "compaction", b.o.compaction, b.plugins);
    dk_host_init(&b.engine_host, &b.engine_ctx);
    dk_host_init(&b.policy_host, &b.policy_ctx);
    if (b.o.dist == DK_DIST_ZIPFIAN)
        dk__bench_zipf_init(&b.zipf, b.o.num, 0.99);
    if (!(b.live = calloc(b.o.num, 1)) || dk__bench_pool_init(&b)) {
        fprintf(stderr, "dk_bench: out of memory\n");
        return 2;
    }
    if ((rc = db_prepare(&b)))
        return 2;
    printf("dk_bench: engine %s %s (%s, sha256 %.16s), compaction %s, db %s\n", ep->name, ep->version,
           ep->path, ep->sha256, cp ? cp->name : "none", b.engine_dir);
    printf("dk_bench: keys %u B, values %u B (~50%% compressible), num %" PRIu64 ", reads %" PRIu64
           ", seeks %" PRIu64 " x %u nexts, threads %u, sync %d, cache %" PRIu64 " B, memtable %" PRIu64
           " B (0 = engine default),"
           " bloom %u bits/key, codec %s, seed %" PRIu64 ", keys %s, reads %u %%, scans %u %%, ttl %" PRIu64
           " ms;"
           " rss before open %.1f MB\n",
           b.o.key_size, b.o.value_size, b.o.num, b.o.reads, b.o.seeks, b.o.seek_nexts, b.o.threads, b.o.sync,
           b.o.cache_size, b.o.memtable_size, b.o.bloom_bits, b.o.codec, b.o.seed, dk__bench_dists[b.o.dist],
           b.o.read_pct, b.o.scan_pct, b.o.ttl_ms, dk__peak_rss() / 1048576.0);
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
            continue; /* a codec that fails on its own is not run in the engine */
        if (n_codecs > 1)
            printf("== codec %s\n", b.codec);
        if (b.o.use_existing) {
            rc = bench_open(&b);
            for (uint64_t i = 0; i < b.o.num; i++)
                atomic_store_explicit(&b.live[i], 1, memory_order_relaxed);
            dk__io_read(&b.io_fresh);
        } else {
            rc = dk__bench_fresh(&b);
        }
        for (int i = 0; rc == 0 && i < b.o.n_list; i++)
            rc = dk__bench_run(&b, b.o.list[i]);
        if (rc == 0)
            rc = dk__bench_summary(&b);
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
    free((void *)b.expiry);
    return (rc || crc) ? 1 : 0;
}
