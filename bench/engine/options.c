/*
 * options.c - dk_bench's command line: long options only, each a name and
 * a value, parsed with getopt_long into dk_bench_opts (bench.h). Numbers
 * are plain decimal; a bad one stops the tool with the option's name.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dynkv/types.h"
#include "bench.h"

const char *const dk__bench_names[DK_BK__COUNT] = {
    "fillseq",    "fillrandom",   "overwrite", "readrandom", "readmissing", "readwhilewriting",
    "seekrandom", "deleterandom", "mixed",     "timeseries", "readhead"};

const char *const dk__bench_dists[2] = {"uniform", "zipfian"};

static void usage(FILE *f)
{
    fprintf(f, "usage: dk_bench --engine NAME [options]\n"
               "  --engine NAME         engine plugin (engine-NAME.so): memory, lsm, rocksdb, ...\n"
               "  --plugin-dir DIR      where plugins are (default $DYNKV_PLUGIN_PATH, or the build tree)\n"
               "  --compaction NAME     compaction policy plugin handed to the engine (leveled)\n"
               "  --db DIR              benchmark folder; the engine gets DIR/engine (default: a temp dir)\n"
               "  --use-existing 0|1    keep what DIR/engine holds (0: start empty)\n"
               "  --benchmarks LIST     comma-separated: fillseq fillrandom overwrite readrandom\n"
               "                        readmissing readwhilewriting seekrandom deleterandom\n"
               "                        mixed timeseries readhead (readrandom through get_lent\n"
               "                        with DK_GET_HEAD: a replica's version-header read)\n"
               "                        (fillseq,fillrandom,overwrite,readrandom,readmissing,seekrandom)\n"
               "  --num N               keys written by fill/overwrite/delete (100000)\n"
               "  --reads N             operations of read benchmarks (default --num)\n"
               "  --seeks N             seeks of seekrandom (default --reads)\n"
               "  --value-size B        value bytes (100)\n"
               "  --key-size B          key bytes, 24..256 (100)\n"
               "  --threads T           worker threads; readwhilewriting adds one writer (1)\n"
               "  --sync 0|1            write(sync) for every write (0)\n"
               "  --cache-size B        block cache bytes (33554432)\n"
               "  --memtable-size B     memtable bytes (0: the engine's default)\n"
               "  --bloom-bits N        bloom bits per key: the engine option bloom_bits_per_key (10)\n"
               "  --codec NAME[,NAME]   block codec: the engine option codec (none); with several,\n"
               "                        measure each codec alone, run everything once per codec\n"
               "                        and print a comparison table\n"
               "  --set S.K=V           a plugin option, as dynkvd --set takes it, e.g.\n"
               "                        --set engine.lsm.compaction_rate_limit=0 (repeatable)\n"
               "  --seek-nexts N        next() calls after each seek or scan (100)\n"
               "  --dist NAME           keys of random benchmarks: uniform or zipfian (uniform)\n"
               "  --read-pct P          mixed, timeseries: percent of operations that are gets (50;\n"
               "                        10 when the list has timeseries and no mixed)\n"
               "  --scan-pct P          mixed: percent that are scans of --seek-nexts keys (0)\n"
               "  --ttl-ms N            timeseries: each value expires N ms after its write (1000)\n"
               "  --timeline-ms N       print thread 0's p99 per N ms interval (0: off)\n"
               "  --write-rate N        readwhilewriting writer ops/s (0: flat out)\n"
               "  --final-compact 0|1   compact everything before the summary line (1)\n"
               "  --seed N              random seed (301)\n"
               "  --verbose             log engine messages at INFO (default WARN)\n");
}

static int parse_u64(const char *name, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-') {
        fprintf(stderr, "dk_bench: --%s %s: expected a non-negative integer\n", name, s);
        return -EINVAL;
    }
    *out = v;
    return 0;
}

/* Parse the benchmark list into kinds[]; returns the count or -EINVAL. */
static int parse_list(const char *list, enum dk_bench_kind *kinds, int max)
{
    int n = 0;
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        unsigned k;
        for (k = 0; k < DK_BK__COUNT; k++)
            if (strlen(dk__bench_names[k]) == len && !strncmp(p, dk__bench_names[k], len))
                break;
        if (k == DK_BK__COUNT || n == max || len == 0) {
            fprintf(stderr, "dk_bench: unknown benchmark '%.*s'\n", (int)len, p);
            return -EINVAL;
        }
        kinds[n++] = (enum dk_bench_kind)k;
        p += len + (p[len] == ',');
    }
    return n;
}

