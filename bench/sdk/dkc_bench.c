/*
 * dkc_bench.c - libdynkv-client's routing against a fixed coordinator:
 * T threads, each with its own SDK handle, run a closed loop of PUT then
 * GET of VALUE-byte values over a key space of KEYS keys for SECS seconds,
 * either routed (each request to the key's first replica) or fixed (every
 * request to the first seed, which coordinates keys it does not hold with
 * one more hop). Prints one line: mode, operations, errors, ops/s, p50 and
 * p99 latency in ms over every request (exact: each latency is kept).
 *
 *   dkc_bench -m routed|fixed [-t T] [-d SECS] [-v VALUE] [-k KEYS] SEEDS
 *
 * bench/sdk/run-sdk.sh starts a cluster and alternates the two modes.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dynkv/client.h"

typedef struct worker {
    pthread_t th;
    const char *seeds;
    int fixed, id;
    double secs;
    size_t value, keys;
    double *lat;
    size_t n_lat, cap_lat;
    unsigned long errors;
    char err[256];
} worker;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void record(worker *w, double ms)
{
    if (w->n_lat == w->cap_lat) {
        size_t cap = w->cap_lat ? w->cap_lat * 2 : 65536;
        double *n = realloc(w->lat, cap * sizeof(*n));
        if (!n)
            return;
        w->lat = n;
        w->cap_lat = cap;
    }
    w->lat[w->n_lat++] = ms;
}

static void *run(void *arg)
{
    worker *w = arg;
    dkc_options o;
    dkc_options_init(&o);
    o.no_routing = w->fixed;
    o.consistency = getenv("DKC_CONSISTENCY");
    dkc *c;
    if (dkc_open(w->seeds, &o, &c) != 0) {
        snprintf(w->err, sizeof(w->err), "%s", dkc_errmsg(c));
        dkc_close(c);
        return NULL;
    }
    char *val = malloc(w->value);
    memset(val, 'a' + w->id % 26, w->value);
    unsigned seed = (unsigned)w->id * 7919u + 1;
    double end = now_s() + w->secs;
    char key[64];
    while (now_s() < end) {
        snprintf(key, sizeof(key), "bench-%zu", (size_t)rand_r(&seed) % w->keys);
        double t0 = now_s();
        if (dkc_put(c, key, val, w->value, NULL, NULL) != 0)
            w->errors++;
        double t1 = now_s();
        record(w, (t1 - t0) * 1e3);
        dkc_object *ob;
        int rc = dkc_get(c, key, &ob);
        if (rc == 0)
            dkc_object_free(ob);
        else
            w->errors++;
        record(w, (now_s() - t1) * 1e3);
    }
    free(val);
    dkc_close(c);
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int threads = 8, fixed = -1, opt;
    double secs = 5;
    size_t value = 1024, keys = 10000;
    while ((opt = getopt(argc, argv, "m:t:d:v:k:")) != -1) {
        switch (opt) {
        case 'm': fixed = strcmp(optarg, "fixed") == 0 ? 1 : strcmp(optarg, "routed") == 0 ? 0 : -1; break;
        case 't': threads = atoi(optarg); break;
        case 'd': secs = atof(optarg); break;
        case 'v': value = (size_t)atol(optarg); break;
        case 'k': keys = (size_t)atol(optarg); break;
        default: fixed = -2;
        }
    }
    if (fixed < 0 || optind != argc - 1 || threads < 1 || keys < 1) {
        fprintf(stderr, "usage: dkc_bench -m routed|fixed [-t T] [-d SECS] [-v VALUE] [-k KEYS] SEEDS\n");
        return 2;
    }
    worker *w = calloc((size_t)threads, sizeof(*w));
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        w[i] = (worker){
            .seeds = argv[optind], .fixed = fixed, .id = i, .secs = secs, .value = value, .keys = keys};
        pthread_create(&w[i].th, NULL, run, &w[i]);
    }
    size_t total = 0;
    unsigned long errors = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(w[i].th, NULL);
        if (w[i].err[0]) {
            fprintf(stderr, "dkc_bench: %s\n", w[i].err);
            return 1;
        }
        total += w[i].n_lat;
        errors += w[i].errors;
    }
    double elapsed = now_s() - t0;
    double *all = malloc((total ? total : 1) * sizeof(*all));
    size_t k = 0;
    for (int i = 0; i < threads; i++) {
        memcpy(all + k, w[i].lat, w[i].n_lat * sizeof(*all));
        k += w[i].n_lat;
        free(w[i].lat);
    }
    qsort(all, total, sizeof(*all), cmp_d);
    double p50 = total ? all[total / 2] : 0, p99 = total ? all[(size_t)((double)total * 0.99)] : 0;
    printf("mode=%s threads=%d ops=%zu errors=%lu ops_s=%.0f p50_ms=%.3f p99_ms=%.3f\n",
           fixed ? "fixed" : "routed", threads, total, errors, (double)total / elapsed, p50, p99);
    free(all);
    free(w);
    return 0;
}
