/*
 * fake_host.c - the dk_host used by plugin unit tests; see fake_host.h.
 * The table is a fixed array searched linearly: tests add a handful of
 * metrics, and a fixed size needs no cleanup on the failure paths. The
 * node's host (framework/node/host.c) provides everything but logging,
 * allocation, clocks, the record callbacks and metrics, so plugins meet
 * the same option parser and codec loader in their tests as in dynkvd.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake_host.h"

static dk_fake_host *fh_of(const dk_host *h)
{
    return (dk_fake_host *)h; /* host is the first member */
}

static void fh_log(const dk_host *h, int level, const char *fmt, ...) DK_PRINTF(3, 4);
static void fh_log(const dk_host *h, int level, const char *fmt, ...)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    dk_fake_host *fh = fh_of(h);
    char msg[DK_FAKE_HOST_MSG];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&fh->lock);
    memcpy(fh->last, msg, sizeof(msg));
    fh->last_level = level;
    fh->n_logs++;
    fprintf(stderr, "[plugin %s] %s\n", level >= 0 && level <= DK_LOG_DEBUG ? names[level] : "?", msg);
    pthread_mutex_unlock(&fh->lock);
}

static void *fh_alloc(const dk_host *h, size_t n)
{
    return malloc(n);
}
static void *fh_realloc(const dk_host *h, void *p, size_t n)
{
    return realloc(p, n);
}
static void fh_free(const dk_host *h, void *p)
{
    free(p);
}

static int64_t fh_now_ms(const dk_host *h)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t fh_mono_ns(const dk_host *h)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int fh_record_filter(const dk_host *h, dk_slice key, dk_slice value, int64_t now_ms)
{
    return DK_RECORD_KEEP;
}

static int fh_record_time(const dk_host *h, dk_slice value, int64_t *write_time_ms, int64_t *max_expiry_ms)
{
    *write_time_ms = 0;
    *max_expiry_ms = 0;
    return 0;
}

static void fh_metric_add(const dk_host *h, const char *name, uint64_t delta)
{
    dk_fake_host *fh = fh_of(h);
    pthread_mutex_lock(&fh->lock);
    size_t i;
    for (i = 0; i < fh->n_metrics; i++)
        if (strcmp(fh->metrics[i].name, name) == 0)
            break;
    if (i == fh->n_metrics) {
        if (i == DK_FAKE_HOST_METRICS || strlen(name) >= sizeof(fh->metrics[i].name)) {
            fh->metrics_dropped++;
            pthread_mutex_unlock(&fh->lock);
            return;
        }
        snprintf(fh->metrics[i].name, sizeof(fh->metrics[i].name), "%s", name);
        fh->metrics[i].value = 0;
        fh->n_metrics++;
    }
    fh->metrics[i].value += delta;
    pthread_mutex_unlock(&fh->lock);
}

void dk_fake_host_init(dk_fake_host *fh)
{
    memset(fh, 0, sizeof(*fh));
    pthread_mutex_init(&fh->lock, NULL);
    fh->last_level = -1;
    dk_config_defaults(&fh->cfg);
    char dir[4096], err[512];
    if (dk_plugin_default_dir(dir, sizeof dir) != 0 ||
        dk_plugin_host_new(dir, &fh->plugins, err, sizeof err) != 0)
        fh->plugins = NULL;
    fh->ctx.log_prefix = "fake";
    dk_host_ctx_set(&fh->ctx, &fh->cfg, "engine", "fake", fh->plugins);
    dk_host_init(&fh->host, &fh->ctx);
    /* The fake's own: fh_of() finds fh from &fh->host, whatever ctx is. */
    fh->host.log = fh_log;
    fh->host.alloc = fh_alloc;
    fh->host.realloc = fh_realloc;
    fh->host.free = fh_free;
    fh->host.now_ms = fh_now_ms;
    fh->host.mono_ns = fh_mono_ns;
    fh->host.record_filter = fh_record_filter;
    fh->host.record_time = fh_record_time;
    fh->host.metric_add = fh_metric_add;
}

void dk_fake_host_destroy(dk_fake_host *fh)
{
    dk_plugin_host_free(fh->plugins);
    fh->plugins = NULL;
    dk_config_free(&fh->cfg);
    pthread_mutex_destroy(&fh->lock);
}

int dk_fake_host_set_option(dk_fake_host *fh, const char *key, const char *value)
{
    char err[512];
    int rc = dk_config_set(&fh->cfg, "engine.fake", key, value, err, sizeof err);
    if (rc)
        fprintf(stderr, "fake host: %s\n", err);
    return rc;
}

const char *dk_fake_host_conf_error(const dk_fake_host *fh)
{
    return fh->ctx.err;
}

int dk_fake_host_last_log(dk_fake_host *fh, char *buf, size_t len)
{
    pthread_mutex_lock(&fh->lock);
    int level = fh->last_level;
    if (len)
        snprintf(buf, len, "%s", fh->last);
    pthread_mutex_unlock(&fh->lock);
    return level;
}

uint64_t dk_fake_host_log_count(dk_fake_host *fh)
{
    pthread_mutex_lock(&fh->lock);
    uint64_t n = fh->n_logs;
    pthread_mutex_unlock(&fh->lock);
    return n;
}

uint64_t dk_fake_host_metric(dk_fake_host *fh, const char *name)
{
    uint64_t v = 0;
    pthread_mutex_lock(&fh->lock);
    for (size_t i = 0; i < fh->n_metrics; i++)
        if (strcmp(fh->metrics[i].name, name) == 0)
            v = fh->metrics[i].value;
    pthread_mutex_unlock(&fh->lock);
    return v;
}

void dk_fake_host_reset(dk_fake_host *fh)
{
    pthread_mutex_lock(&fh->lock);
    fh->last[0] = '\0';
    fh->last_level = -1;
    fh->n_logs = 0;
    fh->n_metrics = 0;
    fh->metrics_dropped = 0;
    dk_config_free(&fh->cfg);
    fh->ctx.err[0] = '\0';
    fh->ctx.options_read = 0;
    pthread_mutex_unlock(&fh->lock);
}