/* Contract in bench.h. */
int dk__bench_parse_opts(int argc, char **argv, dk_bench_opts *o)
{
    static const struct option longs[] = {
        {"engine", 1, 0, 'e'},      {"plugin-dir", 1, 0, 'P'},    {"db", 1, 0, 'd'},
        {"benchmarks", 1, 0, 'b'},  {"num", 1, 0, 'n'},           {"reads", 1, 0, 'r'},
        {"value-size", 1, 0, 'v'},  {"key-size", 1, 0, 'k'},      {"sync", 1, 0, 's'},
        {"threads", 1, 0, 't'},     {"cache-size", 1, 0, 'c'},    {"memtable-size", 1, 0, 'm'},
        {"bloom-bits", 1, 0, 'B'},  {"codec", 1, 0, 'C'},         {"seed", 1, 0, 'S'},
        {"compaction", 1, 0, 'p'},  {"use-existing", 1, 0, 'u'},  {"seek-nexts", 1, 0, 'N'},
        {"write-rate", 1, 0, 'w'},  {"final-compact", 1, 0, 'f'}, {"verbose", 0, 0, 'V'},
        {"seeks", 1, 0, 'K'},       {"set", 1, 0, 'O'},           {"dist", 1, 0, 'D'},
        {"read-pct", 1, 0, 'R'},    {"scan-pct", 1, 0, 'A'},      {"ttl-ms", 1, 0, 'T'},
        {"timeline-ms", 1, 0, 'L'}, {"help", 0, 0, 'h'},          {0, 0, 0, 0}};
    *o = (dk_bench_opts){.benchmarks = "fillseq,fillrandom,overwrite,readrandom,readmissing,seekrandom",
                         .codec = "none",
                         .compaction = "leveled",
                         .num = 100000,
                         .cache_size = 32u << 20,
                         .seed = 301,
                         .value_size = 100,
                         .key_size = 100,
                         .threads = 1,
                         .bloom_bits = 10,
                         .seek_nexts = 100,
                         .final_compact = 1,
                         .read_pct = 101,
                         .ttl_ms = 1000};
    int c;
    uint64_t v = 0;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        const char *name = NULL;
        for (const struct option *l = longs; l->name; l++)
            if (l->val == c)
                name = l->name;
        switch (c) {
        case 'e': o->engine = optarg; continue;
        case 'P': o->plugin_dir = optarg; continue;
        case 'd': o->db = optarg; continue;
        case 'b': o->benchmarks = optarg; continue;
        case 'C': o->codec = optarg; continue;
        case 'O':
            if (o->n_sets == DK_BENCH_MAX_SETS) {
                fprintf(stderr, "dk_bench: at most %d --set options\n", DK_BENCH_MAX_SETS);
                return -EINVAL;
            }
            o->sets[o->n_sets++] = optarg;
            continue;
        case 'p': o->compaction = optarg; continue;
        case 'D':
            if (!strcmp(optarg, "uniform"))
                o->dist = DK_DIST_UNIFORM;
            else if (!strcmp(optarg, "zipfian"))
                o->dist = DK_DIST_ZIPFIAN;
            else {
                fprintf(stderr, "dk_bench: --dist %s: expected uniform or zipfian\n", optarg);
                return -EINVAL;
            }
            continue;
        case 'V': o->verbose = 1; continue;
        case 'h': usage(stdout); exit(0);
        case '?': usage(stderr); return -EINVAL;
        default: break;
        }
        if (parse_u64(name, optarg, &v))
            return -EINVAL;
        if ((v > UINT32_MAX && strchr("vktBN", c)) || (v > 100 && strchr("RA", c))) {
            fprintf(stderr, "dk_bench: --%s %s: too large\n", name, optarg);
            return -EINVAL;
        }
        switch (c) {
        case 'n': o->num = v; break;
        case 'r': o->reads = v; break;
        case 'v': o->value_size = (uint32_t)v; break;
        case 'k': o->key_size = (uint32_t)v; break;
        case 's': o->sync = v != 0; break;
        case 't': o->threads = (uint32_t)v; break;
        case 'c': o->cache_size = v; break;
        case 'm': o->memtable_size = v; break;
        case 'B': o->bloom_bits = (uint32_t)v; break;
        case 'S': o->seed = v; break;
        case 'u': o->use_existing = v != 0; break;
        case 'N': o->seek_nexts = (uint32_t)v; break;
        case 'w': o->write_rate = v; break;
        case 'f': o->final_compact = v != 0; break;
        case 'K': o->seeks = v; break;
        case 'R': o->read_pct = (uint32_t)v; break;
        case 'A': o->scan_pct = (uint32_t)v; break;
        case 'T': o->ttl_ms = v; break;
        case 'L': o->timeline_ms = v; break;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "dk_bench: unexpected argument '%s'\n", argv[optind]);
        return -EINVAL;
    }
    if (!o->engine) {
        fprintf(stderr, "dk_bench: --engine is required\n");
        return -EINVAL;
    }
    if (o->num == 0 || o->num > UINT32_MAX || o->key_size < 24 || o->key_size > DK_KEY_MAX ||
        o->value_size > DK_VALUE_MAX || o->threads == 0 || o->threads > DK_BENCH_MAX_THREADS) {
        fprintf(stderr,
                "dk_bench: need 1 <= num < 2^32, 24 <= key-size <= %u, value-size <= %u,"
                " 1 <= threads <= %d\n",
                DK_KEY_MAX, DK_VALUE_MAX, DK_BENCH_MAX_THREADS);
        return -EINVAL;
    }
    if (!o->reads)
        o->reads = o->num;
    if (!o->seeks)
        o->seeks = o->reads;
    o->n_list = parse_list(o->benchmarks, o->list, DK_BENCH_MAX_LIST);
    if (o->n_list < 0)
        return -EINVAL;
    if (o->read_pct == 101) { /* not given: 50, or 10 for timeseries without mixed */
        int ts = 0, mixed = 0;
        for (int i = 0; i < o->n_list; i++) {
            ts |= o->list[i] == DK_BK_TIMESERIES;
            mixed |= o->list[i] == DK_BK_MIXED;
        }
        o->read_pct = ts && !mixed ? 10 : 50;
    }
    if (o->read_pct + o->scan_pct > 100) {
        fprintf(stderr, "dk_bench: --read-pct plus --scan-pct exceed 100\n");
        return -EINVAL;
    }
    return 0;
}
