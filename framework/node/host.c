/*
 * host.c - dk_host for plugins loaded into a node. Each plugin gets its own
 * dk_host (same functions, its own ctx) so log lines say which plugin
 * wrote them and a bad option is reported against the plugin's own
 * section.
 *
 * Options are parsed here, not in the plugin: the plugin hands over a
 * table (dk_option) and dk_config_plugin_options applies the node's own
 * parsers, so "64MiB", "10m" and "yes" mean the same in every section and
 * every error carries the file and line. The alternative, handing plugins
 * raw key/value pairs, would give each plugin its own number syntax and
 * its own way to forget the line number.
 *
 * A codec opened through codec_open gets a dk_host of its own too (section
 * "codec.<name>"), allocated with the ref and freed by codec_close; its
 * configuration errors are passed up to the plugin that asked for it,
 * which is what the node reports.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node/host.h"
#include "base/log.h"
#include "base/metrics.h"
#include "node/object.h"
#include "util/errors.h"
#include "util/vv.h"
#include "dynkv/codec.h"

int64_t dk_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t dk_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void host_log(const dk_host *h, int level, const char *fmt, ...)
{
    const dk_host_ctx *ctx = h->ctx;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    dk_log(level, "%s: %s", ctx && ctx->log_prefix ? ctx->log_prefix : "plugin", line);
}

static void *host_alloc(const dk_host *h, size_t n)
{
    return malloc(n);
}
static void *host_realloc(const dk_host *h, void *p, size_t n)
{
    return realloc(p, n);
}
static void host_free(const dk_host *h, void *p)
{
    free(p);
}
static int64_t host_now_ms(const dk_host *h)
{
    return dk_now_ms();
}
static uint64_t host_mono_ns(const dk_host *h)
{
    return dk_mono_ns();
}

/* Compaction thread. gc_grace first (O(1) on the header), then the repair
 * rule on the same header's newest write time. */
static int host_record_filter(const dk_host *h, dk_slice key, dk_slice value, int64_t now_ms)
{
    const dk_host_ctx *ctx = h->ctx;
    if (dk_object_record_filter(value, now_ms, ctx ? ctx->gc_grace_ms : INT64_MAX / 2) != DK_RECORD_DROP)
        return DK_RECORD_KEEP;
    if (ctx && ctx->repaired_before_ms) {
        dk_object_header hd;
        int64_t before = atomic_load_explicit(ctx->repaired_before_ms, memory_order_acquire);
        if (dk_object_peek(value, &hd) != 0 || hd.newest_write_ms >= before) {
            dk_metrics_add("tombstones_kept_unrepaired_total", 1);
            return DK_RECORD_KEEP;
        }
    }
    dk_metrics_add("tombstones_purged_total", 1);
    return DK_RECORD_DROP;
}

static int host_record_time(const dk_host *h, dk_slice value, int64_t *write_ms, int64_t *expiry_ms)
{
    return dk_object_record_time(value, write_ms, expiry_ms);
}

static void host_metric_add(const dk_host *h, const char *name, uint64_t delta)
{
    dk_metrics_add(name, delta);
}

static const char *host_strerror(const dk_host *h, int err)
{
    return dk_strerror(err);
}
static const char *host_err_name(const dk_host *h, int err)
{
    return dk_err_name(err);
}

static int host_options(const dk_host *h, const dk_option *spec, size_t n, void *out)
{
    dk_host_ctx *ctx = h->ctx;
    static const dk_config none;
    ctx->options_read = 1;
    char err[sizeof ctx->err];
    int rc =
        dk_config_plugin_options(ctx->cfg ? ctx->cfg : &none, ctx->section, spec, n, out, err, sizeof err);
    if (rc && !ctx->err[0])
        snprintf(ctx->err, sizeof ctx->err, "%s", err);
    if (rc == DK_EBADPLUGIN)
        host_log(h, DK_LOG_ERROR, "%s", err);
    return rc;
}

static void host_conf_error(const dk_host *h, const char *key, const char *fmt, ...)
{
    dk_host_ctx *ctx = h->ctx;
    char why[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (ctx->err[0])
        return;
    const dk_config_popt *o = key && ctx->cfg ? dk_config_popt_find(ctx->cfg, ctx->section, key) : NULL;
    if (o) {
        dk_config_popt_describe(ctx->cfg, o, why, ctx->err, sizeof ctx->err);
    } else {
        const char *where = ctx->cfg && ctx->cfg->path[0] ? ctx->cfg->path : "configuration";
        if (key)
            snprintf(ctx->err, sizeof ctx->err, "%.300s: [%s] %.64s: %.500s", where, ctx->section, key, why);
        else
            snprintf(ctx->err, sizeof ctx->err, "%.300s: [%s]: %.500s", where, ctx->section, why);
    }
}

/* What codec_open allocates next to the codec: the codec's own host. */
typedef struct host_codec {
    dk_host host;
    dk_host_ctx ctx;
    char prefix[DK_CONFIG_NAME_MAX + 8]; /* "codec zstd" for its log lines */
} host_codec;

static int host_codec_open(const dk_host *h, const char *name, int level, dk_codec_ref *out)
{
    dk_host_ctx *ctx = h->ctx;
    char err[1024];
    memset(out, 0, sizeof *out);
    if (!ctx->plugins) {
        host_log(h, DK_LOG_ERROR, "codec '%s': this host loads no codec plugins", name ? name : "(null)");
        return -ENOENT;
    }
    const dk_loaded_plugin *p = NULL;
    int rc = dk_plugin_load(ctx->plugins, DK_PLUGIN_CODEC, name, &p, err, sizeof err);
    if (rc) {
        host_log(h, DK_LOG_ERROR, "codec '%s': %s", name ? name : "(null)", err);
        return rc;
    }
    if (ctx->on_codec)
        ctx->on_codec(ctx->hook_arg, p);
    const dk_codec_ops *ops = p->ops;
    if (level != 0 && (level < ops->level_min || level > ops->level_max)) {
        host_log(h, DK_LOG_ERROR, "codec '%s' takes levels %d..%d (0 = its default, %d), not %d", p->name,
                 (int)ops->level_min, (int)ops->level_max, (int)ops->level_default, level);
        return DK_ECONFIG;
    }
    host_codec *hc = calloc(1, sizeof *hc);
    if (!hc)
        return -ENOMEM;
    snprintf(hc->prefix, sizeof hc->prefix, "codec %s", p->name);
    hc->ctx.gc_grace_ms = ctx->gc_grace_ms;
    hc->ctx.log_prefix = hc->prefix;
    dk_host_ctx_set(&hc->ctx, ctx->cfg, "codec", p->name, ctx->plugins);
    dk_host_init(&hc->host, &hc->ctx);
    dk_codec_conf conf = {.struct_size = sizeof conf, .level = level};
    dk_codec *c = NULL;
    rc = ops->open(&hc->host, &conf, &c);
    if (rc == 0 && !c)
        rc = DK_EBADPLUGIN;
    if (rc == 0)
        rc = dk_host_ctx_check(&hc->ctx, "codec plugin", err, sizeof err);
    else if (hc->ctx.err[0])
        snprintf(err, sizeof err, "%s", hc->ctx.err);
    else
        err[0] = '\0';
    if (rc) {
        if (c)
            ops->close(c);
        if (err[0] && !ctx->err[0])
            snprintf(ctx->err, sizeof ctx->err, "%s", err);
        host_log(h, DK_LOG_ERROR, "codec '%s' failed to open: %s", p->name, err[0] ? err : dk_strerror(rc));
        free(hc);
        return rc;
    }
    out->ops = ops;
    out->codec = c;
    out->name = p->name;
    out->id = ops->id;
    out->priv = hc;
    return 0;
}

static void host_codec_close(const dk_host *h, dk_codec_ref *ref)
{
    if (!ref || !ref->codec)
        return;
    ref->ops->close(ref->codec);
    free(ref->priv);
    memset(ref, 0, sizeof *ref);
}

void dk_host_init(dk_host *h, dk_host_ctx *ctx)
{
    *h = (dk_host){
        .struct_size = sizeof(dk_host),
        .ctx = ctx,
        .log = host_log,
        .alloc = host_alloc,
        .realloc = host_realloc,
        .free = host_free,
        .now_ms = host_now_ms,
        .mono_ns = host_mono_ns,
        .record_filter = host_record_filter,
        .record_time = host_record_time,
        .metric_add = host_metric_add,
        .strerror = host_strerror,
        .err_name = host_err_name,
        .options = host_options,
        .conf_error = host_conf_error,
        .object = &dk__object_api,
        .codec_open = host_codec_open,
        .codec_close = host_codec_close,
    };
}

void dk_host_ctx_set(dk_host_ctx *ctx, const dk_config *cfg, const char *kind, const char *name,
                     dk_plugin_host *plugins)
{
    ctx->cfg = cfg;
    snprintf(ctx->section, sizeof ctx->section, "%s.%s", kind, name);
    ctx->plugins = plugins;
}

int dk_host_ctx_check(const dk_host_ctx *ctx, const char *plugin_desc, char *err, size_t errlen)
{
    if (ctx->err[0]) {
        snprintf(err, errlen, "%s", ctx->err);
        return DK_ECONFIG;
    }
    const dk_config_popt *o =
        ctx->cfg && !ctx->options_read ? dk_config_popt_first(ctx->cfg, ctx->section) : NULL;
    if (o) {
        char why[256];
        snprintf(why, sizeof why, "the %s takes no options (it does not read [%s])", plugin_desc,
                 ctx->section);
        dk_config_popt_describe(ctx->cfg, o, why, err, errlen);
        return DK_ECONFIG;
    }
    return 0;
}
